package httpd

import (
	"github.com/gofiber/fiber/v2"

	"haul/core"
)

func (s *Server) listTeams(c *fiber.Ctx, p *core.Principal) error {
	teams, err := s.svc.Teams(c.UserContext(), p)
	if err != nil {
		return err
	}
	out := make([]TeamResponse, 0, len(teams))
	for i := range teams {
		out = append(out, teamView(&teams[i]))
	}
	return c.JSON(out)
}

func (s *Server) getTeam(c *fiber.Ctx, p *core.Principal) error {
	t, err := s.svc.Team(c.UserContext(), p, param(c, "team_id"))
	if err != nil {
		return err
	}
	return c.JSON(teamView(t))
}

// TeamRequest is the body of PUT /v1/teams/{id}.
type TeamRequest struct {
	Name                 *string `json:"name"`
	CustomExpiryEnabled  *bool   `json:"custom_expiry_enabled"`
	CustomExpiryDefault  *int    `json:"custom_expiry_default"`
	DownloadLimitEnabled *bool   `json:"download_limit_enabled"`
	DownloadLimitDefault *int    `json:"download_limit_default"`
	MaxEmailRecipients   *int    `json:"max_email_recipients"`
	// StorageQuotaBytes is haul's: 0 removes the team's quota.
	StorageQuotaBytes *int64 `json:"storage_quota_bytes"`
}

func (s *Server) updateTeam(c *fiber.Ctx, p *core.Principal) error {
	var req TeamRequest
	if err := decode(c, "team.update", &req); err != nil {
		return err
	}
	t, err := s.svc.UpdateTeam(c.UserContext(), p, param(c, "team_id"), core.TeamUpdate(req))
	if err != nil {
		return err
	}
	return c.JSON(teamView(t))
}

// MemberIDRequest names one member.
type MemberIDRequest struct {
	MemberID string `json:"member_id"`
}

func (s *Server) transferOwnership(c *fiber.Ctx, p *core.Principal) error {
	var req MemberIDRequest
	if err := decode(c, "team.transfer_ownership", &req); err != nil {
		return err
	}
	if req.MemberID == "" {
		return core.Invalidf("team.transfer_ownership", "member_id", "member_id is required: the member id of the new owner")
	}
	if err := s.svc.TransferOwnership(c.UserContext(), p, param(c, "team_id"), req.MemberID); err != nil {
		return err
	}
	return noContent(c)
}

func (s *Server) listMembers(c *fiber.Ctx, p *core.Principal) error {
	ms, err := s.svc.Members(c.UserContext(), p, param(c, "team_id"))
	if err != nil {
		return err
	}
	out := make([]MemberResponse, 0, len(ms))
	for i := range ms {
		out = append(out, memberView(&ms[i]))
	}
	return c.JSON(out)
}

// AddMemberRequest is the body of POST /v1/teams/{id}/members. Role also
// reads MASV's policy_key.
type AddMemberRequest struct {
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      core.Role `json:"role"`
	PolicyKey core.Role `json:"policy_key"`
}

func (s *Server) addMember(c *fiber.Ctx, p *core.Principal) error {
	var req AddMemberRequest
	if err := decode(c, "member.add", &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = req.PolicyKey
	}
	inv, err := s.svc.AddMember(c.UserContext(), p, param(c, "team_id"), core.AddMemberRequest{Email: req.Email, Name: req.Name, Role: req.Role})
	if err != nil {
		return err
	}
	return created(c, InvitationResponse{MemberResponse: memberView(&inv.Member), InvitationURL: inv.URL, InvitationExpiresAt: Time(inv.ExpiresAt)})
}

// UpdateMemberRequest is the body of PUT /v1/teams/{id}/members/{mid}.
type UpdateMemberRequest struct {
	Role      core.Role `json:"role"`
	PolicyKey core.Role `json:"policy_key"`
}

func (s *Server) updateMember(c *fiber.Ctx, p *core.Principal) error {
	var req UpdateMemberRequest
	if err := decode(c, "member.update_role", &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = req.PolicyKey
	}
	if req.Role == "" {
		return core.Invalidf("member.update_role", "role", "role is required: one of admin, integration_manager, member, guest")
	}
	m, err := s.svc.UpdateMemberRole(c.UserContext(), p, param(c, "team_id"), param(c, "member_id"), req.Role)
	if err != nil {
		return err
	}
	return c.JSON(memberView(m))
}

func (s *Server) removeMember(c *fiber.Ctx, p *core.Principal) error {
	if err := s.svc.RemoveMember(c.UserContext(), p, param(c, "team_id"), param(c, "member_id")); err != nil {
		return err
	}
	return noContent(c)
}

func (s *Server) listEvents(c *fiber.Ctx, p *core.Principal) error {
	pg, page, err := listQuery(c, "event.list")
	if err != nil {
		return err
	}
	var types []string
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if key := string(k); key == "types[]" || key == "type" || key == "types" {
			types = append(types, string(v))
		}
	})
	evs, total, err := s.svc.Events(c.UserContext(), p, param(c, "team_id"), types, pg)
	if err != nil {
		return err
	}
	out := make([]EventResponse, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventView(e))
	}
	return c.JSON(list(out, total, page, pg.Limit))
}
