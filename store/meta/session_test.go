package meta

import (
	"testing"
	"time"

	"haul/core"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ada, bob := core.NewID(), core.NewID()
	mk := func(user string, kind core.SessionKind) *core.Session {
		s := &core.Session{ID: core.NewID(), UserID: user, Kind: kind, CreatedAt: when, ExpiresAt: when.Add(24 * time.Hour)}
		if kind == core.SessionCookie {
			s.CSRFHash = core.SHA256("csrf " + s.ID)
		}
		return s
	}
	a1, a2, a3, b1 := mk(ada, core.SessionToken), mk(ada, core.SessionCookie), mk(ada, core.SessionToken), mk(bob, core.SessionCookie)
	update(t, db, func(tx core.Tx) error {
		for _, s := range []*core.Session{a1, a2, a3, b1} {
			if err := tx.PutSession(s); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx core.Tx) error {
		got, err := tx.Session(a2.ID)
		if err != nil {
			return err
		}
		wantEqual(t, got, a2)
		return nil
	})

	update(t, db, func(tx core.Tx) error { return tx.DeleteSession(a1.ID) })
	wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.DeleteSession(a1.ID) }), core.NotFound)

	update(t, db, func(tx core.Tx) error { return tx.DeleteUserSessions(ada) })
	// A user without sessions is no error.
	update(t, db, func(tx core.Tx) error { return tx.DeleteUserSessions(ada) })
	view(t, db, func(tx core.Tx) error {
		for _, s := range []*core.Session{a1, a2, a3} {
			_, err := tx.Session(s.ID)
			wantKind(t, err, core.NotFound)
		}
		got, err := tx.Session(b1.ID)
		if err != nil {
			return err
		}
		wantEqual(t, got, b1)
		return nil
	})
}

func TestSessionsIterate(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	var want []*core.Session
	update(t, db, func(tx core.Tx) error {
		for i := range 5 {
			s := &core.Session{ID: core.NewID(), UserID: core.NewID(), Kind: core.SessionToken, CreatedAt: when, ExpiresAt: when.Add(time.Duration(i) * time.Hour)}
			want = append(want, s)
			if err := tx.PutSession(s); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx core.Tx) error {
		var got []*core.Session
		if err := tx.Sessions(func(s *core.Session) bool { got = append(got, s); return true }); err != nil {
			return err
		}
		wantEqual(t, got, want)
		n := 0
		if err := tx.Sessions(func(*core.Session) bool { n++; return n < 2 }); err != nil {
			return err
		}
		if n != 2 {
			t.Errorf("Sessions went on after fn returned false: %d calls", n)
		}
		return nil
	})
}
