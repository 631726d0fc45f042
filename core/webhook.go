package core

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Webhook is a team's custom webhook (MASV §8.1): haul calls URL with a
// signed JSON body when one of Events happens. A webhook named in a
// portal's custom_webhooks fires only for that portal's packages; one no
// portal names fires for every package of the team.
type Webhook struct {
	ID         string            `json:"id"`
	TeamID     string            `json:"team_id"`
	Name       string            `json:"name"`
	Active     bool              `json:"active"`
	Events     []string          `json:"events"`
	URL        string            `json:"url"`
	Method     string            `json:"method"` // POST or PUT
	Headers    map[string]string `json:"headers"`
	BodyExtras map[string]any    `json:"body_extras"`
	// Secret signs every delivery (HMAC-SHA256); shown once, at creation,
	// and kept so that haul can sign.
	Secret        string    `json:"secret"`
	CreatorUserID string    `json:"creator_user_id"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Webhook events.
const (
	HookPackageCreated    = "package.created"
	HookPackageFinalized  = "package.finalized"
	HookPackageDownloaded = "package.downloaded"
	HookLinkAccessed      = "link.accessed"
	HookPackageExpired    = "package.expired"
)

// HookEvents lists every webhook event.
var HookEvents = []string{HookPackageCreated, HookPackageFinalized, HookPackageDownloaded, HookLinkAccessed, HookPackageExpired}

// WebhookAttempt is one try of one delivery, for the webhook's log.
type WebhookAttempt struct {
	ID         string    `json:"id"`
	WebhookID  string    `json:"webhook_id"`
	DeliveryID string    `json:"delivery_id"`
	Event      string    `json:"event"`
	Attempt    int       `json:"attempt"`
	Status     int       `json:"status"` // HTTP status; 0 when none came back
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
	Final      string    `json:"final,omitempty"` // sent or failed, on the last attempt
	At         time.Time `json:"at"`
}

// WebhookTx stores webhooks and their delivery logs.
type WebhookTx interface {
	Webhook(id string) (*Webhook, error)
	PutWebhook(w *Webhook) error
	DeleteWebhook(id string) error
	TeamWebhooks(teamID string) ([]*Webhook, error)
	AddWebhookAttempt(a *WebhookAttempt) error
	// WebhookAttempts lists a webhook's attempts, newest first.
	WebhookAttempts(webhookID string, limit int) ([]*WebhookAttempt, error)
}

// HookOut is a webhook delivery waiting in the outbox: the body is made
// when the event happens, so every attempt sends the same bytes with the
// same delivery id.
type HookOut struct {
	WebhookID  string          `json:"webhook_id"`
	DeliveryID string          `json:"delivery_id"`
	Event      string          `json:"event"`
	Body       json.RawMessage `json:"body"`
}

// webhookMaxAttempts is how many times a delivery is tried.
const webhookMaxAttempts = 5

// WebhookRequest is a webhook's settings (create and update; nil fields
// stay as they are or take their default).
type WebhookRequest struct {
	Name       *string
	Active     *bool
	Events     *[]string
	URL        *string
	Method     *string
	Headers    *map[string]string
	BodyExtras *map[string]any
}

// reservedHookHeaders are set by haul on every delivery.
var reservedHookHeaders = []string{"content-type", "content-length", "host", "x-haul-event", "x-haul-delivery", "x-haul-signature", "user-agent"}

func (s *Service) applyWebhook(op string, w *Webhook, r *WebhookRequest) error {
	if r.Name != nil {
		n, err := CheckName(op, "name", *r.Name)
		if err != nil {
			return err
		}
		w.Name = n
	}
	set(&w.Active, r.Active)
	if r.Events != nil {
		evs := []string{}
		for _, e := range *r.Events {
			if !slices.Contains(HookEvents, e) {
				return Invalidf(op, "events", "event %q is not one of %s", e, strings.Join(HookEvents, ", "))
			}
			if !slices.Contains(evs, e) {
				evs = append(evs, e)
			}
		}
		w.Events = evs
	}
	if r.URL != nil {
		u, err := url.Parse(*r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return Invalidf(op, "url", "url must be an http(s) URL without credentials; got %q", *r.URL)
		}
		w.URL = *r.URL
	}
	if r.Method != nil {
		m := strings.ToUpper(*r.Method)
		if m != http.MethodPost && m != http.MethodPut {
			return Invalidf(op, "method", "method must be POST or PUT")
		}
		w.Method = m
	}
	if r.Headers != nil {
		if len(*r.Headers) > 20 {
			return Invalidf(op, "headers", "at most 20 headers")
		}
		for k, v := range *r.Headers {
			if k == "" || strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(v, "\r\n") || len(k)+len(v) > 4096 {
				return Invalidf(op, "headers", "header %q is not a valid header", k)
			}
			if slices.Contains(reservedHookHeaders, strings.ToLower(k)) {
				return Invalidf(op, "headers", "header %s is set by haul", k)
			}
		}
		w.Headers = *r.Headers
	}
	if r.BodyExtras != nil {
		if b, _ := json.Marshal(*r.BodyExtras); len(b) > 16<<10 {
			return Invalidf(op, "body_extras", "body_extras may hold at most 16 KiB of JSON")
		}
		w.BodyExtras = *r.BodyExtras
	}
	switch {
	case w.Name == "":
		return Invalidf(op, "name", "name is required")
	case w.URL == "":
		return Invalidf(op, "url", "url is required")
	case len(w.Events) == 0:
		return Invalidf(op, "events", "events is required: one or more of %s", strings.Join(HookEvents, ", "))
	}
	if w.Method == "" {
		w.Method = http.MethodPost
	}
	return nil
}

// CreateWebhook adds a webhook (owner, admins, integration managers); the
// answer carries its signing secret, shown this once.
func (s *Service) CreateWebhook(ctx context.Context, p *Principal, teamID string, r WebhookRequest) (*Webhook, error) {
	const op = "webhook.create"
	var out Webhook
	err := s.store.Update(ctx, func(tx Tx) error {
		if _, err := s.authorize(tx, op, p, teamID, ActWebhookManage); err != nil {
			return err
		}
		now := s.now()
		w := &Webhook{ID: NewID(), TeamID: teamID, Active: true, Secret: "whsec_" + RandomToken(32), CreatorUserID: p.User.ID,
			Headers: map[string]string{}, BodyExtras: map[string]any{}, CreatedAt: now, UpdatedAt: now}
		if err := s.applyWebhook(op, w, &r); err != nil {
			return err
		}
		if err := tx.PutWebhook(w); err != nil {
			return err
		}
		out = *w
		return s.event(tx, p, Event{TeamID: teamID, Type: EvWebhookCreated, TargetID: w.ID, Details: map[string]string{"url": w.URL}})
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &out, nil
}

// webhookFor loads a webhook the caller manages.
func (s *Service) webhookFor(tx Tx, op string, p *Principal, id string) (*Webhook, error) {
	w, err := tx.Webhook(id)
	if Is(err, NotFound) {
		return nil, E(op, NotFound, "webhook %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.authorize(tx, op, p, w.TeamID, ActWebhookManage); err != nil {
		if Is(err, NotFound) {
			return nil, E(op, NotFound, "webhook %s not found", id)
		}
		return nil, err
	}
	return w, nil
}

// Webhooks lists a team's webhooks.
func (s *Service) Webhooks(ctx context.Context, p *Principal, teamID string) ([]*Webhook, error) {
	const op = "webhook.list"
	var out []*Webhook
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := s.authorize(tx, op, p, teamID, ActWebhookManage); err != nil {
			return err
		}
		var err error
		out, err = tx.TeamWebhooks(teamID)
		return err
	})
	return out, Wrap(op, err)
}

// GetWebhook returns one webhook.
func (s *Service) GetWebhook(ctx context.Context, p *Principal, id string) (*Webhook, error) {
	const op = "webhook.get"
	var out *Webhook
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = s.webhookFor(tx, op, p, id)
		return err
	})
	return out, Wrap(op, err)
}

// UpdateWebhook changes a webhook.
func (s *Service) UpdateWebhook(ctx context.Context, p *Principal, id string, r WebhookRequest) (*Webhook, error) {
	const op = "webhook.update"
	var out Webhook
	err := s.store.Update(ctx, func(tx Tx) error {
		w, err := s.webhookFor(tx, op, p, id)
		if err != nil {
			return err
		}
		if err := s.applyWebhook(op, w, &r); err != nil {
			return err
		}
		w.UpdatedAt = s.now()
		out = *w
		return tx.PutWebhook(w)
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &out, nil
}

// DeleteWebhook removes a webhook; deliveries still queued are dropped
// when they come due.
func (s *Service) DeleteWebhook(ctx context.Context, p *Principal, id string) error {
	const op = "webhook.delete"
	err := s.store.Update(ctx, func(tx Tx) error {
		w, err := s.webhookFor(tx, op, p, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteWebhook(w.ID); err != nil {
			return err
		}
		return s.event(tx, p, Event{TeamID: w.TeamID, Type: EvWebhookDeleted, TargetID: w.ID})
	})
	return Wrap(op, err)
}

// WebhookDeliveries lists a webhook's attempts, newest first.
func (s *Service) WebhookDeliveries(ctx context.Context, p *Principal, id string) ([]*WebhookAttempt, error) {
	const op = "webhook.deliveries"
	var out []*WebhookAttempt
	err := s.store.View(ctx, func(tx Tx) error {
		w, err := s.webhookFor(tx, op, p, id)
		if err != nil {
			return err
		}
		out, err = tx.WebhookAttempts(w.ID, 500)
		return err
	})
	return out, Wrap(op, err)
}

// hookPayload is the JSON body of a delivery.
type hookPayload struct {
	ID        string         `json:"id"` // the delivery id (also X-Haul-Delivery)
	Event     string         `json:"event"`
	CreatedAt time.Time      `json:"created_at"`
	Team      map[string]any `json:"team"`
	Portal    map[string]any `json:"portal"`
	Package   map[string]any `json:"package"`
	Link      map[string]any `json:"link,omitempty"`
	Metadata  map[string]any `json:"metadata"`
	Extras    map[string]any `json:"extras"`
}

// fireWebhooks queues event for every active webhook of pk's team that
// listens to it (and, when portals name webhooks, fits pk's portal), in
// tx. link is set for link and download events.
func (s *Service) fireWebhooks(tx Tx, event string, pk *Package, link *Link) error {
	hooks, err := tx.TeamWebhooks(pk.TeamID)
	if err != nil || len(hooks) == 0 {
		return err
	}
	portals, err := tx.TeamPortals(pk.TeamID)
	if err != nil {
		return err
	}
	attached := map[string][]string{} // webhook id → portals naming it
	var portal *Portal
	for _, pt := range portals {
		for _, id := range pt.CustomWebhooks {
			attached[id] = append(attached[id], pt.ID)
		}
		if pt.ID == pk.PortalID {
			portal = pt
		}
	}
	var payload *hookPayload
	for _, w := range hooks {
		if !w.Active || !slices.Contains(w.Events, event) {
			continue
		}
		if ps, ok := attached[w.ID]; ok && !slices.Contains(ps, pk.PortalID) {
			continue
		}
		if payload == nil {
			if payload, err = s.hookPayload(tx, event, pk, portal, link); err != nil {
				return err
			}
		}
		payload.ID = NewID()
		payload.Extras = w.BodyExtras
		if payload.Extras == nil {
			payload.Extras = map[string]any{}
		}
		body, err := json.Marshal(payload)
		if err != nil {
			return err
		}
		now := s.now()
		it := &OutboxItem{ID: payload.ID, TeamID: pk.TeamID, Kind: "webhook", State: OutboxPending, Due: now, Subject: pk.ID, CreatedAt: now,
			Hook: &HookOut{WebhookID: w.ID, DeliveryID: payload.ID, Event: event, Body: body}}
		if err := tx.PutOutbox(it); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) hookPayload(tx Tx, event string, pk *Package, portal *Portal, link *Link) (*hookPayload, error) {
	team, err := tx.Team(pk.TeamID)
	if err != nil {
		return nil, err
	}
	p := &hookPayload{Event: event, CreatedAt: s.now(), Team: map[string]any{"id": team.ID, "name": team.Name}}
	if portal != nil {
		p.Portal = map[string]any{"id": portal.ID, "name": portal.Name, "subdomain": portal.Subdomain}
	}
	files, err := tx.PackageFiles(pk.ID)
	if err != nil {
		return nil, err
	}
	fl := []map[string]any{}
	for _, f := range files {
		if f.State != FileFinalized {
			continue
		}
		fl = append(fl, map[string]any{"id": f.ID, "name": f.Name, "path": f.Path, "size": f.Size, "digest": f.Digest.String()})
	}
	p.Package = map[string]any{"id": pk.ID, "name": pk.Name, "description": pk.Description, "sender": pk.Sender, "state": pk.State,
		"size": pk.Size, "total_files": pk.TotalFiles, "expiry": pk.Expiry, "teamspace_id": pk.TeamspaceID, "files": fl}
	if link != nil {
		p.Link = map[string]any{"id": link.ID, "email": link.Email}
	}
	if pk.FormDataID != "" {
		if resp, err := tx.FormResponse(pk.FormDataID); err == nil {
			p.Metadata = resp.Values
		}
	}
	return p, nil
}

// SignWebhook returns the X-Haul-Signature of a delivery: t=<unix
// seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>.
func SignWebhook(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// webhookTimeout bounds one delivery attempt: a receiver that hangs
// holds up nothing but its own delivery.
const webhookTimeout = 10 * time.Second

// deliverHook makes one attempt of a webhook delivery and logs it. A
// webhook deleted meanwhile ends the delivery (nil error, nothing sent).
func (s *Service) deliverHook(ctx context.Context, it *OutboxItem) error {
	var w *Webhook
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		w, err = tx.Webhook(it.Hook.WebhookID)
		return err
	})
	if Is(err, NotFound) {
		return errGone
	}
	if err != nil {
		return err
	}
	if !w.Active {
		return errGone
	}
	start := time.Now()
	status, sendErr := s.postHook(ctx, w, it)
	att := &WebhookAttempt{ID: NewID(), WebhookID: w.ID, DeliveryID: it.Hook.DeliveryID, Event: it.Hook.Event, Attempt: it.Attempts + 1,
		Status: status, LatencyMS: time.Since(start).Milliseconds(), At: s.now()}
	if sendErr != nil {
		att.Error = sendErr.Error()
	}
	switch {
	case sendErr == nil:
		att.Final = OutboxSent
	case att.Attempt >= webhookMaxAttempts:
		att.Final = OutboxFailed
	}
	if err := s.store.Update(ctx, func(tx Tx) error { return tx.AddWebhookAttempt(att) }); err != nil {
		s.log.WarnContext(ctx, "logging a webhook attempt", "err", err)
	}
	return sendErr
}

func (s *Service) postHook(ctx context.Context, w *Webhook, it *OutboxItem) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, w.Method, w.URL, bytes.NewReader(it.Hook.Body))
	if err != nil {
		return 0, err
	}
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "haul-webhooks/1")
	req.Header.Set("X-Haul-Event", it.Hook.Event)
	req.Header.Set("X-Haul-Delivery", it.Hook.DeliveryID)
	req.Header.Set("X-Haul-Signature", SignWebhook(w.Secret, s.now(), it.Hook.Body))
	res, err := s.hookClient.Do(req)
	if err != nil {
		// The URL may hold a secret (a token in its path): name the host.
		var ue *url.Error
		if errors.As(err, &ue) {
			return 0, fmt.Errorf("%s %s: %w", w.Method, req.URL.Host, ue.Err)
		}
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("the receiver answered %s", res.Status)
	}
	return res.StatusCode, nil
}

// defaultHookClient sends webhook deliveries: redirects are not followed,
// and the address actually dialled (after DNS, so rebinding does not
// help) may not be link-local (cloud metadata services live there),
// unspecified or multicast. Loopback and private addresses stay allowed:
// a studio's own automation lives on its LAN.
func defaultHookClient() *http.Client {
	d := &net.Dialer{Timeout: webhookTimeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip := net.ParseIP(host)
		if ip == nil || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
			return fmt.Errorf("webhooks may not reach %s (link-local, unspecified or multicast)", host)
		}
		return nil
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	tr.Proxy = nil
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
