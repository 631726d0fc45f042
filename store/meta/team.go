package meta

import (
	"strings"

	"haul/core"
)

func (t *tx) Team(id string) (*core.Team, error) {
	return get[core.Team](t, "meta.Team", "team", key("team", id))
}

// PutTeam creates or replaces a team. Subdomains are compared lower-cased,
// as DNS does; an empty subdomain is not indexed.
func (t *tx) PutTeam(tm *core.Team) error {
	const op = "meta.PutTeam"
	if err := checkID(op, "id", tm.ID); err != nil {
		return err
	}
	old, err := prev[core.Team](t, op, key("team", tm.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("team", tm.ID), tm, tm.ID, teamEntries(old), teamEntries(tm))
}

func (t *tx) Teams(fn func(*core.Team) bool) error {
	return each(t, "meta.Teams", prefix("team"), fn)
}

func teamEntries(tm *core.Team) []entry {
	if tm == nil || tm.Subdomain == "" {
		return nil
	}
	return []entry{{
		key:   key("team_sub", strings.ToLower(tm.Subdomain)),
		val:   tm.ID,
		taken: "subdomain is already taken",
	}}
}
