package httpd

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// Cookie names of the UI session. The __Host- form (Secure, Path=/, no
// Domain) is used over HTTPS and on localhost, so portals on sibling
// subdomains can never set or read it.
const (
	cookieSecure = "__Host-haul_session"
	cookiePlain  = "haul_session"
)

// LoginRequest is the body of POST /v1/auth.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) login(c *fiber.Ctx) error {
	var req LoginRequest
	if err := decode(c, "auth.login", &req); err != nil {
		return err
	}
	res, err := s.svc.Login(c.UserContext(), core.LoginRequest{Email: req.Email, Password: req.Password, ClientIP: clientIPOf(c), Kind: core.SessionToken})
	if err != nil {
		return err
	}
	return c.JSON(authView(res))
}

// secureCookies reports whether the session cookie gets the __Host- name
// and Secure: over HTTPS and on localhost. X-Forwarded-Proto and
// X-Forwarded-Host count only from trusted proxies (Fiber's trusted proxy
// check, configured in New).
func secureCookies(c *fiber.Ctx) bool {
	host := c.Hostname()
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	return c.Protocol() == "https" || host == "localhost" || strings.HasSuffix(host, ".localhost")
}

func (s *Server) loginSession(c *fiber.Ctx) error {
	var req LoginRequest
	if err := decode(c, "auth.login", &req); err != nil {
		return err
	}
	res, err := s.svc.Login(c.UserContext(), core.LoginRequest{Email: req.Email, Password: req.Password, ClientIP: clientIPOf(c), Kind: core.SessionCookie})
	if err != nil {
		return err
	}
	name, secure := cookiePlain, secureCookies(c)
	if secure {
		name = cookieSecure
	}
	c.Cookie(&fiber.Cookie{Name: name, Value: res.Token, Path: "/", Expires: res.ExpiresAt, HTTPOnly: true, Secure: secure, SameSite: fiber.CookieSameSiteLaxMode})
	out := authViewExtra(res)
	out.Token = "" // the cookie carries it; page scripts never see it
	return c.JSON(out)
}

func (s *Server) logout(c *fiber.Ctx, p *core.Principal) error {
	if err := s.svc.Logout(c.UserContext(), p); err != nil {
		return err
	}
	if p.Via == core.ViaSession {
		for _, name := range []string{cookieSecure, cookiePlain} {
			c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: "/", Expires: time.Unix(0, 0), HTTPOnly: true, Secure: name == cookieSecure, SameSite: fiber.CookieSameSiteLaxMode})
		}
	}
	return noContent(c)
}

func (s *Server) getProfile(c *fiber.Ctx, p *core.Principal) error {
	pr, err := s.svc.GetProfile(c.UserContext(), p)
	if err != nil {
		return err
	}
	out := ProfileResponse{UserResponse: userView(&pr.User), MustChangePassword: pr.User.MustChangePassword,
		CreatedAt: Time(pr.User.CreatedAt), Teams: []ProfileTeam{}}
	for _, m := range pr.Memberships {
		out.Teams = append(out.Teams, ProfileTeam{TeamID: m.TeamID, MemberID: m.ID, Role: m.Role, PolicyName: m.Role.Name(), Accepted: m.InvitationAccepted})
	}
	return c.JSON(out)
}

// ProfileRequest is the body of PUT /v1/users/me.
type ProfileRequest struct {
	Name     *string `json:"name"`
	TimeZone *string `json:"time_zone"`
}

func (s *Server) updateProfile(c *fiber.Ctx, p *core.Principal) error {
	var req ProfileRequest
	if err := decode(c, "user.update_profile", &req); err != nil {
		return err
	}
	u, err := s.svc.UpdateProfile(c.UserContext(), p, core.ProfileUpdate{Name: req.Name, TimeZone: req.TimeZone})
	if err != nil {
		return err
	}
	return c.JSON(userView(u))
}

// PasswordRequest is the body of PUT /v1/users/me/password.
type PasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) changePassword(c *fiber.Ctx, p *core.Principal) error {
	var req PasswordRequest
	if err := decode(c, "user.change_password", &req); err != nil {
		return err
	}
	if err := s.svc.ChangePassword(c.UserContext(), p, req.CurrentPassword, req.NewPassword); err != nil {
		return err
	}
	return noContent(c)
}

func (s *Server) getInvitation(c *fiber.Ctx) error {
	info, err := s.svc.LookupInvitation(c.UserContext(), param(c, "token"))
	if err != nil {
		return err
	}
	// A password is always part of accepting: a new user chooses one, an
	// existing user (existing_user) gives theirs, unless logged in as
	// that account.
	return c.JSON(fiber.Map{"team_name": info.TeamName, "email": info.Email, "role": info.Role,
		"password_required": true, "existing_user": info.ExistingUser, "expires_at": Time(info.ExpiresAt)})
}

// AcceptInvitationRequest is the body of POST /v1/invitations/{token}/accept.
// Name is used only for a new user.
type AcceptInvitationRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (s *Server) acceptInvitation(c *fiber.Ctx) error {
	var req AcceptInvitationRequest
	if err := decode(c, "invitation.accept", &req); err != nil {
		return err
	}
	// A login of the invited account proves it in place of its password.
	// Credentials that do not authenticate (a stale cookie, a cookie
	// without its CSRF token) are ignored: the password must do then.
	var p *core.Principal
	if cr := s.credentials(c); cr.Present() {
		if pr, err := s.svc.Authenticate(c.UserContext(), cr); err == nil {
			p = pr
		}
	}
	res, err := s.svc.AcceptInvitation(c.UserContext(), core.AcceptInvitationRequest{
		Token: param(c, "token"), Name: req.Name, Password: req.Password, ClientIP: clientIPOf(c), Principal: p,
	})
	if err != nil {
		return err
	}
	return c.JSON(authViewExtra(res))
}

// requestPasswordReset mails a reset link; the answer is the same whether
// the account exists or not.
func (s *Server) requestPasswordReset(c *fiber.Ctx) error {
	var req struct {
		Email string `json:"email"`
	}
	if err := decode(c, "auth.reset_request", &req); err != nil {
		return err
	}
	if err := s.svc.RequestPasswordReset(c.UserContext(), req.Email, clientIPOf(c)); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"message": "if an account has this address, a reset link is on its way"})
}

// resetPassword sets a new password with a reset link's token.
func (s *Server) resetPassword(c *fiber.Ctx) error {
	var req struct {
		Password string `json:"password"`
	}
	if err := decode(c, "auth.reset", &req); err != nil {
		return err
	}
	if err := s.svc.ResetPasswordWithToken(c.UserContext(), param(c, "token"), req.Password, clientIPOf(c)); err != nil {
		return err
	}
	return noContent(c)
}
