package meta

import (
	"testing"

	"haul/core"
)

func TestTeamCRUD(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	a, b, c := newTeam("acme"), newTeam("bolt"), newTeam("")
	update(t, db, func(tx core.Tx) error {
		// Put out of id order: Teams still lists by id.
		for _, tm := range []*core.Team{c, a, b} {
			if err := tx.PutTeam(tm); err != nil {
				return err
			}
		}
		return nil
	})

	a.Name = "Acme Inc."
	a.CustomExpiryEnabled = true
	update(t, db, func(tx core.Tx) error { return tx.PutTeam(a) })

	view(t, db, func(tx core.Tx) error {
		got, err := tx.Team(a.ID)
		if err != nil {
			return err
		}
		wantEqual(t, got, a)

		var all []*core.Team
		if err := tx.Teams(func(tm *core.Team) bool { all = append(all, tm); return true }); err != nil {
			return err
		}
		wantEqual(t, all, []*core.Team{a, b, c})

		n := 0
		if err := tx.Teams(func(*core.Team) bool { n++; return n < 2 }); err != nil {
			return err
		}
		if n != 2 {
			t.Errorf("Teams called fn %d times after it returned false, want 2", n)
		}
		return nil
	})

	// A handed-out record is a copy.
	view(t, db, func(tx core.Tx) error {
		got, _ := tx.Team(b.ID)
		got.Name = "changed"
		again, err := tx.Team(b.ID)
		if err == nil && again.Name != b.Name {
			t.Errorf("changing a returned team changed the stored one")
		}
		return err
	})
}

func TestTeamSubdomainUnique(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		firstSub  string
		secondSub string
		wantKind  core.Kind // 0 = success
	}{
		{"different", "acme", "bolt", 0},
		{"same", "acme", "acme", core.Exists},
		{"same but case", "acme", "ACME", core.Exists},
		{"both empty", "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := openTest(t)
			update(t, db, func(tx core.Tx) error { return tx.PutTeam(newTeam(tc.firstSub)) })
			err := tryUpdate(db, func(tx core.Tx) error { return tx.PutTeam(newTeam(tc.secondSub)) })
			if tc.wantKind == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantKind(t, err, tc.wantKind)
		})
	}
}

func TestTeamSubdomainMoves(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	a := newTeam("acme")
	update(t, db, func(tx core.Tx) error { return tx.PutTeam(a) })

	// Re-putting the same subdomain, or changing only its case, is no clash.
	update(t, db, func(tx core.Tx) error { return tx.PutTeam(a) })
	a.Subdomain = "Acme"
	update(t, db, func(tx core.Tx) error { return tx.PutTeam(a) })
	wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.PutTeam(newTeam("acme")) }), core.Exists)

	// Moving frees the old subdomain and takes the new one.
	a.Subdomain = "acme2"
	update(t, db, func(tx core.Tx) error { return tx.PutTeam(a) })
	update(t, db, func(tx core.Tx) error { return tx.PutTeam(newTeam("acme")) })
	wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.PutTeam(newTeam("acme2")) }), core.Exists)

	// Clearing it frees it too.
	a.Subdomain = ""
	update(t, db, func(tx core.Tx) error { return tx.PutTeam(a) })
	update(t, db, func(tx core.Tx) error { return tx.PutTeam(newTeam("acme2")) })
}
