package meta

import (
	"strings"

	"haul/core"
)

func (t *tx) Teamspace(id string) (*core.Teamspace, error) {
	return get[core.Teamspace](t, "meta.Teamspace", "teamspace", key("space", id))
}

func (t *tx) PutTeamspace(s *core.Teamspace) error {
	const op = "meta.PutTeamspace"
	if err := checkID(op, "id", s.ID); err != nil {
		return err
	}
	if err := checkID(op, "team_id", s.TeamID); err != nil {
		return err
	}
	old, err := prev[core.Teamspace](t, op, key("space", s.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("space", s.ID), s, s.ID, teamspaceEntries(old), teamspaceEntries(s))
}

func (t *tx) DeleteTeamspace(id string) error {
	const op = "meta.DeleteTeamspace"
	s, err := get[core.Teamspace](t, op, "teamspace", key("space", id))
	if err != nil {
		return err
	}
	return t.remove(op, key("space", id), teamspaceEntries(s))
}

func (t *tx) TeamTeamspaces(teamID string) ([]*core.Teamspace, error) {
	ids := t.listed(prefix("space_team", teamID))
	return records[core.Teamspace](t, "meta.TeamTeamspaces", "teamspace", "space", ids)
}

func teamspaceEntries(s *core.Teamspace) []entry {
	if s == nil {
		return nil
	}
	es := []entry{{key: key("space_team", s.TeamID, s.ID)}}
	if s.Name != "" {
		es = append(es, entry{key: spaceNameKey(s.TeamID, s.Name), val: s.ID,
			taken: "a teamspace with this name already exists in this team"})
	}
	return es
}

// spaceNameKey is the unique entry of a teamspace's name in its team,
// compared lower-cased; an empty name has none. The name is the key's last part, so a slash in it
// is harmless: the entry is only ever read whole, never by prefix.
func spaceNameKey(teamID, name string) []byte {
	return key("space_name", teamID, strings.ToLower(name))
}
