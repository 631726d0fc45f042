package core

import (
	"slices"
	"time"
)

// Role is a user's role in one team. A user holds exactly one role per team.
type Role string

const (
	RoleOwner              Role = "owner"
	RoleAdmin              Role = "admin"
	RoleIntegrationManager Role = "integration_manager"
	RoleMember             Role = "member"
	RoleGuest              Role = "guest"
)

// Roles lists every role, most powerful first.
var Roles = []Role{RoleOwner, RoleAdmin, RoleIntegrationManager, RoleMember, RoleGuest}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Name is the human name of the role, as MASV's policy_name.
func (r Role) Name() string {
	switch r {
	case RoleOwner:
		return "Owner"
	case RoleAdmin:
		return "Admin"
	case RoleIntegrationManager:
		return "Integration Manager"
	case RoleMember:
		return "Member"
	case RoleGuest:
		return "Guest"
	}
	return string(r)
}

// Team is the root scope of ownership and configuration.
type Team struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	Subdomain            string `json:"subdomain"`
	CustomExpiryEnabled  bool   `json:"custom_expiry_enabled"`
	CustomExpiryDefault  int    `json:"custom_expiry_default"`
	DownloadLimitEnabled bool   `json:"download_limit_enabled"`
	DownloadLimitDefault int    `json:"download_limit_default"`
	MaxEmailRecipients   int    `json:"max_email_recipients"`
	// StorageQuotaBytes bounds what the team stores (finalized files of
	// packages neither expired nor archived) plus what its uploads in
	// progress have declared; 0 means no quota.
	StorageQuotaBytes int64 `json:"storage_quota_bytes"`
	// BlockKey keys the BLAKE3 addresses of the team's blocks in the chunk
	// store, so teams never share blocks. It is secret: knowing it lets
	// one probe which blocks the team stores.
	BlockKey  Hash      `json:"block_key"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// User is a person who can log in. Email is stored lower-cased and unique.
type User struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	TimeZone string `json:"time_zone"`
	// PasswordHash is an argon2id PHC string; empty until an invited user
	// sets a password.
	PasswordHash string `json:"password_hash"`
	// MustChangePassword is set on a generated password, so the UI asks
	// for a new one at first login.
	MustChangePassword bool `json:"must_change_password"`
	// CredentialsChangedAt invalidates every session started before it
	// (password change or reset).
	CredentialsChangedAt time.Time `json:"credentials_changed_at"`
	CreatedAt            time.Time `json:"created_at"`
	UpdatedAt            time.Time `json:"updated_at"`
}

// Membership ties a User to a Team with a Role. Its ID is the "member id"
// of MASV's API (access_list, member_ids), distinct from the user id.
type Membership struct {
	ID                 string    `json:"id"`
	TeamID             string    `json:"team_id"`
	UserID             string    `json:"user_id"`
	Role               Role      `json:"role"`
	Approved           bool      `json:"approved"`
	Invited            bool      `json:"invited"`
	InvitedBy          string    `json:"invited_by"` // user id
	InvitationKind     string    `json:"invitation_kind"`
	InvitationSent     time.Time `json:"invitation_sent"`
	InvitationAccepted bool      `json:"invitation_accepted"`
	// InviteTokenHash is the SHA-256 of the invitation token; empty once
	// the invitation is accepted.
	InviteTokenHash Hash      `json:"invite_token_hash"`
	InviteExpiresAt time.Time `json:"invite_expires_at"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// APIKeyState is active or inactive.
type APIKeyState string

const (
	KeyActive   APIKeyState = "active"
	KeyInactive APIKeyState = "inactive"
)

// APIKey acts with exactly the rights of its user in its team. Only the
// SHA-256 of the secret is stored.
type APIKey struct {
	ID          string      `json:"id"`
	TeamID      string      `json:"team_id"`
	UserID      string      `json:"user_id"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Hint        string      `json:"hint"` // the first characters of the secret, for recognition
	Hash        Hash        `json:"hash"`
	State       APIKeyState `json:"state"`
	Expiry      time.Time   `json:"expiry"` // zero = never
	LastUsedAt  time.Time   `json:"last_used_at"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

// Teamspace is a group of members of one team. MemberIDs are membership ids.
type Teamspace struct {
	ID        string    `json:"id"`
	TeamID    string    `json:"team_id"`
	Name      string    `json:"name"`
	MemberIDs []string  `json:"member_ids"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SessionKind tells how a session's token travels.
type SessionKind string

const (
	SessionToken  SessionKind = "token"  // X-User-Token from POST /v1/auth
	SessionCookie SessionKind = "cookie" // the UI's cookie, with a CSRF token
)

// Session is one login. A user token names its session, so logout and
// password changes revoke tokens before they expire.
type Session struct {
	ID        string      `json:"id"`
	UserID    string      `json:"user_id"`
	Kind      SessionKind `json:"kind"`
	CSRFHash  Hash        `json:"csrf_hash"` // cookie sessions only
	CreatedAt time.Time   `json:"created_at"`
	ExpiresAt time.Time   `json:"expires_at"`
}

// Event is one entry of the product's event store (MASV's activities):
// security events now, transfer events later.
type Event struct {
	ID          string            `json:"id"`
	TeamID      string            `json:"team_id"`
	Type        string            `json:"type"`
	ActorUserID string            `json:"actor_user_id"`
	ActorEmail  string            `json:"actor_email"`
	Via         string            `json:"via"` // api_key, user_token, session, cli, system
	ClientIP    string            `json:"client_ip"`
	TargetID    string            `json:"target_id"`
	Details     map[string]string `json:"details,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
}

// Event types.
const (
	EvLoginSucceeded       = "auth.login"
	EvLoginFailed          = "auth.login_failed"
	EvLogout               = "auth.logout"
	EvPasswordChanged      = "user.password_changed"
	EvPasswordReset        = "user.password_reset"
	EvProfileUpdated       = "user.profile_updated"
	EvTeamUpdated          = "team.updated"
	EvOwnershipTransferred = "team.ownership_transferred"
	EvMemberInvited        = "member.invited"
	EvMemberJoined         = "member.joined"
	EvMemberRoleChanged    = "member.role_changed"
	EvMemberRemoved        = "member.removed"
	EvAPIKeyCreated        = "api_key.created"
	EvAPIKeyUpdated        = "api_key.updated"
	EvAPIKeyDeleted        = "api_key.deleted"
	EvTeamspaceCreated     = "teamspace.created"
	EvTeamspaceUpdated     = "teamspace.updated"
	EvTeamspaceDeleted     = "teamspace.deleted"
	EvSigningKeysRotated   = "system.keys_rotated"
	EvPackageCreated       = "package.created"
	EvPackageFinalized     = "package.finalized"
	EvPackageArchived      = "package.archived"
	EvPackageExpired       = "package.expired"
	EvUploadAbandoned      = "file.upload_abandoned"
	EvLinkCreated          = "link.created"
	EvLinkDisabled         = "link.disabled"
	EvPortalCreated        = "portal.created"
	EvPortalUpdated        = "portal.updated"
	EvPortalDeleted        = "portal.deleted"
	EvPortalPackageCreated = "portal.package_created"
	EvWebhookCreated       = "webhook.created"
	EvWebhookDeleted       = "webhook.deleted"
)

// SigningKey is one HMAC key of the keyring that signs tokens and URLs.
type SigningKey struct {
	ID        string    `json:"id"`
	Secret    []byte    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
	// RetiredAt is set when a newer key replaced this one; it still
	// verifies signatures until RetiredAt + MaxSignatureLifetime.
	RetiredAt time.Time `json:"retired_at"`
}
