package meta

import (
	"errors"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"haul/core"
)

// AddEvent appends an event. Events are never replaced: an id already
// stored is refused with Exists.
func (t *tx) AddEvent(e *core.Event) error {
	const op = "meta.AddEvent"
	if err := checkID(op, "id", e.ID); err != nil {
		return err
	}
	if err := checkID(op, "team_id", e.TeamID); err != nil {
		return err
	}
	k := key("ev", e.TeamID, e.ID)
	switch _, err := t.txn.Get(k); {
	case err == nil:
		return core.E(op, core.Exists, "event already exists")
	case !errors.Is(err, badger.ErrKeyNotFound):
		return core.Wrap(op, err)
	}
	return t.put(op, k, e, e.ID, nil, nil)
}

// Events scans the team's events from the newest. It counts every match,
// but decodes a whole event only for those on the page; without a type
// filter the scan reads keys only.
func (t *tx) Events(q core.EventQuery) ([]*core.Event, int, error) {
	const op = "meta.Events"
	if err := checkID(op, "team_id", q.TeamID); err != nil {
		return nil, 0, err
	}
	if q.Offset < 0 {
		return nil, 0, core.Invalidf(op, "offset", "offset is negative")
	}
	if q.Limit < 0 {
		return nil, 0, core.Invalidf(op, "limit", "limit is negative")
	}
	p := prefix("ev", q.TeamID)
	it := t.iterator(p, true, false)
	defer it.Close()
	var (
		page  []*core.Event
		total int
	)
	for it.Seek(slices.Concat(p, []byte{0xff})); it.Valid(); it.Next() {
		item := it.Item()
		if len(q.Types) > 0 {
			var head struct {
				Type string `json:"type"`
			}
			if err := decode(op, item, &head); err != nil {
				return nil, 0, err
			}
			if !slices.Contains(q.Types, head.Type) {
				continue
			}
		}
		total++
		if total <= q.Offset || (q.Limit > 0 && len(page) == q.Limit) {
			continue
		}
		e := new(core.Event)
		if err := decode(op, item, e); err != nil {
			return nil, 0, err
		}
		page = append(page, e)
	}
	return page, total, nil
}
