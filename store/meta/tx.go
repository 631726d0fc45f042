package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"haul/core"
)

// tx is one Badger transaction seen as a core.Tx. Badger answers reads from
// the transaction's own pending writes first, so a tx sees what it wrote.
type tx struct {
	txn *badger.Txn
}

// key builds a key from its parts, joined with "/".
func key(parts ...string) []byte {
	return []byte(strings.Join(parts, "/"))
}

// prefix builds the prefix of every key that continues parts.
func prefix(parts ...string) []byte {
	return append(key(parts...), '/')
}

// entry is one index entry of a record. A unique entry (taken != "") names
// the record in its value and belongs to one record only; taken is the
// message of the Exists error when another record holds it. A list entry
// ends in the record's id and has an empty value.
type entry struct {
	key   []byte
	val   string
	taken string
}

// checkID refuses an id that cannot be a part of a key.
func checkID(op, field, id string) error {
	if id == "" {
		return core.Invalidf(op, field, "%s is empty", field)
	}
	if strings.Contains(id, "/") {
		return core.Invalidf(op, field, "%s contains a slash", field)
	}
	return nil
}

func notFound(op, what string) error {
	return core.E(op, core.NotFound, "%s not found", what)
}

// read decodes the value at k into v and reports whether k exists.
func (t *tx) read(op string, k []byte, v any) (bool, error) {
	item, err := t.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, core.Wrap(op, err)
	}
	return true, decode(op, item, v)
}

// decode copies the value of item out of the transaction and decodes it.
func decode(op string, item *badger.Item, v any) error {
	b, err := item.ValueCopy(nil)
	if err != nil {
		return core.Wrap(op, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return core.Wrap(op, fmt.Errorf("decode %s: %w", item.Key(), err))
	}
	return nil
}

// get returns the record at k, or NotFound "<what> not found".
func get[T any](t *tx, op, what string, k []byte) (*T, error) {
	v := new(T)
	ok, err := t.read(op, k, v)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound(op, what)
	}
	return v, nil
}

// prev returns the stored record at k that a Put is about to replace, or
// nil when there is none.
func prev[T any](t *tx, op string, k []byte) (*T, error) {
	v := new(T)
	ok, err := t.read(op, k, v)
	if err != nil || !ok {
		return nil, err
	}
	return v, nil
}

// lookup returns the id held by the unique index entry k, and whether k
// exists.
func (t *tx) lookup(op string, k []byte) (string, bool, error) {
	item, err := t.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, core.Wrap(op, err)
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		return "", false, core.Wrap(op, err)
	}
	return string(b), true, nil
}

// byIndex returns the record that the unique index entry k names.
func byIndex[T any](t *tx, op, what string, k []byte, recordKind string) (*T, error) {
	id, ok, err := t.lookup(op, k)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound(op, what)
	}
	return get[T](t, op, what, key(recordKind, id))
}

// put stores v at k, moving its index entries from old to now. It checks
// every unique entry before it writes anything, so a refused Put leaves the
// transaction as it was.
func (t *tx) put(op string, k []byte, v any, id string, old, now []entry) error {
	for _, e := range now {
		if e.taken == "" || slices.ContainsFunc(old, e.equal) {
			continue
		}
		owner, ok, err := t.lookup(op, e.key)
		if err != nil {
			return err
		}
		if ok && owner != id {
			return core.E(op, core.Exists, "%s", e.taken)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return core.Wrap(op, err)
	}
	for _, e := range old {
		if !slices.ContainsFunc(now, e.sameKey) {
			if err := t.txn.Delete(e.key); err != nil {
				return core.Wrap(op, err)
			}
		}
	}
	for _, e := range now {
		if !slices.ContainsFunc(old, e.equal) {
			if err := t.txn.Set(e.key, []byte(e.val)); err != nil {
				return core.Wrap(op, err)
			}
		}
	}
	return core.Wrap(op, t.txn.Set(k, b))
}

func (e entry) sameKey(o entry) bool { return bytes.Equal(e.key, o.key) }
func (e entry) equal(o entry) bool   { return e.sameKey(o) && e.val == o.val }

// remove deletes the record at k and its index entries.
func (t *tx) remove(op string, k []byte, entries []entry) error {
	for _, e := range entries {
		if err := t.txn.Delete(e.key); err != nil {
			return core.Wrap(op, err)
		}
	}
	return core.Wrap(op, t.txn.Delete(k))
}

// iterator opens a prefix iterator. Without values it is key-only: values
// are read, if at all, one item at a time.
func (t *tx) iterator(p []byte, reverse, values bool) *badger.Iterator {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = p
	opts.PrefetchValues = values
	opts.Reverse = reverse
	return t.txn.NewIterator(opts)
}

// each calls fn for every record under prefix p, in key order, until fn
// returns false.
func each[T any](t *tx, op string, p []byte, fn func(*T) bool) error {
	it := t.iterator(p, false, true)
	defer it.Close()
	for it.Seek(p); it.Valid(); it.Next() {
		v := new(T)
		if err := decode(op, it.Item(), v); err != nil {
			return err
		}
		if !fn(v) {
			return nil
		}
	}
	return nil
}

// listed returns the ids at the end of the list entries under prefix p, in
// id order, with a key-only scan.
func (t *tx) listed(p []byte) []string {
	it := t.iterator(p, false, false)
	defer it.Close()
	var ids []string
	for it.Seek(p); it.Valid(); it.Next() {
		ids = append(ids, string(it.Item().Key()[len(p):]))
	}
	return ids
}

// indexed returns the ids held by the unique entries under prefix p, in key
// order.
func (t *tx) indexed(op string, p []byte) ([]string, error) {
	it := t.iterator(p, false, false)
	defer it.Close()
	var ids []string
	for it.Seek(p); it.Valid(); it.Next() {
		b, err := it.Item().ValueCopy(nil)
		if err != nil {
			return nil, core.Wrap(op, err)
		}
		ids = append(ids, string(b))
	}
	return ids, nil
}

// count returns how many keys start with p, with a key-only scan.
func (t *tx) count(p []byte) int {
	it := t.iterator(p, false, false)
	defer it.Close()
	n := 0
	for it.Seek(p); it.Valid(); it.Next() {
		n++
	}
	return n
}

// records loads the records of kind with the given ids.
func records[T any](t *tx, op, what, kind string, ids []string) ([]*T, error) {
	out := make([]*T, 0, len(ids))
	for _, id := range ids {
		v, err := get[T](t, op, what, key(kind, id))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
