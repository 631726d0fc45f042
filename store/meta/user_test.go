package meta

import (
	"testing"

	"haul/core"
)

func TestUserCRUD(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	a, b := newUser("Ada@Example.COM"), newUser("bob@example.com")
	update(t, db, func(tx core.Tx) error {
		if err := tx.PutUser(b); err != nil {
			return err
		}
		return tx.PutUser(a)
	})
	if a.Email != "Ada@Example.COM" {
		t.Errorf("PutUser changed its argument's email to %q", a.Email)
	}
	stored := *a
	stored.Email = "ada@example.com"

	view(t, db, func(tx core.Tx) error {
		got, err := tx.User(a.ID)
		if err != nil {
			return err
		}
		wantEqual(t, got, &stored)
		for _, email := range []string{"ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.COM"} {
			got, err := tx.UserByEmail(email)
			if err != nil {
				return err
			}
			if got.ID != a.ID {
				t.Errorf("UserByEmail(%q) = %s, want %s", email, got.ID, a.ID)
			}
		}
		n, err := tx.CountUsers()
		if err != nil {
			return err
		}
		if n != 2 {
			t.Errorf("CountUsers() = %d, want 2", n)
		}
		var all []*core.User
		if err := tx.Users(func(u *core.User) bool { all = append(all, u); return true }); err != nil {
			return err
		}
		wantEqual(t, all, []*core.User{&stored, b})
		calls := 0
		if err := tx.Users(func(*core.User) bool { calls++; return false }); err != nil {
			return err
		}
		if calls != 1 {
			t.Errorf("Users called fn %d times after it returned false, want 1", calls)
		}
		return nil
	})
}

func TestUserEmailUnique(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	a := newUser("ada@example.com")
	update(t, db, func(tx core.Tx) error { return tx.PutUser(a) })
	for _, email := range []string{"ada@example.com", "ADA@example.com"} {
		t.Run(email, func(t *testing.T) {
			wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.PutUser(newUser(email)) }), core.Exists)
		})
	}
}

func TestUserEmailChangeMovesIndex(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	a := newUser("ada@example.com")
	update(t, db, func(tx core.Tx) error { return tx.PutUser(a) })
	a.Email = "Lovelace@example.com"
	update(t, db, func(tx core.Tx) error { return tx.PutUser(a) })

	view(t, db, func(tx core.Tx) error {
		_, err := tx.UserByEmail("ada@example.com")
		wantKind(t, err, core.NotFound)
		got, err := tx.UserByEmail("lovelace@example.com")
		if err != nil {
			return err
		}
		if got.ID != a.ID || got.Email != "lovelace@example.com" {
			t.Errorf("UserByEmail = %s %q, want %s lovelace@example.com", got.ID, got.Email, a.ID)
		}
		return nil
	})
	// The old address is free for someone else.
	update(t, db, func(tx core.Tx) error { return tx.PutUser(newUser("ada@example.com")) })
}
