package httpd

import (
	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// SpaceRequest is the body of POST /v1/teams/{id}/spaces and
// PUT /v1/spaces/{id}.
type SpaceRequest struct {
	Name      *string   `json:"name"`
	MemberIDs *[]string `json:"member_ids"`
}

func (s *Server) createSpace(c *fiber.Ctx, p *core.Principal) error {
	var req SpaceRequest
	if err := decode(c, "teamspace.create", &req); err != nil {
		return err
	}
	v, err := s.svc.CreateTeamspace(c.UserContext(), p, param(c, "team_id"), deref(req.Name), deref(req.MemberIDs))
	if err != nil {
		return err
	}
	return created(c, spaceView(v))
}

func (s *Server) listSpaces(c *fiber.Ctx, p *core.Principal) error {
	pg, page, err := listQuery(c, "teamspace.list")
	if err != nil {
		return err
	}
	vs, total, err := s.svc.Teamspaces(c.UserContext(), p, param(c, "team_id"), pg)
	if err != nil {
		return err
	}
	out := make([]SpaceResponse, 0, len(vs))
	for i := range vs {
		out = append(out, spaceView(&vs[i]))
	}
	return c.JSON(list(out, total, page, pg.Limit))
}

func (s *Server) getSpace(c *fiber.Ctx, p *core.Principal) error {
	v, err := s.svc.GetTeamspace(c.UserContext(), p, param(c, "space_id"))
	if err != nil {
		return err
	}
	return c.JSON(spaceView(v))
}

func (s *Server) updateSpace(c *fiber.Ctx, p *core.Principal) error {
	var req SpaceRequest
	if err := decode(c, "teamspace.update", &req); err != nil {
		return err
	}
	v, err := s.svc.UpdateTeamspace(c.UserContext(), p, param(c, "space_id"), core.TeamspaceUpdate(req))
	if err != nil {
		return err
	}
	return c.JSON(spaceView(v))
}

func (s *Server) deleteSpace(c *fiber.Ctx, p *core.Principal) error {
	if err := s.svc.DeleteTeamspace(c.UserContext(), p, param(c, "space_id")); err != nil {
		return err
	}
	return noContent(c)
}

// SpaceMembersRequest is the body of POST /v1/spaces/{id}/members.
type SpaceMembersRequest struct {
	MemberIDs []string `json:"member_ids"`
}

func (s *Server) addSpaceMembers(c *fiber.Ctx, p *core.Principal) error {
	var req SpaceMembersRequest
	if err := decode(c, "teamspace.add_members", &req); err != nil {
		return err
	}
	if _, err := s.svc.AddTeamspaceMembers(c.UserContext(), p, param(c, "space_id"), req.MemberIDs); err != nil {
		return err
	}
	return noContent(c)
}

func (s *Server) removeSpaceMember(c *fiber.Ctx, p *core.Principal) error {
	if _, err := s.svc.RemoveTeamspaceMember(c.UserContext(), p, param(c, "space_id"), param(c, "member_id")); err != nil {
		return err
	}
	return noContent(c)
}
