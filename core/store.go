package core

import "context"

// Store is the metadata store core consumes. Update runs fn in one
// read-write transaction and commits it durably (synced) if fn returns nil;
// on a write conflict it runs fn again, so fn must not have side effects
// outside the transaction. View runs fn in a read-only snapshot.
//
// Every Tx method returns an *Error of Kind NotFound for a missing record,
// Exists for a broken uniqueness rule, and wraps anything else as Internal.
// Records handed out are copies: changing them changes nothing stored until
// they are Put back.
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
}

// Tx is one transaction over the metadata. Lists are returned in id order
// (ULIDs, so creation order).
type Tx interface {
	TeamTx
	UserTx
	MembershipTx
	APIKeyTx
	TeamspaceTx
	SessionTx
	EventTx
	KeyringTx
	BlockTx
	BlockCVTx
	PackageTx
	FileTx
	PartTx
	LinkTx
	ActivityTx
	PortalTx
	AssetTx
	FormTx
	OutboxTx
	WebhookTx
	PasswordResetTx
}

// TeamTx stores teams. Team subdomains are unique.
type TeamTx interface {
	Team(id string) (*Team, error)
	PutTeam(t *Team) error
	// Teams calls fn for every team until fn returns false.
	Teams(fn func(*Team) bool) error
}

// UserTx stores users. Emails are unique (compared lower-cased).
type UserTx interface {
	User(id string) (*User, error)
	UserByEmail(email string) (*User, error)
	PutUser(u *User) error
	// Users calls fn for every user until fn returns false.
	Users(fn func(*User) bool) error
	// CountUsers returns how many users exist.
	CountUsers() (int, error)
}

// MembershipTx stores memberships. A user has at most one per team.
type MembershipTx interface {
	Membership(id string) (*Membership, error)
	MembershipOf(teamID, userID string) (*Membership, error)
	MembershipByInvite(tokenHash Hash) (*Membership, error)
	PutMembership(m *Membership) error
	DeleteMembership(id string) error
	TeamMemberships(teamID string) ([]*Membership, error)
	UserMemberships(userID string) ([]*Membership, error)
}

// APIKeyTx stores API keys, found by id or by the hash of their secret.
type APIKeyTx interface {
	APIKey(id string) (*APIKey, error)
	APIKeyByHash(h Hash) (*APIKey, error)
	PutAPIKey(k *APIKey) error
	DeleteAPIKey(id string) error
	TeamAPIKeys(teamID string) ([]*APIKey, error)
}

// TeamspaceTx stores teamspaces.
type TeamspaceTx interface {
	Teamspace(id string) (*Teamspace, error)
	PutTeamspace(s *Teamspace) error
	DeleteTeamspace(id string) error
	TeamTeamspaces(teamID string) ([]*Teamspace, error)
}

// SessionTx stores login sessions.
type SessionTx interface {
	Session(id string) (*Session, error)
	PutSession(s *Session) error
	DeleteSession(id string) error
	// DeleteUserSessions removes every session of the user.
	DeleteUserSessions(userID string) error
	// Sessions calls fn for every session until fn returns false.
	Sessions(fn func(*Session) bool) error
}

// SystemEvents is the TeamID of system events: those about no team, such
// as a failed login for an email that has no account.
const SystemEvents = ""

// EventQuery selects events of one team (or the system events), newest
// first unless OldestFirst.
type EventQuery struct {
	TeamID      string   // SystemEvents ("") for the system events
	Types       []string // empty = all
	Offset      int
	Limit       int
	OldestFirst bool
}

// EventTx appends to and reads the event store. An event whose TeamID is
// SystemEvents is a system event.
type EventTx interface {
	AddEvent(e *Event) error
	// Events returns one page of matching events, newest first (oldest
	// first with q.OldestFirst), and the total number of matches.
	Events(q EventQuery) ([]*Event, int, error)
}

// KeyringTx stores the signing keyring.
type KeyringTx interface {
	SigningKeys() ([]SigningKey, error) // empty, not NotFound, when none
	PutSigningKeys(keys []SigningKey) error
}
