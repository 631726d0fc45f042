package meta

import (
	"testing"

	"haul/core"
)

func TestMembershipCRUD(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	t1, t2, ada, bob := core.NewID(), core.NewID(), core.NewID(), core.NewID()
	// Created so that ada's memberships sort by id in the opposite order
	// of their teams.
	m2 := newMembership(t2, ada)
	m1 := newMembership(t1, ada)
	mb := newMembership(t1, bob)
	mb.Role = core.RoleAdmin
	update(t, db, func(tx core.Tx) error {
		for _, m := range []*core.Membership{mb, m1, m2} {
			if err := tx.PutMembership(m); err != nil {
				return err
			}
		}
		return nil
	})

	view(t, db, func(tx core.Tx) error {
		got, err := tx.Membership(mb.ID)
		if err != nil {
			return err
		}
		wantEqual(t, got, mb)
		got, err = tx.MembershipOf(t1, ada)
		if err != nil {
			return err
		}
		wantEqual(t, got, m1)
		team, err := tx.TeamMemberships(t1)
		if err != nil {
			return err
		}
		wantEqual(t, team, []*core.Membership{m1, mb})
		user, err := tx.UserMemberships(ada)
		if err != nil {
			return err
		}
		wantEqual(t, user, []*core.Membership{m2, m1})
		none, err := tx.UserMemberships(core.NewID())
		if err != nil {
			return err
		}
		if len(none) != 0 {
			t.Errorf("UserMemberships of a stranger = %v", none)
		}
		return nil
	})

	// Moving a membership to another team moves its team index.
	mb.TeamID = t2
	update(t, db, func(tx core.Tx) error { return tx.PutMembership(mb) })
	view(t, db, func(tx core.Tx) error {
		team1, err := tx.TeamMemberships(t1)
		if err != nil {
			return err
		}
		wantEqual(t, team1, []*core.Membership{m1})
		team2, err := tx.TeamMemberships(t2)
		if err != nil {
			return err
		}
		wantEqual(t, team2, []*core.Membership{m2, mb})
		_, err = tx.MembershipOf(t1, bob)
		wantKind(t, err, core.NotFound)
		return nil
	})
}

func TestMembershipOnePerTeam(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	team, user := core.NewID(), core.NewID()
	first := newMembership(team, user)
	update(t, db, func(tx core.Tx) error { return tx.PutMembership(first) })

	tests := []struct {
		name     string
		m        *core.Membership
		wantKind core.Kind // 0 = success
	}{
		{"same user same team", newMembership(team, user), core.Exists},
		{"re-put of the first", first, 0},
		{"same user other team", newMembership(core.NewID(), user), 0},
		{"other user same team", newMembership(team, core.NewID()), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tryUpdate(db, func(tx core.Tx) error { return tx.PutMembership(tc.m) })
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

func TestMembershipInviteIndex(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	m := newMembership(core.NewID(), core.NewID())
	first, second := core.SHA256("first token"), core.SHA256("second token")
	m.Invited, m.InviteTokenHash, m.InviteExpiresAt = true, first, when
	update(t, db, func(tx core.Tx) error { return tx.PutMembership(m) })

	// find reports which of the two tokens finds m.
	find := func() (firstFound, secondFound bool) {
		t.Helper()
		view(t, db, func(tx core.Tx) error {
			for _, c := range []struct {
				h     core.Hash
				found *bool
			}{{first, &firstFound}, {second, &secondFound}} {
				got, err := tx.MembershipByInvite(c.h)
				switch {
				case err == nil:
					*c.found = got.ID == m.ID
				case !core.Is(err, core.NotFound):
					return err
				}
			}
			return nil
		})
		return firstFound, secondFound
	}

	if f, s := find(); !f || s {
		t.Fatalf("after invite: first found %v, second found %v", f, s)
	}
	m.InviteTokenHash = second
	update(t, db, func(tx core.Tx) error { return tx.PutMembership(m) })
	if f, s := find(); f || !s {
		t.Fatalf("after re-invite: first found %v, second found %v", f, s)
	}

	// Another membership cannot take the same token.
	other := newMembership(core.NewID(), core.NewID())
	other.InviteTokenHash = second
	wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.PutMembership(other) }), core.Exists)

	m.InviteTokenHash, m.InvitationAccepted = core.Hash{}, true
	update(t, db, func(tx core.Tx) error { return tx.PutMembership(m) })
	if f, s := find(); f || s {
		t.Fatalf("after accept: first found %v, second found %v", f, s)
	}
}

func TestDeleteMembershipRemovesIndexes(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	team, user := core.NewID(), core.NewID()
	m := newMembership(team, user)
	m.InviteTokenHash = core.SHA256("token")
	update(t, db, func(tx core.Tx) error { return tx.PutMembership(m) })
	update(t, db, func(tx core.Tx) error { return tx.DeleteMembership(m.ID) })

	view(t, db, func(tx core.Tx) error {
		_, err := tx.Membership(m.ID)
		wantKind(t, err, core.NotFound)
		_, err = tx.MembershipOf(team, user)
		wantKind(t, err, core.NotFound)
		_, err = tx.MembershipByInvite(m.InviteTokenHash)
		wantKind(t, err, core.NotFound)
		for _, l := range []struct {
			name string
			list func(string) ([]*core.Membership, error)
			id   string
		}{
			{"TeamMemberships", tx.TeamMemberships, team},
			{"UserMemberships", tx.UserMemberships, user},
		} {
			got, err := l.list(l.id)
			if err != nil {
				return err
			}
			if len(got) != 0 {
				t.Errorf("%s after delete = %v", l.name, got)
			}
		}
		return nil
	})
	wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.DeleteMembership(m.ID) }), core.NotFound)

	// The user can join the team again.
	update(t, db, func(tx core.Tx) error { return tx.PutMembership(newMembership(team, user)) })
}
