package meta

import (
	"encoding/json"
	"testing"

	"github.com/dgraph-io/badger/v4"

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

// TestTeamspaceNamesUnique: a team's teamspace names are unique whatever
// their case (the space_name entry); other teams are not affected; a
// rename or a delete frees the name; a refused Put changes nothing.
func TestTeamspaceNamesUnique(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	t1, t2 := core.NewID(), core.NewID()
	mk := func(team, name string) *core.Teamspace {
		return &core.Teamspace{ID: core.NewID(), TeamID: team, Name: name, CreatedAt: when, UpdatedAt: when}
	}
	a := mk(t1, "Grading")
	update(t, db, func(tx core.Tx) error { return tx.PutTeamspace(a) })
	update(t, db, func(tx core.Tx) error { return tx.PutTeamspace(mk(t2, "Grading")) })

	dup := mk(t1, "GRADING")
	wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.PutTeamspace(dup) }), core.Exists)
	view(t, db, func(tx core.Tx) error {
		_, err := tx.Teamspace(dup.ID)
		wantKind(t, err, core.NotFound)
		list, err := tx.TeamTeamspaces(t1)
		if err != nil {
			return err
		}
		wantEqual(t, list, []*core.Teamspace{a})
		return nil
	})

	// Renaming a to another case of its own name is fine; renaming it
	// away frees "grading".
	a.Name = "grading"
	update(t, db, func(tx core.Tx) error { return tx.PutTeamspace(a) })
	a.Name = "Color"
	update(t, db, func(tx core.Tx) error { return tx.PutTeamspace(a) })
	update(t, db, func(tx core.Tx) error { return tx.PutTeamspace(dup) })
	wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.PutTeamspace(mk(t1, "color")) }), core.Exists)

	// Deleting frees the name.
	update(t, db, func(tx core.Tx) error { return tx.DeleteTeamspace(a.ID) })
	update(t, db, func(tx core.Tx) error { return tx.PutTeamspace(mk(t1, "COLOR")) })
}

// TestConcurrentTeamspaceNames: of concurrent Puts of one name in one team,
// exactly one commits; the others conflict, run again and see the name
// taken.
func TestConcurrentTeamspaceNames(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	team := core.NewID()
	const n = 8
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			errs <- tryUpdate(db, func(tx core.Tx) error {
				return tx.PutTeamspace(&core.Teamspace{ID: core.NewID(), TeamID: team, Name: "Dailies", CreatedAt: when, UpdatedAt: when})
			})
		}()
	}
	close(start)
	ok := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case !core.Is(err, core.Exists):
			t.Errorf("err = %v, want nil or Exists", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent Puts of one name succeeded, want 1", ok)
	}
}

// TestMigrationIndexesTeamspaceNames: migration 2 writes the space_name
// entries of teamspaces stored before it, renaming the newer of two that
// share a name in one team.
func TestMigrationIndexesTeamspaceNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := open(dir, nil, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := core.NewID(), core.NewID()
	older := &core.Teamspace{ID: core.NewID(), TeamID: t1, Name: "Grading", CreatedAt: when, UpdatedAt: when}
	newer := &core.Teamspace{ID: core.NewID(), TeamID: t1, Name: "grading", CreatedAt: when, UpdatedAt: when}
	other := &core.Teamspace{ID: core.NewID(), TeamID: t2, Name: "Grading", CreatedAt: when, UpdatedAt: when}
	// Records as schema 1 wrote them: the record and its list entry.
	err = db.bdb.Update(func(txn *badger.Txn) error {
		for _, s := range []*core.Teamspace{older, newer, other} {
			b, err := json.Marshal(s)
			if err != nil {
				return err
			}
			if err := txn.Set(key("space", s.ID), b); err != nil {
				return err
			}
			if err := txn.Set(key("space_team", s.TeamID, s.ID), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(); err != nil || v != SchemaVersion || v < 2 {
		t.Fatalf("SchemaVersion() = %d, %v", v, err)
	}
	renamed := *newer
	renamed.Name = "grading (2)"
	view(t, db, func(tx core.Tx) error {
		list, err := tx.TeamTeamspaces(t1)
		if err != nil {
			return err
		}
		wantEqual(t, list, []*core.Teamspace{older, &renamed})
		list, err = tx.TeamTeamspaces(t2)
		if err != nil {
			return err
		}
		wantEqual(t, list, []*core.Teamspace{other})
		return nil
	})
	for _, name := range []string{"GRADING", "Grading (2)"} {
		wantKind(t, tryUpdate(db, func(tx core.Tx) error {
			return tx.PutTeamspace(&core.Teamspace{ID: core.NewID(), TeamID: t1, Name: name})
		}), core.Exists)
	}
	// The entries belong to their records: deleting one frees its name only.
	update(t, db, func(tx core.Tx) error { return tx.DeleteTeamspace(renamed.ID) })
	update(t, db, func(tx core.Tx) error {
		return tx.PutTeamspace(&core.Teamspace{ID: core.NewID(), TeamID: t1, Name: "Grading (2)"})
	})
	wantKind(t, tryUpdate(db, func(tx core.Tx) error {
		return tx.PutTeamspace(&core.Teamspace{ID: core.NewID(), TeamID: t1, Name: "grading"})
	}), core.Exists)
}
