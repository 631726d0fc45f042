package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"haul/core/notify"
)

// OutboxItem is one message waiting to go out (a mail or a webhook
// delivery), kept in the
// metadata store from the transaction that caused it until it is sent or
// given up: nothing is lost across a restart, and a failed send is tried
// again with backoff.
type OutboxItem struct {
	ID        string       `json:"id"`
	TeamID    string       `json:"team_id"`
	Kind      string       `json:"kind"`  // "mail" or "webhook"
	State     string       `json:"state"` // pending, sent, failed
	Due       time.Time    `json:"due"`
	Attempts  int          `json:"attempts"`
	LastError string       `json:"last_error,omitempty"`
	Mail      *notify.Mail `json:"mail,omitempty"`
	Hook      *HookOut     `json:"hook,omitempty"`
	// Subject names what the item is about (a package, a link), for the
	// delivery list.
	Subject   string    `json:"subject,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	DoneAt    time.Time `json:"done_at,omitzero"`
}

// Outbox states.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
)

// OutboxTx stores the outbox.
type OutboxTx interface {
	Outbox(id string) (*OutboxItem, error)
	PutOutbox(it *OutboxItem) error
	// DueOutbox returns up to limit pending items due at or before now,
	// the earliest first.
	DueOutbox(now time.Time, limit int) ([]*OutboxItem, error)
	// TeamOutbox lists a team's items, newest first.
	TeamOutbox(teamID string) ([]*OutboxItem, error)
}

// Mailer sends a rendered mail (notify.Sender over SMTP).
type Mailer interface {
	Send(ctx context.Context, m *notify.Mail) error
}

// OutboxConfig tunes retries: a failed mail waits RetryBase, doubled each
// time up to RetryMax, and is given up after MaxAttempts.
type OutboxConfig struct {
	RetryBase   time.Duration
	RetryMax    time.Duration
	MaxAttempts int
}

func (c OutboxConfig) withDefaults() OutboxConfig {
	orDefault(&c.RetryBase, 30*time.Second)
	orDefault(&c.RetryMax, time.Hour)
	orDefault(&c.MaxAttempts, 20) // about 17 hours of trying
	return c
}

// enqueueMail renders a mail and adds it to the outbox in tx. Without a
// mailer (mail off) nothing is queued.
func (s *Service) enqueueMail(tx Tx, teamID, subject string, d notify.Data) error {
	if s.mailer == nil || len(d.To) == 0 {
		return nil
	}
	m, err := notify.Render(d)
	if err != nil {
		// A mail that cannot be written must not undo what caused it.
		s.log.Error("a mail could not be rendered and is not sent", "kind", d.Kind, "to", strings.Join(d.To, ","), "err", err)
		return nil
	}
	now := s.now()
	it := &OutboxItem{ID: NewID(), TeamID: teamID, Kind: "mail", State: OutboxPending, Due: now, Mail: m, Subject: subject, CreatedAt: now}
	return tx.PutOutbox(it)
}

// wakeOutbox tells the outbox worker to look for work now (after a
// commit that may have queued some).
func (s *Service) wakeOutbox() {
	select {
	case s.outboxWake <- struct{}{}:
	default:
	}
}

// RunOutbox sends due mails until ctx ends: at once when something was
// queued, else every `every` (retries come due).
func (s *Service) RunOutbox(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.SendDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.outboxWake:
		}
	}
}

// SendDue sends the outbox's due items once, each marked sent, or
// retried later with backoff, or failed after its last attempt. Items go
// out a few at a time, so one slow receiver does not hold up the rest.
func (s *Service) SendDue(ctx context.Context) {
	const parallel = 8
	for ctx.Err() == nil {
		var due []*OutboxItem
		if err := s.store.View(ctx, func(tx Tx) error {
			var err error
			due, err = tx.DueOutbox(s.now(), 50)
			return err
		}); err != nil {
			s.log.WarnContext(ctx, "reading the outbox", "err", err)
			return
		}
		if len(due) == 0 {
			return
		}
		sem := make(chan struct{}, parallel)
		var (
			wg        sync.WaitGroup
			unsettled atomic.Bool
		)
		for _, it := range due {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if !s.settle(ctx, it, s.sendOne(ctx, it)) {
					unsettled.Store(true)
				}
			}()
		}
		wg.Wait()
		if unsettled.Load() {
			// An outcome could not be recorded (the store refuses writes):
			// the items are still due, and sending them again at once would
			// repeat them without end. The next tick tries again.
			return
		}
	}
}

// sendOne makes one attempt at an item.
func (s *Service) sendOne(ctx context.Context, it *OutboxItem) error {
	switch {
	case it.Hook != nil:
		return s.deliverHook(ctx, it)
	case it.Mail != nil && s.mailer != nil:
		return s.mailer.Send(ctx, it.Mail)
	case it.Mail != nil:
		return errors.New("mail is off: set [mail] smtp_host")
	}
	return nil
}

// errGone ends a delivery without sending it (its webhook was deleted or
// turned off meanwhile).
var errGone = errors.New("not sent: the webhook was deleted or turned off")

// settle records the outcome of one send; false when it could not. It
// records even as the worker stops (a mail sent is recorded as sent).
func (s *Service) settle(ctx context.Context, sent *OutboxItem, sendErr error) bool {
	cfg := s.outbox
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.store.Update(ctx, func(tx Tx) error {
		it, err := tx.Outbox(sent.ID)
		if err != nil {
			return err
		}
		if it.State != OutboxPending {
			return nil // settled meanwhile (another sender)
		}
		now := s.now()
		it.Attempts++
		switch {
		case sendErr == nil:
			it.State, it.DoneAt, it.LastError = OutboxSent, now, ""
		case errors.Is(sendErr, errGone), it.Attempts >= cfg.MaxAttempts, it.Hook != nil && it.Attempts >= webhookMaxAttempts:
			it.State, it.DoneAt, it.LastError = OutboxFailed, now, sendErr.Error()
		default:
			wait := cfg.RetryBase << min(it.Attempts-1, 20)
			if wait > cfg.RetryMax || wait <= 0 {
				wait = cfg.RetryMax
			}
			it.Due, it.LastError = now.Add(wait), sendErr.Error()
		}
		if it.State != OutboxPending {
			// Done: the body (links with their secrets, reset links) is
			// not kept; the list shows who, what and when.
			if it.Mail != nil {
				it.Mail.Text, it.Mail.HTML = "", ""
			}
			if it.Hook != nil {
				it.Hook.Body = nil
			}
		}
		return tx.PutOutbox(it)
	})
	if err != nil {
		s.log.WarnContext(ctx, "recording an outgoing "+sent.Kind, "id", sent.ID, "err", err)
	}
	if sendErr != nil {
		s.log.WarnContext(ctx, "an outgoing "+sent.Kind+" failed; it is tried again unless that was the last attempt", "id", sent.ID, "err", sendErr)
	}
	return err == nil
}

// Deliveries lists a team's outgoing mails, newest first, optionally only
// those in one state (owner, admins): failed ones say why.
func (s *Service) Deliveries(ctx context.Context, p *Principal, teamID, state string) ([]*OutboxItem, error) {
	const op = "outbox.list"
	switch state {
	case "", OutboxPending, OutboxSent, OutboxFailed:
	default:
		return nil, Invalidf(op, "state", "state must be pending, sent or failed; got %q", state)
	}
	var out []*OutboxItem
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := s.authorize(tx, op, p, teamID, ActEventList); err != nil {
			return err
		}
		all, err := tx.TeamOutbox(teamID)
		for _, it := range all {
			if state == "" || it.State == state {
				out = append(out, it)
			}
		}
		return err
	})
	return out, Wrap(op, err)
}

// MailOff reports whether haul sends no mail (no SMTP settings).
func (s *Service) MailOff() bool { return s.mailer == nil }

// mailFields formats a form response's answers for a mail's metadata
// block (when the form delivers email_body).
func mailFields(resp *FormResponse) []notify.Field {
	var out []notify.Field
	for _, f := range resp.Definition.Fields {
		v, ok := resp.Values[f.Name]
		if !ok {
			continue
		}
		var text string
		switch x := v.(type) {
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			text = strings.Join(parts, ", ")
		case []string:
			text = strings.Join(x, ", ")
		case float64:
			text = fmt.Sprintf("%.0f", x)
		default:
			text = fmt.Sprint(x)
		}
		out = append(out, notify.Field{Label: f.Label, Value: text})
	}
	return out
}
