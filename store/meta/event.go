package meta

import (
	"errors"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"haul/core"
)

// systemEvents is the key part that stands for the team of system events
// (core.SystemEvents). Team ids are ULIDs, so it names no team.
const systemEvents = "_system"

// eventTeam returns the key part of an event's team.
func eventTeam(op, teamID string) (string, error) {
	if teamID == core.SystemEvents {
		return systemEvents, nil
	}
	return teamID, checkID(op, "team_id", teamID)
}

// AddEvent appends an event. Events are never replaced: an id already
// stored is refused with Exists. An event without a team is a system event.
func (t *tx) AddEvent(e *core.Event) error {
	const op = "meta.AddEvent"
	if err := checkID(op, "id", e.ID); err != nil {
		return err
	}
	team, err := eventTeam(op, e.TeamID)
	if err != nil {
		return err
	}
	k := key("ev", team, e.ID)
	switch _, err := t.txn.Get(k); {
	case err == nil:
		return core.E(op, core.Exists, "event already exists")
	case !errors.Is(err, badger.ErrKeyNotFound):
		return core.Wrap(op, err)
	}
	return t.put(op, k, e, e.ID, nil, nil)
}

// Events scans the team's events from the newest (from the oldest with
// q.OldestFirst). It counts every match, but decodes a whole event only for
// those on the page; without a type filter the scan reads keys only.
func (t *tx) Events(q core.EventQuery) ([]*core.Event, int, error) {
	const op = "meta.Events"
	team, err := eventTeam(op, q.TeamID)
	if err != nil {
		return nil, 0, err
	}
	if q.Offset < 0 {
		return nil, 0, core.Invalidf(op, "offset", "offset is negative")
	}
	if q.Limit < 0 {
		return nil, 0, core.Invalidf(op, "limit", "limit is negative")
	}
	p := prefix("ev", team)
	it := t.iterator(p, !q.OldestFirst, false)
	defer it.Close()
	var (
		page  []*core.Event
		total int
	)
	start := p
	if !q.OldestFirst {
		start = slices.Concat(p, []byte{0xff})
	}
	for it.Seek(start); it.Valid(); it.Next() {
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
