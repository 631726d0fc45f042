package meta

import (
	"testing"

	"haul/core"
)

func TestTeamspaceCRUD(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	t1, t2 := core.NewID(), core.NewID()
	mk := func(team, name string) *core.Teamspace {
		return &core.Teamspace{ID: core.NewID(), TeamID: team, Name: name,
			MemberIDs: []string{core.NewID(), core.NewID()}, CreatedAt: when, UpdatedAt: when}
	}
	a, b := mk(t1, "design"), mk(t1, "video")
	update(t, db, func(tx core.Tx) error {
		if err := tx.PutTeamspace(b); err != nil {
			return err
		}
		return tx.PutTeamspace(a)
	})
	view(t, db, func(tx core.Tx) error {
		got, err := tx.Teamspace(a.ID)
		if err != nil {
			return err
		}
		wantEqual(t, got, a)
		list, err := tx.TeamTeamspaces(t1)
		if err != nil {
			return err
		}
		wantEqual(t, list, []*core.Teamspace{a, b})
		return nil
	})

	b.TeamID, b.MemberIDs = t2, nil
	update(t, db, func(tx core.Tx) error { return tx.PutTeamspace(b) })
	update(t, db, func(tx core.Tx) error { return tx.DeleteTeamspace(a.ID) })
	view(t, db, func(tx core.Tx) error {
		_, err := tx.Teamspace(a.ID)
		wantKind(t, err, core.NotFound)
		list, err := tx.TeamTeamspaces(t1)
		if err != nil {
			return err
		}
		if len(list) != 0 {
			t.Errorf("TeamTeamspaces(t1) = %v, want none", list)
		}
		list, err = tx.TeamTeamspaces(t2)
		if err != nil {
			return err
		}
		wantEqual(t, list, []*core.Teamspace{b})
		return nil
	})
	wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.DeleteTeamspace(a.ID) }), core.NotFound)
}
