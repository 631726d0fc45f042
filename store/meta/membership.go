package meta

import (
	"slices"

	"haul/core"
)

func (t *tx) Membership(id string) (*core.Membership, error) {
	return get[core.Membership](t, "meta.Membership", "membership", key("mem", id))
}

func (t *tx) MembershipOf(teamID, userID string) (*core.Membership, error) {
	return byIndex[core.Membership](t, "meta.MembershipOf", "membership",
		key("mem_user", userID, teamID), "mem")
}

// MembershipByInvite finds the membership whose pending invitation has the
// token hash h. The zero hash finds nothing.
func (t *tx) MembershipByInvite(h core.Hash) (*core.Membership, error) {
	const op = "meta.MembershipByInvite"
	if h.IsZero() {
		return nil, notFound(op, "invitation")
	}
	return byIndex[core.Membership](t, op, "invitation", key("mem_invite", h.String()), "mem")
}

// PutMembership creates or replaces a membership. A second membership of
// the same user in the same team is refused with Exists.
func (t *tx) PutMembership(m *core.Membership) error {
	const op = "meta.PutMembership"
	for _, f := range [][2]string{{"id", m.ID}, {"team_id", m.TeamID}, {"user_id", m.UserID}} {
		if err := checkID(op, f[0], f[1]); err != nil {
			return err
		}
	}
	old, err := prev[core.Membership](t, op, key("mem", m.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("mem", m.ID), m, m.ID, membershipEntries(old), membershipEntries(m))
}

func (t *tx) DeleteMembership(id string) error {
	const op = "meta.DeleteMembership"
	m, err := get[core.Membership](t, op, "membership", key("mem", id))
	if err != nil {
		return err
	}
	return t.remove(op, key("mem", id), membershipEntries(m))
}

func (t *tx) TeamMemberships(teamID string) ([]*core.Membership, error) {
	ids := t.listed(prefix("mem_team", teamID))
	return records[core.Membership](t, "meta.TeamMemberships", "membership", "mem", ids)
}

// UserMemberships returns the user's memberships in id order. Its index is
// keyed by team, so the ids are sorted after the scan; a user belongs to
// few teams.
func (t *tx) UserMemberships(userID string) ([]*core.Membership, error) {
	const op = "meta.UserMemberships"
	ids, err := t.indexed(op, prefix("mem_user", userID))
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return records[core.Membership](t, op, "membership", "mem", ids)
}

func membershipEntries(m *core.Membership) []entry {
	if m == nil {
		return nil
	}
	es := []entry{
		{key: key("mem_team", m.TeamID, m.ID)},
		{key: key("mem_user", m.UserID, m.TeamID), val: m.ID,
			taken: "the user is already a member of this team"},
	}
	if !m.InviteTokenHash.IsZero() {
		es = append(es, entry{key: key("mem_invite", m.InviteTokenHash.String()), val: m.ID,
			taken: "invitation token is already in use"})
	}
	return es
}
