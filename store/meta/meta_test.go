package meta

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"haul/core"
)

// when is a fixed instant; JSON round-trips it exactly.
var when = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// openTest opens a store in a fresh temporary directory and closes it when
// the test ends.
func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func update(t *testing.T, db *DB, fn func(core.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, db *DB, fn func(core.Tx) error) {
	t.Helper()
	if err := db.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// tryUpdate runs fn in an Update and returns its error, for tests that
// expect one.
func tryUpdate(db *DB, fn func(core.Tx) error) error {
	return db.Update(context.Background(), fn)
}

// wantKind fails the test unless err has the given kind.
func wantKind(t *testing.T, err error, kind core.Kind) {
	t.Helper()
	if !core.Is(err, kind) {
		t.Fatalf("err = %v (kind %v), want kind %v", err, core.KindOf(err), kind)
	}
}

func wantEqual[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func newTeam(subdomain string) *core.Team {
	return &core.Team{ID: core.NewID(), Name: "Team " + subdomain, Subdomain: subdomain,
		MaxEmailRecipients: 10, CreatedAt: when, UpdatedAt: when}
}

func newUser(email string) *core.User {
	return &core.User{ID: core.NewID(), Email: email, Name: "Someone", TimeZone: "UTC",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", CredentialsChangedAt: when,
		CreatedAt: when, UpdatedAt: when}
}

func newMembership(teamID, userID string) *core.Membership {
	return &core.Membership{ID: core.NewID(), TeamID: teamID, UserID: userID,
		Role: core.RoleMember, Approved: true, CreatedAt: when, UpdatedAt: when}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tm, u := newTeam("acme"), newUser("ada@example.com")
	m := newMembership(tm.ID, u.ID)
	update(t, db, func(tx core.Tx) error {
		return errors.Join(tx.PutTeam(tm), tx.PutUser(u), tx.PutMembership(m))
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(dir, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	view(t, db, func(tx core.Tx) error {
		got, err := tx.Team(tm.ID)
		if err != nil {
			return err
		}
		wantEqual(t, got, tm)
		gotU, err := tx.UserByEmail("ADA@example.com")
		if err != nil {
			return err
		}
		wantEqual(t, gotU, u)
		gotM, err := tx.MembershipOf(tm.ID, u.ID)
		if err != nil {
			return err
		}
		wantEqual(t, gotM, m)
		return nil
	})
	if v, err := db.SchemaVersion(); err != nil || v != SchemaVersion {
		t.Fatalf("SchemaVersion() = %d, %v; want %d", v, err, SchemaVersion)
	}
}

func TestOpenCreatesPrivateDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() + "/a/b"
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("data directory mode = %v, want no access for group and others", perm)
	}
	v, err := db.SchemaVersion()
	if err != nil || v != SchemaVersion {
		t.Fatalf("SchemaVersion() = %d, %v; want %d", v, err, SchemaVersion)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	newer := SchemaVersion + 3
	if err := db.bdb.Update(func(txn *badger.Txn) error { return putSchemaVersion(txn, newer) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(dir, nil)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a newer schema")
	}
	for _, want := range []string{
		dir,
		fmt.Sprintf("schema version %d", newer),
		fmt.Sprintf("supports up to %d", SchemaVersion),
		fmt.Sprintf("schema %d or newer", newer),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	// The refusal closed Badger and changed nothing: a binary that knows
	// the newer schema still opens the directory.
	db, err = open(dir, nil, testMigrations(newer, nil))
	if err != nil {
		t.Fatalf("open with %d migrations: %v", newer, err)
	}
	defer db.Close()
	if v, _ := db.SchemaVersion(); v != newer {
		t.Fatalf("SchemaVersion() = %d, want %d", v, newer)
	}
}

// testMigrations returns n migrations that append their version to *ran.
func testMigrations(n int, ran *[]int) []migration {
	ms := make([]migration, n)
	for i := range ms {
		v := i + 1
		ms[i] = migration{version: v, name: "test", up: func(txn *badger.Txn) error {
			if ran != nil {
				*ran = append(*ran, v)
			}
			return txn.Set(key("test", "migrated", string(rune('0'+v))), nil)
		}}
	}
	return ms
}

func TestMigrationsRunInOrderOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var ran []int
	ms := testMigrations(4, &ran)
	reopen := func(n int) {
		t.Helper()
		db, err := open(dir, nil, ms[:n])
		if err != nil {
			t.Fatalf("open with %d migrations: %v", n, err)
		}
		defer db.Close()
		if v, err := db.SchemaVersion(); err != nil || v != n {
			t.Fatalf("SchemaVersion() = %d, %v; want %d", v, err, n)
		}
	}

	reopen(2)
	wantEqual(t, ran, []int{1, 2})
	reopen(2)
	wantEqual(t, ran, []int{1, 2})
	reopen(4)
	wantEqual(t, ran, []int{1, 2, 3, 4})
	reopen(4)
	wantEqual(t, ran, []int{1, 2, 3, 4})
}

func TestMigrationFailureKeepsVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ms := testMigrations(2, nil)
	ms = append(ms, migration{version: 3, name: "broken", up: func(txn *badger.Txn) error {
		if err := txn.Set(key("test", "half"), nil); err != nil {
			return err
		}
		return errors.New("boom")
	}})
	if db, err := open(dir, nil, ms); err == nil {
		db.Close()
		t.Fatal("open succeeded with a failing migration")
	} else if !strings.Contains(err.Error(), "migration 3 (broken)") {
		t.Fatalf("error %q does not name the migration", err)
	}

	db, err := open(dir, nil, ms[:2])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.SchemaVersion(); v != 2 {
		t.Fatalf("SchemaVersion() = %d, want 2", v)
	}
	err = db.bdb.View(func(txn *badger.Txn) error {
		_, err := txn.Get(key("test", "half"))
		return err
	})
	if !errors.Is(err, badger.ErrKeyNotFound) {
		t.Fatalf("the failed migration's write survived: %v", err)
	}
}

func TestMigrationsMustBeNumbered(t *testing.T) {
	t.Parallel()
	ms := testMigrations(3, nil)
	ms[2].version = 4
	if db, err := open(t.TempDir(), nil, ms); err == nil {
		db.Close()
		t.Fatal("open accepted migrations numbered 1, 2, 4")
	}
}

func TestUpdateRetriesConflict(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	tm := newTeam("acme")
	update(t, db, func(tx core.Tx) error { return tx.PutTeam(tm) })

	// bump adds one to the team's counter in its own transaction.
	bump := func() error {
		return db.Update(ctx, func(tx core.Tx) error {
			got, err := tx.Team(tm.ID)
			if err != nil {
				return err
			}
			got.MaxEmailRecipients++
			return tx.PutTeam(got)
		})
	}

	tests := []struct {
		name         string
		interfere    int // attempts during which another writer commits first
		wantAttempts int
		wantKind     core.Kind // 0 = success
		wantAdded    int
	}{
		{name: "no conflict", interfere: 0, wantAttempts: 1, wantAdded: 1},
		{name: "one conflict", interfere: 1, wantAttempts: 2, wantAdded: 2},
		{name: "gives up", interfere: maxAttempts, wantAttempts: maxAttempts,
			wantKind: core.Conflict, wantAdded: maxAttempts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before int
			view(t, db, func(tx core.Tx) error {
				got, err := tx.Team(tm.ID)
				if err == nil {
					before = got.MaxEmailRecipients
				}
				return err
			})
			attempts := 0
			err := db.Update(ctx, func(tx core.Tx) error {
				attempts++
				got, err := tx.Team(tm.ID)
				if err != nil {
					return err
				}
				if attempts <= tc.interfere {
					// Another writer commits the record this
					// transaction has read.
					if err := bump(); err != nil {
						return err
					}
				}
				got.MaxEmailRecipients++
				return tx.PutTeam(got)
			})
			switch {
			case tc.wantKind == 0 && err != nil:
				t.Fatalf("Update: %v", err)
			case tc.wantKind != 0:
				wantKind(t, err, tc.wantKind)
				if !errors.Is(err, badger.ErrConflict) {
					t.Errorf("err = %v, want it to wrap badger.ErrConflict", err)
				}
			}
			if attempts != tc.wantAttempts {
				t.Errorf("fn ran %d times, want %d", attempts, tc.wantAttempts)
			}
			view(t, db, func(tx core.Tx) error {
				got, err := tx.Team(tm.ID)
				if err == nil && got.MaxEmailRecipients-before != tc.wantAdded {
					t.Errorf("counter went up by %d, want %d", got.MaxEmailRecipients-before, tc.wantAdded)
				}
				return err
			})
		})
	}
}

func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	tm := newTeam("acme")
	tm.MaxEmailRecipients = 0
	update(t, db, func(tx core.Tx) error { return tx.PutTeam(tm) })

	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				errs <- db.Update(context.Background(), func(tx core.Tx) error {
					got, err := tx.Team(tm.ID)
					if err != nil {
						return err
					}
					got.MaxEmailRecipients++
					return tx.PutTeam(got)
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	view(t, db, func(tx core.Tx) error {
		got, err := tx.Team(tm.ID)
		if err == nil && got.MaxEmailRecipients != workers*each {
			t.Errorf("counter = %d, want %d", got.MaxEmailRecipients, workers*each)
		}
		return err
	})
}

func TestContextCancelled(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, run := range map[string]func(context.Context, func(core.Tx) error) error{
		"View": db.View, "Update": db.Update,
	} {
		called := false
		err := run(ctx, func(core.Tx) error { called = true; return nil })
		if !errors.Is(err, context.Canceled) || called {
			t.Errorf("%s: err = %v, fn called %v; want context.Canceled and no call", name, err, called)
		}
	}
}

func TestFnErrorDiscardsAndPassesThrough(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	sentinel := errors.New("changed my mind")
	tm := newTeam("acme")
	err := tryUpdate(db, func(tx core.Tx) error {
		if err := tx.PutTeam(tm); err != nil {
			return err
		}
		return sentinel
	})
	if err != sentinel {
		t.Fatalf("err = %v, want the function's own error", err)
	}
	view(t, db, func(tx core.Tx) error {
		_, err := tx.Team(tm.ID)
		wantKind(t, err, core.NotFound)
		return nil
	})
}

func TestViewIsReadOnly(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	err := db.View(context.Background(), func(tx core.Tx) error { return tx.PutTeam(newTeam("acme")) })
	wantKind(t, err, core.Internal)
}

func TestTxSeesOwnWrites(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	update(t, db, func(tx core.Tx) error {
		tm, u := newTeam("acme"), newUser("Ada@Example.com")
		m := newMembership(tm.ID, u.ID)
		if err := errors.Join(tx.PutTeam(tm), tx.PutUser(u), tx.PutMembership(m)); err != nil {
			return err
		}
		if _, err := tx.UserByEmail("ada@example.com"); err != nil {
			return err
		}
		if _, err := tx.MembershipOf(tm.ID, u.ID); err != nil {
			return err
		}
		n := 0
		if err := tx.Teams(func(*core.Team) bool { n++; return true }); err != nil {
			return err
		}
		if n != 1 {
			t.Errorf("Teams saw %d teams, want 1", n)
		}
		wantKind(t, tx.PutUser(newUser("ADA@example.com")), core.Exists)
		return nil
	})
}

func TestInvalidIDs(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	tests := []struct {
		name string
		put  func(core.Tx) error
	}{
		{"team without id", func(tx core.Tx) error { return tx.PutTeam(&core.Team{}) }},
		{"user id with slash", func(tx core.Tx) error { return tx.PutUser(&core.User{ID: "a/b"}) }},
		{"membership without team", func(tx core.Tx) error { return tx.PutMembership(newMembership("", core.NewID())) }},
		{"api key without team", func(tx core.Tx) error { return tx.PutAPIKey(&core.APIKey{ID: core.NewID()}) }},
		{"teamspace without team", func(tx core.Tx) error { return tx.PutTeamspace(&core.Teamspace{ID: core.NewID()}) }},
		{"session without user", func(tx core.Tx) error { return tx.PutSession(&core.Session{ID: core.NewID()}) }},
		{"event without id", func(tx core.Tx) error { return tx.AddEvent(&core.Event{TeamID: core.NewID()}) }},
		{"event team id with slash", func(tx core.Tx) error { return tx.AddEvent(&core.Event{ID: core.NewID(), TeamID: "a/b"}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantKind(t, tryUpdate(db, tc.put), core.Invalid)
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	id := core.NewID()
	h := core.SHA256("nothing")
	tests := []struct {
		name string
		call func(core.Tx) error
	}{
		{"Team", func(tx core.Tx) error { _, err := tx.Team(id); return err }},
		{"User", func(tx core.Tx) error { _, err := tx.User(id); return err }},
		{"UserByEmail", func(tx core.Tx) error { _, err := tx.UserByEmail("no@example.com"); return err }},
		{"Membership", func(tx core.Tx) error { _, err := tx.Membership(id); return err }},
		{"MembershipOf", func(tx core.Tx) error { _, err := tx.MembershipOf(id, id); return err }},
		{"MembershipByInvite", func(tx core.Tx) error { _, err := tx.MembershipByInvite(h); return err }},
		{"MembershipByInvite zero", func(tx core.Tx) error { _, err := tx.MembershipByInvite(core.Hash{}); return err }},
		{"APIKey", func(tx core.Tx) error { _, err := tx.APIKey(id); return err }},
		{"APIKeyByHash", func(tx core.Tx) error { _, err := tx.APIKeyByHash(h); return err }},
		{"Teamspace", func(tx core.Tx) error { _, err := tx.Teamspace(id); return err }},
		{"Session", func(tx core.Tx) error { _, err := tx.Session(id); return err }},
		{"DeleteMembership", func(tx core.Tx) error { return tx.DeleteMembership(id) }},
		{"DeleteAPIKey", func(tx core.Tx) error { return tx.DeleteAPIKey(id) }},
		{"DeleteTeamspace", func(tx core.Tx) error { return tx.DeleteTeamspace(id) }},
		{"DeleteSession", func(tx core.Tx) error { return tx.DeleteSession(id) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantKind(t, tryUpdate(db, tc.call), core.NotFound)
		})
	}
}
