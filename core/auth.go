package core

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"
)

// LoginRequest is a password login.
type LoginRequest struct {
	Email    string
	Password string
	ClientIP string
	// Kind is SessionToken for API clients (X-User-Token) or SessionCookie
	// for the UI (a cookie plus a CSRF token).
	Kind SessionKind
}

// LoginResult is what a successful login returns.
type LoginResult struct {
	Token     string
	CSRFToken string // cookie sessions only
	ExpiresAt time.Time
	User      User
	Teams     []Team
}

// Login checks a password and starts a session. Rate limits per client
// address and per account apply before any hashing; an unknown account is
// checked against a dummy hash so both paths cost the same.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	const op = "auth.login"
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if email == "" || req.Password == "" {
		field := "email"
		if email != "" {
			field = "password"
		}
		return nil, Invalidf(op, field, "email and password are required")
	}
	if len(req.Password) > MaxPasswordLen || len(email) > MaxEmailLen {
		return nil, E(op, Unauthenticated, "email or password is incorrect")
	}
	now := s.now()
	if ok, wait := s.ipLimit.Allow(ClientKey(req.ClientIP), now); !ok {
		return nil, rateLimited(op, wait)
	}
	if ok, wait := s.accountLimit.Allow("acct:"+email, now); !ok {
		return nil, rateLimited(op, wait)
	}
	var user *User
	err := s.store.View(ctx, func(tx Tx) error {
		u, err := tx.UserByEmail(email)
		if err == nil {
			user = u
		} else if !Is(err, NotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	encoded := ""
	if user != nil {
		encoded = user.PasswordHash
	}
	ok, err := s.hasher.Check(ctx, encoded, req.Password)
	if err != nil {
		return nil, err
	}
	if !ok {
		s.loginFailed(ctx, user, email, viaFor(req.Kind), req.ClientIP, "login")
		return nil, E(op, Unauthenticated, "email or password is incorrect")
	}
	return s.startSession(ctx, user, req.Kind, req.ClientIP)
}

// loginFailed records a failed password check. Known and unknown accounts
// do the same work, one synced store write, so the time a failure takes
// does not tell whether the account exists: a system event (TeamID "")
// for every failure, plus, for a known account, one event in each of its
// teams. A failure to record is logged, never shown to the client.
func (s *Service) loginFailed(ctx context.Context, user *User, email string, via CredKind, clientIP, during string) {
	p := &Principal{User: User{Email: email}, Via: via, ClientIP: clientIP}
	e := Event{Type: EvLoginFailed, Details: map[string]string{"during": during}}
	if user != nil {
		p.User = *user
		e.TargetID = user.ID
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		if err := s.event(tx, p, e); err != nil {
			return err
		}
		if user == nil {
			return nil
		}
		return s.userEvent(tx, p, user.ID, e)
	})
	if err != nil {
		s.log.WarnContext(ctx, "recording a failed login", "err", err)
	}
	s.log.InfoContext(ctx, "login failed", "client_ip", clientIP, "known_account", user != nil)
}

func rateLimited(op string, wait time.Duration) error {
	secs := int(wait/time.Second) + 1
	return &Error{Op: op, Kind: RateLimited, RetryAfter: secs,
		Msg: "too many login attempts; wait " + time.Duration(secs*int(time.Second)).String() + " and try again"}
}

// startSession records a session for user and signs its token.
func (s *Service) startSession(ctx context.Context, user *User, kind SessionKind, clientIP string) (*LoginResult, error) {
	const op = "auth.session"
	if kind == "" {
		kind = SessionToken
	}
	now := s.now()
	ttl := s.auth.TokenTTL
	if kind == SessionCookie {
		ttl = s.auth.SessionTTL
	}
	sess := &Session{ID: NewID(), UserID: user.ID, Kind: kind, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	res := &LoginResult{ExpiresAt: sess.ExpiresAt, User: *user}
	if kind == SessionCookie {
		res.CSRFToken = RandomToken(24)
		sess.CSRFHash = SHA256(res.CSRFToken)
	}
	p := &Principal{User: *user, Via: viaFor(kind), SessionID: sess.ID, ClientIP: clientIP}
	err := s.store.Update(ctx, func(tx Tx) error {
		res.Teams = res.Teams[:0]
		if err := tx.PutSession(sess); err != nil {
			return err
		}
		teams, err := s.userTeams(tx, user.ID)
		if err != nil {
			return err
		}
		res.Teams = teams
		return s.userEvent(tx, p, user.ID, Event{Type: EvLoginSucceeded, TargetID: user.ID, Details: map[string]string{"session": string(kind)}})
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	res.Token = s.keys.SignToken(Claims{Sub: user.ID, Typ: tokenType(kind), Sid: sess.ID, Iat: now.Unix(), Exp: sess.ExpiresAt.Add(time.Second - 1).Unix()}) // exp rounded up: the session's expiry, checked to the ms, ends it
	return res, nil
}

func viaFor(k SessionKind) CredKind {
	if k == SessionCookie {
		return ViaSession
	}
	return ViaUserToken
}

func tokenType(k SessionKind) string {
	if k == SessionCookie {
		return "session"
	}
	return "user"
}

// userTeams lists the teams whose invitation the user accepted.
func (s *Service) userTeams(tx Tx, userID string) ([]Team, error) {
	ms, err := tx.UserMemberships(userID)
	if err != nil {
		return nil, err
	}
	var teams []Team
	for _, m := range ms {
		if !m.InvitationAccepted {
			continue
		}
		t, err := tx.Team(m.TeamID)
		if err != nil {
			return nil, err
		}
		teams = append(teams, *t)
	}
	return teams, nil
}

// Credentials are what a request presents. At most one of APIKey,
// UserToken and Cookie is used, in that order.
type Credentials struct {
	APIKey    string
	UserToken string
	Cookie    string
	// CSRFToken must match the cookie session's on unsafe methods.
	CSRFToken string
	// Unsafe is true for methods that change state (POST, PUT, DELETE...).
	Unsafe   bool
	ClientIP string
}

// Present reports whether any credential was sent.
func (c Credentials) Present() bool { return c.APIKey != "" || c.UserToken != "" || c.Cookie != "" }

// apiKeyTouchEvery bounds how often last_used_at is written.
const apiKeyTouchEvery = time.Minute

// Authenticate turns request credentials into a Principal.
func (s *Service) Authenticate(ctx context.Context, c Credentials) (*Principal, error) {
	const op = "auth.authenticate"
	switch {
	case c.APIKey != "":
		return s.authAPIKey(ctx, c)
	case c.UserToken != "":
		return s.authSession(ctx, c.UserToken, SessionToken, c)
	case c.Cookie != "":
		return s.authSession(ctx, c.Cookie, SessionCookie, c)
	}
	return nil, E(op, Unauthenticated, "authentication required: send X-API-KEY or X-User-Token")
}

func (s *Service) authAPIKey(ctx context.Context, c Credentials) (*Principal, error) {
	const op = "auth.api_key"
	bad := E(op, Unauthenticated, "the API key is not valid (unknown, deleted, inactive or expired); create a new key or ask its owner")
	if !strings.HasPrefix(c.APIKey, APIKeyPrefix) {
		return nil, bad
	}
	now := s.now()
	var key *APIKey
	var user *User
	err := s.store.View(ctx, func(tx Tx) error {
		k, err := tx.APIKeyByHash(SHA256(c.APIKey))
		if err != nil {
			return err
		}
		m, err := tx.MembershipOf(k.TeamID, k.UserID)
		if err != nil {
			return err
		}
		if !m.InvitationAccepted {
			return E(op, NotFound, "membership not accepted")
		}
		u, err := tx.User(k.UserID)
		if err != nil {
			return err
		}
		key, user = k, u
		return nil
	})
	if Is(err, NotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, Wrap(op, err)
	}
	if key.State != KeyActive || (!key.Expiry.IsZero() && !now.Before(key.Expiry)) {
		return nil, bad
	}
	if now.Sub(key.LastUsedAt) >= apiKeyTouchEvery {
		err := s.store.Update(ctx, func(tx Tx) error {
			k, err := tx.APIKey(key.ID)
			if err != nil {
				return err
			}
			k.LastUsedAt = now
			return tx.PutAPIKey(k)
		})
		if err != nil && !Is(err, NotFound) {
			s.log.WarnContext(ctx, "recording API key use", "key_id", key.ID, "err", err)
		}
	}
	return &Principal{User: *user, Via: ViaAPIKey, APIKeyID: key.ID, APIKeyTeamID: key.TeamID, ClientIP: c.ClientIP}, nil
}

func (s *Service) authSession(ctx context.Context, token string, kind SessionKind, c Credentials) (*Principal, error) {
	const op = "auth.session"
	now := s.now()
	// The signature is checked first, the expiry after the session is
	// read, so an expired token still names the session to clean up.
	claims, err := s.keys.verifyToken(token, tokenType(kind))
	if err != nil {
		return nil, err
	}
	gone := E(op, Unauthenticated, "the session ended (logged out, password changed or expired); log in again")
	var sess *Session
	var user *User
	err = s.store.View(ctx, func(tx Tx) error {
		se, err := tx.Session(claims.Sid)
		if err != nil {
			return err
		}
		u, err := tx.User(se.UserID)
		if err != nil {
			return err
		}
		sess, user = se, u
		return nil
	})
	if Is(err, NotFound) {
		if now.Unix() >= claims.Exp {
			return nil, errTokenExpired()
		}
		return nil, gone
	}
	if err != nil {
		return nil, Wrap(op, err)
	}
	if sess.UserID != claims.Sub || sess.Kind != kind {
		return nil, gone
	}
	if !now.Before(sess.ExpiresAt) {
		s.dropExpiredSession(ctx, sess.ID, now)
	}
	if now.Unix() >= claims.Exp {
		return nil, errTokenExpired()
	}
	if !now.Before(sess.ExpiresAt) {
		return nil, gone
	}
	if kind == SessionCookie && c.Unsafe {
		want := sess.CSRFHash
		got := SHA256(c.CSRFToken)
		if c.CSRFToken == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return nil, E(op, Forbidden, "missing or wrong CSRF token: send the X-CSRF-Token header given at login")
		}
	}
	return &Principal{User: *user, Via: viaFor(kind), SessionID: sess.ID, ClientIP: c.ClientIP}, nil
}

// dropExpiredSession deletes a session found expired, best effort: a
// failure is logged and the sweeper (RunSessionSweeper) gets it later.
func (s *Service) dropExpiredSession(ctx context.Context, id string, now time.Time) {
	err := s.store.Update(ctx, func(tx Tx) error {
		se, err := tx.Session(id)
		if err != nil {
			return err
		}
		if now.Before(se.ExpiresAt) {
			return nil
		}
		return tx.DeleteSession(id)
	})
	if err != nil && !Is(err, NotFound) {
		s.log.WarnContext(ctx, "deleting an expired session", "err", err)
	}
}

// Logout ends the principal's session. API keys have no session to end.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	const op = "auth.logout"
	if err := requireUserCredential(op, p); err != nil {
		return err
	}
	return Wrap(op, s.store.Update(ctx, func(tx Tx) error {
		if err := tx.DeleteSession(p.SessionID); err != nil && !Is(err, NotFound) {
			return err
		}
		return s.userEvent(tx, p, p.User.ID, Event{Type: EvLogout, TargetID: p.User.ID})
	}))
}

// Profile is the caller's own user and memberships.
type Profile struct {
	User        User
	Memberships []Membership
}

// GetProfile returns the caller's profile. API keys may read it.
func (s *Service) GetProfile(ctx context.Context, p *Principal) (*Profile, error) {
	const op = "user.profile"
	if p == nil {
		return nil, E(op, Unauthenticated, "authentication required")
	}
	var out Profile
	err := s.store.View(ctx, func(tx Tx) error {
		u, err := tx.User(p.User.ID)
		if err != nil {
			return err
		}
		out.User = *u
		ms, err := tx.UserMemberships(u.ID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if p.Via == ViaAPIKey && m.TeamID != p.APIKeyTeamID {
				continue
			}
			out.Memberships = append(out.Memberships, *m)
		}
		return nil
	})
	return &out, Wrap(op, err)
}

// ProfileUpdate changes the caller's own profile; nil fields are kept.
type ProfileUpdate struct {
	Name     *string
	TimeZone *string
}

// UpdateProfile changes the caller's name or time zone. API keys may not.
func (s *Service) UpdateProfile(ctx context.Context, p *Principal, up ProfileUpdate) (*User, error) {
	const op = "user.update_profile"
	if err := requireUserCredential(op, p); err != nil {
		return nil, err
	}
	if err := requirePasswordChanged(op, p); err != nil {
		return nil, err
	}
	if up.Name != nil {
		n, err := CheckName(op, "name", *up.Name)
		if err != nil {
			return nil, err
		}
		up.Name = &n
	}
	if up.TimeZone != nil {
		if err := CheckTimeZone(op, "time_zone", *up.TimeZone); err != nil {
			return nil, err
		}
	}
	var out *User
	err := s.store.Update(ctx, func(tx Tx) error {
		u, err := tx.User(p.User.ID)
		if err != nil {
			return err
		}
		if up.Name != nil {
			u.Name = *up.Name
		}
		if up.TimeZone != nil {
			u.TimeZone = *up.TimeZone
		}
		u.UpdatedAt = s.now()
		out = u
		if err := tx.PutUser(u); err != nil {
			return err
		}
		return s.userEvent(tx, p, u.ID, Event{Type: EvProfileUpdated, TargetID: u.ID})
	})
	return out, Wrap(op, err)
}

// ChangePassword sets a new password after checking the current one. Every
// other session of the user ends; the caller's own stays.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, next string) error {
	const op = "user.change_password"
	if err := requireUserCredential(op, p); err != nil {
		return err
	}
	if current == "" {
		return Invalidf(op, "current_password", "current_password is required")
	}
	if err := CheckPassword(op, "new_password", next); err != nil {
		return err
	}
	if current == next {
		return Invalidf(op, "new_password", "new_password must differ from the current password")
	}
	if ok, wait := s.accountLimit.Allow("acct:"+p.User.Email, s.now()); !ok {
		return rateLimited(op, wait)
	}
	var stored string
	if err := s.store.View(ctx, func(tx Tx) error {
		u, err := tx.User(p.User.ID)
		if err == nil {
			stored = u.PasswordHash
		}
		return err
	}); err != nil {
		return Wrap(op, err)
	}
	ok, err := s.hasher.Check(ctx, stored, current)
	if err != nil {
		return err
	}
	if !ok {
		return E(op, Forbidden, "current_password is incorrect")
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	return Wrap(op, s.store.Update(ctx, func(tx Tx) error {
		u, err := tx.User(p.User.ID)
		if err != nil {
			return err
		}
		// The current password was checked against stored; if it changed
		// since (another session, haul admin), that check proves nothing.
		if u.PasswordHash != stored {
			return E(op, Conflict, "password changed meanwhile; try again")
		}
		u.PasswordHash = hash
		u.MustChangePassword = false
		u.CredentialsChangedAt = s.now()
		u.UpdatedAt = u.CredentialsChangedAt
		if err := tx.PutUser(u); err != nil {
			return err
		}
		var keep *Session
		if p.SessionID != "" {
			if se, err := tx.Session(p.SessionID); err == nil {
				keep = se
			}
		}
		if err := tx.DeleteUserSessions(u.ID); err != nil {
			return err
		}
		if keep != nil {
			if err := tx.PutSession(keep); err != nil {
				return err
			}
		}
		return s.userEvent(tx, p, u.ID, Event{Type: EvPasswordChanged, TargetID: u.ID})
	}))
}
