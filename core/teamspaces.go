package core

import (
	"context"
	"slices"
	"strings"
)

// Page selects a slice of a list: Offset records skipped, at most Limit
// returned (0 = all), sorted by Sort (a field name, "-" prefix for
// descending; "" = creation order).
type Page struct {
	Offset int
	Limit  int
	Sort   string
}

// checkPage refuses a page that no list can serve: a negative offset or
// limit (an overflowed page number, say).
func checkPage(op string, p Page) error {
	if p.Offset < 0 {
		return Invalidf(op, "page", "page is out of range (the offset it gives is negative)")
	}
	if p.Limit < 0 {
		return Invalidf(op, "limit", "limit must not be negative")
	}
	return nil
}

// pageOf returns the page p of items; a negative offset or limit is taken
// as zero (checkPage refuses them before).
func pageOf[T any](items []T, p Page) []T {
	if p.Offset < 0 {
		p.Offset = 0
	}
	if p.Offset >= len(items) {
		return []T{}
	}
	items = items[p.Offset:]
	if p.Limit > 0 && p.Limit < len(items) {
		items = items[:p.Limit]
	}
	return items
}

// TeamspaceView is a teamspace with its members resolved.
type TeamspaceView struct {
	Teamspace
	Members []Member
}

func (s *Service) teamspaceView(tx Tx, sp *Teamspace) (TeamspaceView, error) {
	v := TeamspaceView{Teamspace: *sp, Members: []Member{}}
	for _, id := range sp.MemberIDs {
		m, err := tx.Membership(id)
		if Is(err, NotFound) {
			continue
		}
		if err != nil {
			return v, err
		}
		mv, err := s.member(tx, m, nil)
		if err != nil {
			return v, err
		}
		v.Members = append(v.Members, mv)
	}
	return v, nil
}

