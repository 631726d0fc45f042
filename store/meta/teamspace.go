package meta

import "haul/core"

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
	return []entry{{key: key("space_team", s.TeamID, s.ID)}}
}
