package httpd

import "haul/core"

// TeamRef is a team as listed in POST /v1/auth.
type TeamRef struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Subdomain string `json:"subdomain"`
}

// TeamResponse is MASV's team object.
type TeamResponse struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	Subdomain            string `json:"subdomain"`
	CustomExpiryEnabled  bool   `json:"custom_expiry_enabled"`
	CustomExpiryDefault  int    `json:"custom_expiry_default"`
	DownloadLimitEnabled bool   `json:"download_limit_enabled"`
	DownloadLimitDefault int    `json:"download_limit_default"`
	MaxEmailRecipients   int    `json:"max_email_recipients"`
	// StorageQuotaBytes is haul's: 0 means no quota.
	StorageQuotaBytes int64 `json:"storage_quota_bytes"`
	CreatedAt         Time  `json:"created_at"`
	UpdatedAt         Time  `json:"updated_at"`
}

func teamView(t *core.Team) TeamResponse {
	return TeamResponse{ID: t.ID, Name: t.Name, Subdomain: t.Subdomain,
		CustomExpiryEnabled: t.CustomExpiryEnabled, CustomExpiryDefault: t.CustomExpiryDefault,
		DownloadLimitEnabled: t.DownloadLimitEnabled, DownloadLimitDefault: t.DownloadLimitDefault,
		MaxEmailRecipients: t.MaxEmailRecipients, StorageQuotaBytes: t.StorageQuotaBytes, CreatedAt: Time(t.CreatedAt), UpdatedAt: Time(t.UpdatedAt)}
}

// UserResponse is the user object of POST /v1/auth.
type UserResponse struct {
	Email    string `json:"email"`
	ID       string `json:"id"`
	Level    string `json:"level"`
	Name     string `json:"name"`
	TimeZone string `json:"time_zone"`
}

func userView(u *core.User) UserResponse {
	return UserResponse{Email: u.Email, ID: u.ID, Level: "user", Name: u.Name, TimeZone: u.TimeZone}
}

// AuthResponse is MASV's login answer; POST /v1/auth answers exactly
// these three keys. haul's own answers built on it (the UI's session
// login, accepting an invitation) add Extra under "haul".
type AuthResponse struct {
	Teams []TeamRef      `json:"teams"`
	Token string         `json:"token"`
	User  UserResponse   `json:"user"`
	Extra *AuthExtraInfo `json:"haul,omitempty"`
}

// AuthExtraInfo is what haul adds to its own login answers, kept apart
// from MASV's fields.
type AuthExtraInfo struct {
	ExpiresAt          Time   `json:"expires_at"`
	MustChangePassword bool   `json:"must_change_password"`
	CSRFToken          string `json:"csrf_token,omitempty"`
}

// authView is MASV's login answer, without haul's extra.
func authView(r *core.LoginResult) AuthResponse {
	out := AuthResponse{Teams: []TeamRef{}, Token: r.Token, User: userView(&r.User)}
	for _, t := range r.Teams {
		out.Teams = append(out.Teams, TeamRef{ID: t.ID, Name: t.Name, Subdomain: t.Subdomain})
	}
	return out
}

// authViewExtra is authView with haul's extra.
func authViewExtra(r *core.LoginResult) AuthResponse {
	out := authView(r)
	out.Extra = &AuthExtraInfo{ExpiresAt: Time(r.ExpiresAt), MustChangePassword: r.User.MustChangePassword, CSRFToken: r.CSRFToken}
	return out
}

// SpaceRef names a teamspace inside a member object.
type SpaceRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// MemberResponse is MASV's membership object.
type MemberResponse struct {
	ID                 string     `json:"id"`
	UserID             string     `json:"user_id"`
	TeamID             string     `json:"team_id"`
	Email              string     `json:"email"`
	Name               string     `json:"name"`
	Approved           bool       `json:"approved"`
	Invited            bool       `json:"invited"`
	InvitedBy          string     `json:"invited_by"`
	InvitationKind     string     `json:"invitation_kind"`
	InvitationSent     Time       `json:"invitation_sent"`
	InvitationAccepted bool       `json:"invitation_accepted"`
	MFAFactors         []string   `json:"mfa_factors"`
	PolicyKey          core.Role  `json:"policy_key"`
	PolicyName         string     `json:"policy_name"`
	Role               core.Role  `json:"role"`
	Teamspaces         []SpaceRef `json:"teamspaces"`
	CreatedAt          Time       `json:"created_at"`
	UpdatedAt          Time       `json:"updated_at"`
}

