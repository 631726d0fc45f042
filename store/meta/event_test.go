package meta

import (
	"testing"
	"time"

	"haul/core"
)

func TestEvents(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	team, other := core.NewID(), core.NewID()
	types := []string{core.EvLoginSucceeded, core.EvLoginFailed, core.EvTeamUpdated}
	// evs[i] is the i-th event of team, oldest first; its type cycles.
	var evs []*core.Event
	update(t, db, func(tx core.Tx) error {
		for i := range 10 {
			e := &core.Event{ID: core.NewID(), TeamID: team, Type: types[i%3], ActorUserID: core.NewID(),
				ActorEmail: "ada@example.com", Via: "session", ClientIP: "192.0.2.1",
				CreatedAt: when.Add(time.Duration(i) * time.Second)}
			if i == 0 {
				e.Details = map[string]string{"reason": "first"}
			}
			evs = append(evs, e)
			if err := tx.AddEvent(e); err != nil {
				return err
			}
			if err := tx.AddEvent(&core.Event{ID: core.NewID(), TeamID: other, Type: types[0]}); err != nil {
				return err
			}
		}
		return nil
	})

	// newest returns the events of team at the given indexes of evs.
	pick := func(idx ...int) []*core.Event {
		var out []*core.Event
		for _, i := range idx {
			out = append(out, evs[i])
		}
		return out
	}
	tests := []struct {
		name      string
		q         core.EventQuery
		want      []*core.Event
		wantTotal int
	}{
		{"all", core.EventQuery{TeamID: team}, pick(9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 10},
		{"first page", core.EventQuery{TeamID: team, Limit: 3}, pick(9, 8, 7), 10},
		{"second page", core.EventQuery{TeamID: team, Offset: 3, Limit: 3}, pick(6, 5, 4), 10},
		{"last short page", core.EventQuery{TeamID: team, Offset: 9, Limit: 3}, pick(0), 10},
		{"past the end", core.EventQuery{TeamID: team, Offset: 10, Limit: 3}, nil, 10},
		{"offset without limit", core.EventQuery{TeamID: team, Offset: 7}, pick(2, 1, 0), 10},
		{"one type", core.EventQuery{TeamID: team, Types: []string{core.EvLoginSucceeded}}, pick(9, 6, 3, 0), 4},
		{"one type paged", core.EventQuery{TeamID: team, Types: []string{core.EvLoginSucceeded}, Offset: 1, Limit: 2}, pick(6, 3), 4},
		{"two types", core.EventQuery{TeamID: team, Types: []string{core.EvLoginFailed, core.EvTeamUpdated}, Limit: 4}, pick(8, 7, 5, 4), 6},
		{"no such type", core.EventQuery{TeamID: team, Types: []string{core.EvLogout}}, nil, 0},
		{"empty team", core.EventQuery{TeamID: core.NewID()}, nil, 0},
		{"oldest first", core.EventQuery{TeamID: team, OldestFirst: true}, pick(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), 10},
		{"oldest first paged", core.EventQuery{TeamID: team, OldestFirst: true, Offset: 3, Limit: 3}, pick(3, 4, 5), 10},
		{"oldest first one type", core.EventQuery{TeamID: team, OldestFirst: true, Types: []string{core.EvLoginSucceeded}, Limit: 3}, pick(0, 3, 6), 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			view(t, db, func(tx core.Tx) error {
				got, total, err := tx.Events(tc.q)
				if err != nil {
					return err
				}
				if total != tc.wantTotal {
					t.Errorf("total = %d, want %d", total, tc.wantTotal)
				}
				wantEqual(t, got, tc.want)
				return nil
			})
		})
	}

	wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.AddEvent(evs[3]) }), core.Exists)

	// System events (no team) are kept apart from every team's.
	sys := &core.Event{ID: core.NewID(), TeamID: core.SystemEvents, Type: core.EvLoginFailed, ActorEmail: "nobody@example.com", CreatedAt: when}
	update(t, db, func(tx core.Tx) error { return tx.AddEvent(sys) })
	view(t, db, func(tx core.Tx) error {
		got, total, err := tx.Events(core.EventQuery{TeamID: core.SystemEvents})
		if err != nil {
			return err
		}
		if total != 1 {
			t.Errorf("system events: total %d, want 1", total)
		}
		wantEqual(t, got, []*core.Event{sys})
		_, total, err = tx.Events(core.EventQuery{TeamID: team})
		if total != 10 {
			t.Errorf("team events after a system event: total %d, want 10", total)
		}
		return err
	})
	wantKind(t, db.View(t.Context(), func(tx core.Tx) error {
		_, _, err := tx.Events(core.EventQuery{TeamID: team, Limit: -1})
		return err
	}), core.Invalid)
}
