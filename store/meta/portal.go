package meta

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"haul/core"
)

func (t *tx) Portal(id string) (*core.Portal, error) {
	return get[core.Portal](t, "meta.Portal", "portal", key("portal", id))
}

func (t *tx) PortalBySubdomain(sub string) (*core.Portal, error) {
	return byIndex[core.Portal](t, "meta.PortalBySubdomain", "portal", key("portal_sub", sub), "portal")
}

func (t *tx) PutPortal(p *core.Portal) error {
	const op = "meta.PutPortal"
	if err := checkID(op, "id", p.ID); err != nil {
		return err
	}
	if err := checkID(op, "team_id", p.TeamID); err != nil {
		return err
	}
	old, err := prev[core.Portal](t, op, key("portal", p.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("portal", p.ID), p, p.ID, portalEntries(old), portalEntries(p))
}

func (t *tx) DeletePortal(id string) error {
	const op = "meta.DeletePortal"
	p, err := get[core.Portal](t, op, "portal", key("portal", id))
	if err != nil {
		return err
	}
	return t.remove(op, key("portal", id), portalEntries(p))
}

func (t *tx) TeamPortals(teamID string) ([]*core.Portal, error) {
	ids := t.listed(prefix("portal_team", teamID))
	return records[core.Portal](t, "meta.TeamPortals", "portal", "portal", ids)
}

// portalEntries: the team's list, and the subdomain (unique across the
// appliance: it is a host name).
func portalEntries(p *core.Portal) []entry {
	if p == nil {
		return nil
	}
	return []entry{
		{key: key("portal_team", p.TeamID, p.ID)},
		{key: key("portal_sub", p.Subdomain), val: p.ID, taken: "subdomain is taken by another portal"},
	}
}

func (t *tx) Asset(id string) (*core.Asset, error) {
	return get[core.Asset](t, "meta.Asset", "asset", key("asset", id))
}

func (t *tx) PutAsset(a *core.Asset) error {
	const op = "meta.PutAsset"
	if err := checkID(op, "id", a.ID); err != nil {
		return err
	}
	return t.put(op, key("asset", a.ID), a, a.ID, nil, nil)
}

func (t *tx) DeleteAsset(id string) error {
	const op = "meta.DeleteAsset"
	if _, err := get[core.Asset](t, op, "asset", key("asset", id)); err != nil {
		return err
	}
	return t.remove(op, key("asset", id), nil)
}

func (t *tx) Form(id string) (*core.Form, error) {
	return get[core.Form](t, "meta.Form", "form", key("form", id))
}

func (t *tx) PutForm(f *core.Form) error {
	const op = "meta.PutForm"
	if err := checkID(op, "id", f.ID); err != nil {
		return err
	}
	return t.put(op, key("form", f.ID), f, f.ID, nil, nil)
}

func (t *tx) DeleteForm(id string) error {
	const op = "meta.DeleteForm"
	if _, err := get[core.Form](t, op, "form", key("form", id)); err != nil {
		return err
	}
	return t.remove(op, key("form", id), nil)
}

func (t *tx) FormResponse(id string) (*core.FormResponse, error) {
	return get[core.FormResponse](t, "meta.FormResponse", "form response", key("formresp", id))
}

func (t *tx) PutFormResponse(r *core.FormResponse) error {
	const op = "meta.PutFormResponse"
	if err := checkID(op, "id", r.ID); err != nil {
		return err
	}
	return t.put(op, key("formresp", r.ID), r, r.ID, nil, nil)
}

func (t *tx) Outbox(id string) (*core.OutboxItem, error) {
	return get[core.OutboxItem](t, "meta.Outbox", "outbox item", key("out", id))
}

func (t *tx) PutOutbox(it *core.OutboxItem) error {
	const op = "meta.PutOutbox"
	if err := checkID(op, "id", it.ID); err != nil {
		return err
	}
	old, err := prev[core.OutboxItem](t, op, key("out", it.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("out", it.ID), it, it.ID, outboxEntries(old), outboxEntries(it))
}

// outboxEntries: the team's list, and, while pending, the due index
// (due time as 16 hex digits of Unix nanoseconds, so key order is time
// order).
func outboxEntries(it *core.OutboxItem) []entry {
	if it == nil {
		return nil
	}
	out := []entry{{key: key("out_team", it.TeamID, it.ID)}}
	if it.State == core.OutboxPending {
		out = append(out, entry{key: key("out_due", fmt.Sprintf("%016x", it.Due.UnixNano()), it.ID)})
	}
	return out
}

func (t *tx) DueOutbox(now time.Time, limit int) ([]*core.OutboxItem, error) {
	p := prefix("out_due")
	it := t.iterator(p, false, false)
	defer it.Close()
	var ids []string
	edge := fmt.Sprintf("%016x", now.UnixNano())
	for it.Seek(p); it.Valid() && len(ids) < limit; it.Next() {
		rest := string(it.Item().Key()[len(p):])
		due, id, ok := strings.Cut(rest, "/")
		if !ok || due > edge {
			break
		}
		ids = append(ids, id)
	}
	return records[core.OutboxItem](t, "meta.DueOutbox", "outbox item", "out", ids)
}

func (t *tx) TeamOutbox(teamID string) ([]*core.OutboxItem, error) {
	ids := t.listed(prefix("out_team", teamID))
	slices.Reverse(ids)
	return records[core.OutboxItem](t, "meta.TeamOutbox", "outbox item", "out", ids)
}

func (t *tx) Webhook(id string) (*core.Webhook, error) {
	return get[core.Webhook](t, "meta.Webhook", "webhook", key("hook", id))
}

func (t *tx) PutWebhook(w *core.Webhook) error {
	const op = "meta.PutWebhook"
	if err := checkID(op, "id", w.ID); err != nil {
		return err
	}
	if err := checkID(op, "team_id", w.TeamID); err != nil {
		return err
	}
	old, err := prev[core.Webhook](t, op, key("hook", w.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("hook", w.ID), w, w.ID, webhookEntries(old), webhookEntries(w))
}

func webhookEntries(w *core.Webhook) []entry {
	if w == nil {
		return nil
	}
	return []entry{{key: key("hook_team", w.TeamID, w.ID)}}
}

func (t *tx) DeleteWebhook(id string) error {
	const op = "meta.DeleteWebhook"
	w, err := get[core.Webhook](t, op, "webhook", key("hook", id))
	if err != nil {
		return err
	}
	return t.remove(op, key("hook", id), webhookEntries(w))
}

func (t *tx) TeamWebhooks(teamID string) ([]*core.Webhook, error) {
	ids := t.listed(prefix("hook_team", teamID))
	return records[core.Webhook](t, "meta.TeamWebhooks", "webhook", "hook", ids)
}

func (t *tx) AddWebhookAttempt(a *core.WebhookAttempt) error {
	const op = "meta.AddWebhookAttempt"
	if err := checkID(op, "id", a.ID); err != nil {
		return err
	}
	if err := checkID(op, "webhook_id", a.WebhookID); err != nil {
		return err
	}
	return t.put(op, key("hook_try", a.WebhookID, a.ID), a, a.ID, nil, nil)
}

func (t *tx) WebhookAttempts(webhookID string, limit int) ([]*core.WebhookAttempt, error) {
	const op = "meta.WebhookAttempts"
	p := prefix("hook_try", webhookID)
	it := t.iterator(p, true, true)
	defer it.Close()
	var out []*core.WebhookAttempt
	for it.Seek(append(append([]byte{}, p...), 0xff)); it.Valid() && (limit <= 0 || len(out) < limit); it.Next() {
		a := new(core.WebhookAttempt)
		if err := decode(op, it.Item(), a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func (t *tx) PasswordReset(h core.Hash) (*core.PasswordReset, error) {
	return get[core.PasswordReset](t, "meta.PasswordReset", "password reset", key("pwreset", h.String()))
}

func (t *tx) PutPasswordReset(r *core.PasswordReset) error {
	return t.put("meta.PutPasswordReset", key("pwreset", r.TokenHash.String()), r, r.UserID, nil, nil)
}
