package meta

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"haul/core"
)

// migration is one step of the schema. up runs in the same transaction that
// records version, so a step is applied entirely or not at all.
type migration struct {
	version int
	name    string
	up      func(*badger.Txn) error
}

// migrations are the steps of the schema, in order; migration i has version
// i+1. Append only: a released step is never edited, renumbered or removed.
var migrations = [...]migration{
	{version: 1, name: "initial layout", up: func(*badger.Txn) error { return nil }},
	{version: 2, name: "unique teamspace names", up: indexTeamspaceNames},
	{version: 3, name: "block keys for teams", up: addTeamBlockKeys},
	// Nothing to rewrite: block entries may now be written in codec
	// version 2 (with the block's CRC-32), which older binaries cannot
	// read, so the version says so.
	{version: 4, name: "block CRC-32 in the block index", up: func(*badger.Txn) error { return nil }},
}

// SchemaVersion is the newest schema version this binary reads and writes.
const SchemaVersion = len(migrations)

var schemaKey = key("sys", "schema")

// SchemaVersion returns the schema version stored in the data directory:
// after a successful Open, the package's SchemaVersion.
func (db *DB) SchemaVersion() (int, error) {
	var v int
	err := db.bdb.View(func(txn *badger.Txn) error {
		var err error
		v, err = schemaVersion(txn)
		return err
	})
	return v, core.Wrap("meta.SchemaVersion", err)
}

// schemaVersion reads the stored version; a directory without one is at 0.
func schemaVersion(txn *badger.Txn) (int, error) {
	item, err := txn.Get(schemaKey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		return 0, err
	}
	var v int
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", schemaKey, err)
	}
	return v, nil
}

// putSchemaVersion records v as the stored version. Besides migrate, tests
// use it to fake a directory written by another release.
func putSchemaVersion(txn *badger.Txn, v int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set(schemaKey, b)
}

// migrate applies the steps of ms that the directory has not seen, in
// order, and refuses a directory newer than ms.
func (db *DB) migrate(ms []migration) error {
	for i, m := range ms {
		if m.version != i+1 {
			return fmt.Errorf("meta: migration %q has version %d, want %d", m.name, m.version, i+1)
		}
	}
	have, err := db.SchemaVersion()
	if err != nil {
		return err
	}
	switch {
	case have < 0:
		return fmt.Errorf("data directory %s has an invalid schema version %d", db.dir, have)
	case have > len(ms):
		return fmt.Errorf("data directory %s has schema version %d, but this haul binary supports up to %d: "+
			"run a haul release that supports schema %d or newer", db.dir, have, len(ms), have)
	}
	for _, m := range ms[have:] {
		err := db.bdb.Update(func(txn *badger.Txn) error {
			if err := m.up(txn); err != nil {
				return err
			}
			return putSchemaVersion(txn, m.version)
		})
		if err != nil {
			return fmt.Errorf("meta: data directory %s: migration %d (%s): %w", db.dir, m.version, m.name, err)
		}
		db.log.Info("applied schema migration", "dir", db.dir, "version", m.version, "name", m.name)
	}
	return nil
}

// indexTeamspaceNames (migration 2) writes the space_name entry of every
// teamspace. Before it, concurrent creates could give two teamspaces of a
// team the same name (whatever the case): of such a pair the older keeps
// the name and the newer is renamed "<name> (2)", "<name> (3)"..., so that
// every name is unique as the entry requires.
func indexTeamspaceNames(txn *badger.Txn) error {
	const op = "meta.migrate"
	t := &tx{txn: txn}
	var spaces []*core.Teamspace
	err := each(t, op, prefix("space"), func(s *core.Teamspace) bool {
		spaces = append(spaces, s)
		return true
	})
	if err != nil {
		return err
	}
	for _, s := range spaces { // id order: oldest first
		if s.Name == "" {
			continue // no entry, as teamspaceEntries
		}
		name := s.Name
		for i := 2; ; i++ {
			owner, taken, err := t.lookup(op, spaceNameKey(s.TeamID, name))
			if err != nil {
				return err
			}
			if !taken || owner == s.ID {
				break
			}
			name = fmt.Sprintf("%s (%d)", s.Name, i)
		}
		if name != s.Name {
			s.Name = name
			b, err := json.Marshal(s)
			if err != nil {
				return err
			}
			if err := txn.Set(key("space", s.ID), b); err != nil {
				return err
			}
		}
		if err := txn.Set(spaceNameKey(s.TeamID, name), []byte(s.ID)); err != nil {
			return err
		}
	}
	return nil
}

// addTeamBlockKeys (migration 3) gives every team without one the random
// key that scopes its block addresses in the chunk store.
func addTeamBlockKeys(txn *badger.Txn) error {
	p := prefix("team")
	opts := badger.DefaultIteratorOptions
	opts.Prefix = p
	it := txn.NewIterator(opts)
	var teams []*core.Team
	for it.Seek(p); it.Valid(); it.Next() {
		b, err := it.Item().ValueCopy(nil)
		if err != nil {
			it.Close()
			return err
		}
		var t core.Team
		if err := json.Unmarshal(b, &t); err != nil {
			it.Close()
			return fmt.Errorf("decode %s: %w", it.Item().Key(), err)
		}
		if t.BlockKey.IsZero() {
			teams = append(teams, &t)
		}
	}
	it.Close()
	for _, t := range teams {
		t.BlockKey = core.NewBlockKey()
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		if err := txn.Set(key("team", t.ID), b); err != nil {
			return err
		}
	}
	return nil
}
