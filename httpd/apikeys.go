package httpd

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// APIKeyRequest is the body of POST /v1/teams/{id}/api_keys and
// PUT /v1/api_keys/{id}.
type APIKeyRequest struct {
	Name        *string           `json:"name"`
	Description *string           `json:"description"`
	Expiry      *Time             `json:"expiry"`
	State       *core.APIKeyState `json:"state"`
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (s *Server) createAPIKey(c *fiber.Ctx, p *core.Principal) error {
	var req APIKeyRequest
	if err := decode(c, "api_key.create", &req); err != nil {
		return err
	}
	k, err := s.svc.CreateAPIKey(c.UserContext(), p, param(c, "team_id"), core.APIKeyRequest{
		Name: deref(req.Name), Description: deref(req.Description),
		Expiry: time.Time(deref(req.Expiry)), State: deref(req.State),
	})
	if err != nil {
		return err
	}
	out := apiKeyView(&k.Key)
	out.Key = k.Secret
	return created(c, out)
}

func (s *Server) listAPIKeys(c *fiber.Ctx, p *core.Principal) error {
	keys, err := s.svc.APIKeys(c.UserContext(), p, param(c, "team_id"))
	if err != nil {
		return err
	}
	out := make([]APIKeyResponse, 0, len(keys))
	for i := range keys {
		out = append(out, apiKeyView(&keys[i]))
	}
	return c.JSON(out)
}

func (s *Server) updateAPIKey(c *fiber.Ctx, p *core.Principal) error {
	var req APIKeyRequest
	if err := decode(c, "api_key.update", &req); err != nil {
		return err
	}
	up := core.APIKeyUpdate{Name: req.Name, Description: req.Description, State: req.State}
	if req.Expiry != nil {
		t := time.Time(*req.Expiry)
		up.Expiry = &t
	}
	k, err := s.svc.UpdateAPIKey(c.UserContext(), p, param(c, "key_id"), up)
	if err != nil {
		return err
	}
	return c.JSON(apiKeyView(k))
}

func (s *Server) deleteAPIKey(c *fiber.Ctx, p *core.Principal) error {
	if err := s.svc.DeleteAPIKey(c.UserContext(), p, param(c, "key_id")); err != nil {
		return err
	}
	return noContent(c)
}
