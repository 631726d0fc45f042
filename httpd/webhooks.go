package httpd

import (
	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// WebhookRequest is a custom webhook's settings (MASV's fields).
type WebhookRequest struct {
	Name       *string            `json:"name"`
	Active     *bool              `json:"active"`
	Events     *[]string          `json:"events"`
	URL        *string            `json:"url"`
	Method     *string            `json:"method"`
	Headers    *map[string]string `json:"headers"`
	BodyExtras *map[string]any    `json:"body_extras"`
}

func (r *WebhookRequest) core() core.WebhookRequest {
	return core.WebhookRequest{Name: r.Name, Active: r.Active, Events: r.Events, URL: r.URL, Method: r.Method, Headers: r.Headers, BodyExtras: r.BodyExtras}
}

// WebhookResponse is a webhook; Secret only in the answer to its creation.
type WebhookResponse struct {
	ID         string            `json:"id"`
	TeamID     string            `json:"team_id"`
	Name       string            `json:"name"`
	Active     bool              `json:"active"`
	Events     []string          `json:"events"`
	URL        string            `json:"url"`
	Method     string            `json:"method"`
	Headers    map[string]string `json:"headers"`
	BodyExtras map[string]any    `json:"body_extras"`
	Secret     string            `json:"secret,omitempty"`
	CreatedAt  Time              `json:"created_at"`
	UpdatedAt  Time              `json:"updated_at"`
}

func webhookView(w *core.Webhook, withSecret bool) WebhookResponse {
	out := WebhookResponse{ID: w.ID, TeamID: w.TeamID, Name: w.Name, Active: w.Active, Events: nonNil(w.Events), URL: w.URL, Method: w.Method,
		Headers: w.Headers, BodyExtras: w.BodyExtras, CreatedAt: Time(w.CreatedAt), UpdatedAt: Time(w.UpdatedAt)}
	if withSecret {
		out.Secret = w.Secret
	}
	return out
}

func (s *Server) createWebhook(c *fiber.Ctx, p *core.Principal) error {
	var req WebhookRequest
	if err := decode(c, "webhook.create", &req); err != nil {
		return err
	}
	w, err := s.svc.CreateWebhook(c.UserContext(), p, param(c, "team_id"), req.core())
	if err != nil {
		return err
	}
	return created(c, webhookView(w, true))
}

func (s *Server) listWebhooks(c *fiber.Ctx, p *core.Principal) error {
	ws, err := s.svc.Webhooks(c.UserContext(), p, param(c, "team_id"))
	if err != nil {
		return err
	}
	out := make([]WebhookResponse, 0, len(ws))
	for _, w := range ws {
		out = append(out, webhookView(w, false))
	}
	return c.JSON(out)
}

func (s *Server) getWebhook(c *fiber.Ctx, p *core.Principal) error {
	w, err := s.svc.GetWebhook(c.UserContext(), p, param(c, "webhook_id"))
	if err != nil {
		return err
	}
	return c.JSON(webhookView(w, false))
}

func (s *Server) updateWebhook(c *fiber.Ctx, p *core.Principal) error {
	var req WebhookRequest
	if err := decode(c, "webhook.update", &req); err != nil {
		return err
	}
	w, err := s.svc.UpdateWebhook(c.UserContext(), p, param(c, "webhook_id"), req.core())
	if err != nil {
		return err
	}
	return c.JSON(webhookView(w, false))
}

func (s *Server) deleteWebhook(c *fiber.Ctx, p *core.Principal) error {
	if err := s.svc.DeleteWebhook(c.UserContext(), p, param(c, "webhook_id")); err != nil {
		return err
	}
	return noContent(c)
}

// WebhookAttemptResponse is one try of one delivery.
type WebhookAttemptResponse struct {
	DeliveryID string `json:"delivery_id"`
	Event      string `json:"event"`
	Attempt    int    `json:"attempt"`
	Status     int    `json:"status"`
	LatencyMS  int64  `json:"latency_ms"`
	Error      string `json:"error"`
	Final      string `json:"final"`
	At         Time   `json:"at"`
}

func (s *Server) webhookDeliveries(c *fiber.Ctx, p *core.Principal) error {
	as, err := s.svc.WebhookDeliveries(c.UserContext(), p, param(c, "webhook_id"))
	if err != nil {
		return err
	}
	out := make([]WebhookAttemptResponse, 0, len(as))
	for _, a := range as {
		out = append(out, WebhookAttemptResponse{DeliveryID: a.DeliveryID, Event: a.Event, Attempt: a.Attempt, Status: a.Status,
			LatencyMS: a.LatencyMS, Error: a.Error, Final: a.Final, At: Time(a.At)})
	}
	return c.JSON(out)
}