func memberView(m *core.Member) MemberResponse {
	out := MemberResponse{ID: m.ID, UserID: m.UserID, TeamID: m.TeamID, Email: m.Email, Name: m.Name,
		Approved: m.Approved, Invited: m.Invited, InvitedBy: m.InvitedBy, InvitationKind: m.InvitationKind,
		InvitationSent: Time(m.InvitationSent), InvitationAccepted: m.InvitationAccepted, MFAFactors: []string{},
		PolicyKey: m.Role, PolicyName: m.Role.Name(), Role: m.Role, Teamspaces: []SpaceRef{},
		CreatedAt: Time(m.CreatedAt), UpdatedAt: Time(m.UpdatedAt)}
	for _, sp := range m.Teamspaces {
		out.Teamspaces = append(out.Teamspaces, SpaceRef{ID: sp.ID, Name: sp.Name})
	}
	return out
}

// InvitationResponse is a new member and the link that accepts the
// invitation (shown only now).
type InvitationResponse struct {
	MemberResponse
	InvitationURL       string `json:"invitation_url"`
	InvitationExpiresAt Time   `json:"invitation_expires_at"`
}

// APIKeyResponse is an API key without its secret; Key is set only in the
// answer to its creation.
type APIKeyResponse struct {
	ID          string           `json:"id"`
	TeamID      string           `json:"team_id"`
	UserID      string           `json:"user_id"`
	Name        string           `json:"name"`
	Description string           `json:"description"`
	State       core.APIKeyState `json:"state"`
	Expiry      Time             `json:"expiry"`
	LastUsedAt  Time             `json:"last_used_at"`
	Hint        string           `json:"hint"`
	CreatedAt   Time             `json:"created_at"`
	UpdatedAt   Time             `json:"updated_at"`
	Key         string           `json:"key,omitempty"`
}

func apiKeyView(k *core.APIKey) APIKeyResponse {
	return APIKeyResponse{ID: k.ID, TeamID: k.TeamID, UserID: k.UserID, Name: k.Name, Description: k.Description,
		State: k.State, Expiry: Time(k.Expiry), LastUsedAt: Time(k.LastUsedAt), Hint: k.Hint,
		CreatedAt: Time(k.CreatedAt), UpdatedAt: Time(k.UpdatedAt)}
}

// SpaceMember is a member inside a teamspace object.
type SpaceMember struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

// SpaceResponse is MASV's teamspace object.
type SpaceResponse struct {
	ID        string        `json:"id"`
	TeamID    string        `json:"team_id"`
	Name      string        `json:"name"`
	Members   []SpaceMember `json:"members"`
	CreatedAt Time          `json:"created_at"`
	UpdatedAt Time          `json:"updated_at"`
}

func spaceView(v *core.TeamspaceView) SpaceResponse {
	out := SpaceResponse{ID: v.ID, TeamID: v.TeamID, Name: v.Name, Members: []SpaceMember{},
		CreatedAt: Time(v.CreatedAt), UpdatedAt: Time(v.UpdatedAt)}
	for _, m := range v.Members {
		out.Members = append(out.Members, SpaceMember{ID: m.ID, Name: m.Name, UserID: m.UserID, Email: m.Email})
	}
	return out
}

// EventResponse is one event of the event store.
type EventResponse struct {
	ID        string            `json:"id"`
	TeamID    string            `json:"team_id"`
	Type      string            `json:"type"`
	Actor     EventActor        `json:"actor"`
	ClientIP  string            `json:"client_ip"`
	TargetID  string            `json:"target_id"`
	Details   map[string]string `json:"details"`
	CreatedAt Time              `json:"created_at"`
}

// EventActor says who caused an event.
type EventActor struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Via    string `json:"via"`
}

func eventView(e *core.Event) EventResponse {
	d := e.Details
	if d == nil {
		d = map[string]string{}
	}
	return EventResponse{ID: e.ID, TeamID: e.TeamID, Type: e.Type, Actor: EventActor{UserID: e.ActorUserID, Email: e.ActorEmail, Via: e.Via},
		ClientIP: e.ClientIP, TargetID: e.TargetID, Details: d, CreatedAt: Time(e.CreatedAt)}
}

// ProfileResponse is the caller's own profile.
type ProfileResponse struct {
	UserResponse
	MustChangePassword bool          `json:"must_change_password"`
	CreatedAt          Time          `json:"created_at"`
	Teams              []ProfileTeam `json:"teams"`
}

// ProfileTeam is one of the caller's memberships.
type ProfileTeam struct {
	TeamID     string    `json:"team_id"`
	MemberID   string    `json:"member_id"`
	Role       core.Role `json:"role"`
	PolicyName string    `json:"policy_name"`
	Accepted   bool      `json:"invitation_accepted"`
}
