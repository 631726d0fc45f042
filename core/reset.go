package core

import (
	"context"
	"time"

	"haul/core/notify"
)

// PasswordReset is a pending password reset: a single-use token (only its
// SHA-256 is kept) mailed to the account's address.
type PasswordReset struct {
	TokenHash Hash      `json:"token_hash"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
}

// PasswordResetTx stores password resets by token hash.
type PasswordResetTx interface {
	PasswordReset(h Hash) (*PasswordReset, error)
	PutPasswordReset(r *PasswordReset) error
}

// resetTTL is how long a reset link works.
const resetTTL = time.Hour

// RequestPasswordReset mails a reset link to the account with that email,
// if there is one with a password. The answer never says whether there is
// (accounts are not revealed); attempts are rate limited like logins.
func (s *Service) RequestPasswordReset(ctx context.Context, email, clientIP string) error {
	const op = "auth.reset_request"
	now := s.now()
	if ok, wait := s.ipLimit.Allow(ClientKey(clientIP), now); !ok {
		return rateLimited(op, wait)
	}
	e, err := NormalizeEmail(op, "email", email)
	if err != nil {
		return err
	}
	if ok, wait := s.accountLimit.Allow("reset:"+e, now); !ok {
		return rateLimited(op, wait)
	}
	if s.mailer == nil {
		return E(op, Unavailable, "mail is off on this haul: ask an administrator to run haul admin reset-password")
	}
	token := RandomToken(32)
	err = s.store.Update(ctx, func(tx Tx) error {
		u, err := tx.UserByEmail(e)
		if Is(err, NotFound) || (err == nil && u.PasswordHash == "") {
			return nil // nothing to say either way
		}
		if err != nil {
			return err
		}
		r := &PasswordReset{TokenHash: SHA256(token), UserID: u.ID, ExpiresAt: now.Add(resetTTL), CreatedAt: now}
		if err := tx.PutPasswordReset(r); err != nil {
			return err
		}
		team := ""
		if ms, err := tx.UserMemberships(u.ID); err == nil && len(ms) > 0 {
			team = ms[0].TeamID
		}
		return s.enqueueMail(tx, team, u.ID, notify.Data{Kind: notify.KindPasswordReset, To: []string{u.Email},
			LinkURL: s.publicURL + "/password_reset/" + token, Expiry: r.ExpiresAt})
	})
	if err != nil {
		return Wrap(op, err)
	}
	s.wakeOutbox()
	return nil
}

// ResetPasswordWithToken sets a new password with a reset token (single use,
// expiring): every session of the account ends.
func (s *Service) ResetPasswordWithToken(ctx context.Context, token, password, clientIP string) error {
	const op = "auth.reset"
	if err := CheckPassword(op, "password", password); err != nil {
		return err
	}
	if ok, wait := s.ipLimit.Allow(ClientKey(clientIP), s.now()); !ok {
		return rateLimited(op, wait)
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return Wrap(op, err)
	}
	gone := E(op, Gone, "this reset link was used already or has expired: ask for a new one")
	err = s.store.Update(ctx, func(tx Tx) error {
		r, err := tx.PasswordReset(SHA256(token))
		if Is(err, NotFound) {
			return gone
		}
		if err != nil {
			return err
		}
		now := s.now()
		if !r.UsedAt.IsZero() || !now.Before(r.ExpiresAt) {
			return gone
		}
		u, err := tx.User(r.UserID)
		if err != nil {
			return err
		}
		if r.CreatedAt.Before(u.CredentialsChangedAt) {
			return gone // the password changed since the link was sent
		}
		u.PasswordHash, u.MustChangePassword, u.CredentialsChangedAt, u.UpdatedAt = hash, false, now, now
		if err := tx.PutUser(u); err != nil {
			return err
		}
		r.UsedAt = now
		if err := tx.PutPasswordReset(r); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(u.ID); err != nil {
			return err
		}
		return s.userEvent(tx, nil, u.ID, Event{Type: EvPasswordReset, TargetID: u.ID, Via: "reset_link", ClientIP: clientIP})
	})
	return Wrap(op, err)
}