// checkMemberIDs verifies that every id is a membership of the team and
// returns them without duplicates.
func checkMemberIDs(tx Tx, op, teamID string, ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if slices.Contains(out, id) {
			continue
		}
		m, err := tx.Membership(id)
		if Is(err, NotFound) || (err == nil && m.TeamID != teamID) {
			return nil, Invalidf(op, "member_ids", "member_ids: %q is not a member id of this team (GET /v1/teams/%s/members lists them)", id, teamID)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// CreateTeamspace makes a teamspace, optionally with members.
func (s *Service) CreateTeamspace(ctx context.Context, p *Principal, teamID, name string, memberIDs []string) (*TeamspaceView, error) {
	const op = "teamspace.create"
	name, err := CheckName(op, "name", name)
	if err != nil {
		return nil, err
	}
	var out TeamspaceView
	err = s.store.Update(ctx, func(tx Tx) error {
		if _, err := s.authorize(tx, op, p, teamID, ActTeamspaceManage); err != nil {
			return err
		}
		if err := uniqueSpaceName(tx, op, teamID, "", name); err != nil {
			return err
		}
		ids, err := checkMemberIDs(tx, op, teamID, memberIDs)
		if err != nil {
			return err
		}
		now := s.now()
		sp := &Teamspace{ID: NewID(), TeamID: teamID, Name: name, MemberIDs: ids, CreatedAt: now, UpdatedAt: now}
		if err := tx.PutTeamspace(sp); err != nil {
			return err
		}
		if out, err = s.teamspaceView(tx, sp); err != nil {
			return err
		}
		return s.event(tx, p, Event{TeamID: teamID, Type: EvTeamspaceCreated, TargetID: sp.ID, Details: map[string]string{"name": name}})
	})
	return &out, Wrap(op, err)
}

func uniqueSpaceName(tx Tx, op, teamID, selfID, name string) error {
	spaces, err := tx.TeamTeamspaces(teamID)
	if err != nil {
		return err
	}
	for _, sp := range spaces {
		if sp.ID != selfID && strings.EqualFold(sp.Name, name) {
			return E(op, Exists, "a teamspace named %q already exists in this team", sp.Name)
		}
	}
	return nil
}

// Teamspaces lists the team's teamspaces: all of them for owner and
// admins, the ones they belong to for others.
func (s *Service) Teamspaces(ctx context.Context, p *Principal, teamID string, pg Page) ([]TeamspaceView, int, error) {
	const op = "teamspace.list"
	var (
		out   []TeamspaceView
		total int
	)
	switch strings.TrimPrefix(pg.Sort, "-") {
	case "", "name", "created_at":
	default:
		return nil, 0, Invalidf(op, "sort", "sort %q is not one of name, created_at (prefix - for descending)", pg.Sort)
	}
	if err := checkPage(op, pg); err != nil {
		return nil, 0, err
	}
	err := s.store.View(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActTeamspaceRead)
		if err != nil {
			return err
		}
		spaces, err := tx.TeamTeamspaces(teamID)
		if err != nil {
			return err
		}
		all := Allowed(a.m.Role, ActTeamspaceAll)
		var visible []*Teamspace
		for _, sp := range spaces {
			if all || slices.Contains(sp.MemberIDs, a.m.ID) {
				visible = append(visible, sp)
			}
		}
		sortSpaces(visible, pg.Sort)
		total = len(visible)
		out = []TeamspaceView{}
		for _, sp := range pageOf(visible, pg) {
			v, err := s.teamspaceView(tx, sp)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, total, Wrap(op, err)
}

func sortSpaces(spaces []*Teamspace, sortKey string) {
	desc := strings.HasPrefix(sortKey, "-")
	key := strings.TrimPrefix(sortKey, "-")
	slices.SortStableFunc(spaces, func(a, b *Teamspace) int {
		c := strings.Compare(a.ID, b.ID)
		if key == "name" {
			c = strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
		}
		if desc {
			return -c
		}
		return c
	})
}

// spaceFor loads a teamspace and checks the caller's access to it.
func (s *Service) spaceFor(tx Tx, op string, p *Principal, id string, act Action) (*Teamspace, error) {
	sp, err := tx.Teamspace(id)
	if Is(err, NotFound) {
		return nil, E(op, NotFound, "teamspace %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	a, err := s.authorize(tx, op, p, sp.TeamID, act)
	if Is(err, NotFound) {
		return nil, E(op, NotFound, "teamspace %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	if act == ActTeamspaceRead && !Allowed(a.m.Role, ActTeamspaceAll) && !slices.Contains(sp.MemberIDs, a.m.ID) {
		return nil, E(op, Forbidden, "you are not a member of teamspace %s", id)
	}
	return sp, nil
}

// GetTeamspace returns one teamspace.
func (s *Service) GetTeamspace(ctx context.Context, p *Principal, id string) (*TeamspaceView, error) {
	const op = "teamspace.get"
	var out TeamspaceView
	err := s.store.View(ctx, func(tx Tx) error {
		sp, err := s.spaceFor(tx, op, p, id, ActTeamspaceRead)
		if err != nil {
			return err
		}
		out, err = s.teamspaceView(tx, sp)
		return err
	})
	return &out, Wrap(op, err)
}

// TeamspaceUpdate renames a teamspace or replaces its members; nil fields
// are kept.
type TeamspaceUpdate struct {
	Name      *string
	MemberIDs *[]string
}

// UpdateTeamspace changes a teamspace.
func (s *Service) UpdateTeamspace(ctx context.Context, p *Principal, id string, up TeamspaceUpdate) (*TeamspaceView, error) {
	const op = "teamspace.update"
	if up.Name != nil {
		n, err := CheckName(op, "name", *up.Name)
		if err != nil {
			return nil, err
		}
		up.Name = &n
	}
	return s.changeSpace(ctx, op, p, id, func(tx Tx, sp *Teamspace) error {
		if up.Name != nil {
			if err := uniqueSpaceName(tx, op, sp.TeamID, sp.ID, *up.Name); err != nil {
				return err
			}
			sp.Name = *up.Name
		}
		if up.MemberIDs != nil {
			ids, err := checkMemberIDs(tx, op, sp.TeamID, *up.MemberIDs)
			if err != nil {
				return err
			}
			sp.MemberIDs = ids
		}
		return nil
	})
}

// AddTeamspaceMembers adds members (membership ids) to a teamspace.
func (s *Service) AddTeamspaceMembers(ctx context.Context, p *Principal, id string, memberIDs []string) (*TeamspaceView, error) {
	const op = "teamspace.add_members"
	if len(memberIDs) == 0 {
		return nil, Invalidf(op, "member_ids", "member_ids is required: a list of member ids")
	}
	return s.changeSpace(ctx, op, p, id, func(tx Tx, sp *Teamspace) error {
		ids, err := checkMemberIDs(tx, op, sp.TeamID, append(slices.Clone(sp.MemberIDs), memberIDs...))
		sp.MemberIDs = ids
		return err
	})
}

// RemoveTeamspaceMember takes one member out of a teamspace.
func (s *Service) RemoveTeamspaceMember(ctx context.Context, p *Principal, id, memberID string) (*TeamspaceView, error) {
	const op = "teamspace.remove_member"
	return s.changeSpace(ctx, op, p, id, func(tx Tx, sp *Teamspace) error {
		if !slices.Contains(sp.MemberIDs, memberID) {
			return E(op, NotFound, "member %s is not in teamspace %s", memberID, id)
		}
		sp.MemberIDs = without(sp.MemberIDs, memberID)
		return nil
	})
}

func (s *Service) changeSpace(ctx context.Context, op string, p *Principal, id string, change func(Tx, *Teamspace) error) (*TeamspaceView, error) {
	var out TeamspaceView
	err := s.store.Update(ctx, func(tx Tx) error {
		sp, err := s.spaceFor(tx, op, p, id, ActTeamspaceManage)
		if err != nil {
			return err
		}
		if err := change(tx, sp); err != nil {
			return err
		}
		sp.UpdatedAt = s.now()
		if err := tx.PutTeamspace(sp); err != nil {
			return err
		}
		if out, err = s.teamspaceView(tx, sp); err != nil {
			return err
		}
		return s.event(tx, p, Event{TeamID: sp.TeamID, Type: EvTeamspaceUpdated, TargetID: sp.ID, Details: map[string]string{"op": op}})
	})
	return &out, Wrap(op, err)
}

// DeleteTeamspace deletes a teamspace; its members stay in the team.
func (s *Service) DeleteTeamspace(ctx context.Context, p *Principal, id string) error {
	const op = "teamspace.delete"
	return Wrap(op, s.store.Update(ctx, func(tx Tx) error {
		sp, err := s.spaceFor(tx, op, p, id, ActTeamspaceManage)
		if err != nil {
			return err
		}
		if err := tx.DeleteTeamspace(sp.ID); err != nil {
			return err
		}
		return s.event(tx, p, Event{TeamID: sp.TeamID, Type: EvTeamspaceDeleted, TargetID: sp.ID, Details: map[string]string{"name": sp.Name}})
	}))
}

// Events returns one page of the team's events: newest first by default
// or with sort "-created_at", oldest first with sort "created_at".
func (s *Service) Events(ctx context.Context, p *Principal, teamID string, types []string, pg Page) ([]*Event, int, error) {
	const op = "event.list"
	var (
		out   []*Event
		total int
	)
	oldest := false
	switch pg.Sort {
	case "", "-created_at":
	case "created_at":
		oldest = true
	default:
		return nil, 0, Invalidf(op, "sort", "sort %q is not one of created_at (oldest first), -created_at (newest first, the default)", pg.Sort)
	}
	if err := checkPage(op, pg); err != nil {
		return nil, 0, err
	}
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := s.authorize(tx, op, p, teamID, ActEventList); err != nil {
			return err
		}
		var err error
		out, total, err = tx.Events(EventQuery{TeamID: teamID, Types: types, Offset: pg.Offset, Limit: pg.Limit, OldestFirst: oldest})
		return err
	})
	return out, total, Wrap(op, err)
}
