package httpd

import (
	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// DeliveryResponse is one outgoing mail as the team sees it (its body is
// not shown: it holds links).
type DeliveryResponse struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	State     string   `json:"state"`
	To        []string `json:"to"`
	Subject   string   `json:"subject"`
	About     string   `json:"about"`
	Attempts  int      `json:"attempts"`
	LastError string   `json:"last_error"`
	Due       Time     `json:"due"`
	CreatedAt Time     `json:"created_at"`
	DoneAt    *Time    `json:"done_at"`
}

// listDeliveries lists the team's outgoing mails (state=pending, sent or
// failed), newest first.
func (s *Server) listDeliveries(c *fiber.Ctx, p *core.Principal) error {
	items, err := s.svc.Deliveries(c.UserContext(), p, param(c, "team_id"), c.Query("state"))
	if err != nil {
		return err
	}
	out := make([]DeliveryResponse, 0, len(items))
	for _, it := range items {
		d := DeliveryResponse{ID: it.ID, Kind: it.Kind, State: it.State, About: it.Subject, Attempts: it.Attempts,
			LastError: it.LastError, Due: Time(it.Due), CreatedAt: Time(it.CreatedAt)}
		if it.Mail != nil {
			d.To, d.Subject, d.Kind = it.Mail.To, it.Mail.Subject, it.Mail.Kind
		}
		if !it.DoneAt.IsZero() {
			t := Time(it.DoneAt)
			d.DoneAt = &t
		}
		out = append(out, d)
	}
	return c.JSON(out)
}
