package core

import (
	"context"
	"haul/core/notify"
	"strings"
	"time"
)

// Teams lists the caller's teams. An API key sees only its own team.
func (s *Service) Teams(ctx context.Context, p *Principal) ([]Team, error) {
	const op = "team.list"
	if p == nil {
		return nil, E(op, Unauthenticated, "authentication required")
	}
	if err := requirePasswordChanged(op, p); err != nil {
		return nil, err
	}
	var out []Team
	err := s.store.View(ctx, func(tx Tx) error {
		teams, err := s.userTeams(tx, p.User.ID)
		for _, t := range teams {
			if p.Via != ViaAPIKey || t.ID == p.APIKeyTeamID {
				out = append(out, t)
			}
		}
		return err
	})
	return out, Wrap(op, err)
}

// Team returns one team the caller belongs to.
func (s *Service) Team(ctx context.Context, p *Principal, teamID string) (*Team, error) {
	const op = "team.get"
	var out *Team
	err := s.store.View(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActTeamRead)
		if err == nil {
			out = a.team
		}
		return err
	})
	return out, Wrap(op, err)
}

// TeamUpdate changes a team's settings; nil fields are kept.
type TeamUpdate struct {
	Name                 *string
	CustomExpiryEnabled  *bool
	CustomExpiryDefault  *int
	DownloadLimitEnabled *bool
	DownloadLimitDefault *int
	MaxEmailRecipients   *int
	// StorageQuotaBytes: 0 removes the quota.
	StorageQuotaBytes *int64
}

func intIn(op, field string, v *int, lo, hi int) error {
	if v != nil && (*v < lo || *v > hi) {
		return Invalidf(op, field, "%s must be between %d and %d (got %d)", field, lo, hi, *v)
	}
	return nil
}

// UpdateTeam changes team settings (owner and admins).
func (s *Service) UpdateTeam(ctx context.Context, p *Principal, teamID string, up TeamUpdate) (*Team, error) {
	const op = "team.update"
	if up.Name != nil {
		n, err := CheckName(op, "name", *up.Name)
		if err != nil {
			return nil, err
		}
		up.Name = &n
	}
	for _, c := range []struct {
		field  string
		v      *int
		lo, hi int
	}{
		{"custom_expiry_default", up.CustomExpiryDefault, 1, 65535},
		{"download_limit_default", up.DownloadLimitDefault, 1, 1_000_000},
		{"max_email_recipients", up.MaxEmailRecipients, 1, 1000},
	} {
		if err := intIn(op, c.field, c.v, c.lo, c.hi); err != nil {
			return nil, err
		}
	}
	if up.StorageQuotaBytes != nil && *up.StorageQuotaBytes < 0 {
		return nil, Invalidf(op, "storage_quota_bytes", "storage_quota_bytes must be 0 (no quota) or a number of bytes")
	}
	var out *Team
	err := s.store.Update(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActTeamUpdate)
		if err != nil {
			return err
		}
		t := a.team
		set(&t.Name, up.Name)
		set(&t.CustomExpiryEnabled, up.CustomExpiryEnabled)
		set(&t.CustomExpiryDefault, up.CustomExpiryDefault)
		set(&t.DownloadLimitEnabled, up.DownloadLimitEnabled)
		set(&t.DownloadLimitDefault, up.DownloadLimitDefault)
		set(&t.MaxEmailRecipients, up.MaxEmailRecipients)
		set(&t.StorageQuotaBytes, up.StorageQuotaBytes)
		t.UpdatedAt = s.now()
		if err := tx.PutTeam(t); err != nil {
			return err
		}
		out = t
		return s.event(tx, p, Event{TeamID: teamID, Type: EvTeamUpdated, TargetID: teamID})
	})
	return out, Wrap(op, err)
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Member is a membership with the user and teamspaces it refers to.
type Member struct {
	Membership
	Email      string
	Name       string
	InvitedBy  string // email of the inviter
	Teamspaces []Teamspace
}

func (s *Service) member(tx Tx, m *Membership, spaces []*Teamspace) (Member, error) {
	u, err := tx.User(m.UserID)
	if err != nil {
		return Member{}, err
	}
	out := Member{Membership: *m, Email: u.Email, Name: u.Name}
	if m.InvitedBy != "" {
		if by, err := tx.User(m.InvitedBy); err == nil {
			out.InvitedBy = by.Email
		}
	}
	for _, sp := range spaces {
		for _, id := range sp.MemberIDs {
			if id == m.ID {
				out.Teamspaces = append(out.Teamspaces, *sp)
			}
		}
	}
	return out, nil
}

// Members lists a team's memberships.
func (s *Service) Members(ctx context.Context, p *Principal, teamID string) ([]Member, error) {
	const op = "member.list"
	var out []Member
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := s.authorize(tx, op, p, teamID, ActMemberList); err != nil {
			return err
		}
		ms, err := tx.TeamMemberships(teamID)
		if err != nil {
			return err
		}
		spaces, err := tx.TeamTeamspaces(teamID)
		if err != nil {
			return err
		}
		out = make([]Member, 0, len(ms))
		for _, m := range ms {
			v, err := s.member(tx, m, spaces)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, Wrap(op, err)
}

// AddMemberRequest invites someone into a team.
type AddMemberRequest struct {
	Email string
	Name  string
	Role  Role
}

// Invitation is a new membership and the link that accepts it. The link
// holds a secret and is shown only now.
type Invitation struct {
	Member    Member
	URL       string
	Token     string
	ExpiresAt time.Time
}

// AddMember invites a person (new or already a user) into the team with a
// role. Owner and admins only; the owner role is given only by transfer.
func (s *Service) AddMember(ctx context.Context, p *Principal, teamID string, req AddMemberRequest) (*Invitation, error) {
	const op = "member.add"
	email, err := NormalizeEmail(op, "email", req.Email)
	if err != nil {
		return nil, err
	}
	if req.Role == "" {
		req.Role = RoleMember
	}
	if !req.Role.Valid() {
		return nil, Invalidf(op, "role", "role %q is not one of admin, integration_manager, member, guest", req.Role)
	}
	if req.Role == RoleOwner {
		return nil, Invalidf(op, "role", "a team has exactly one owner; invite as admin, then transfer ownership")
	}
	name := strings.TrimSpace(req.Name)
	if err := CheckText(op, "name", name, MaxNameLen); err != nil {
		return nil, err
	}
	token := RandomToken(24)
	now := s.now()
	inv := &Invitation{Token: token, ExpiresAt: now.Add(s.auth.InviteTTL), URL: strings.TrimRight(s.publicURL, "/") + "/invitations/" + token}
	err = s.store.Update(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActMemberAdd)
		if err != nil {
			return err
		}
		u, err := tx.UserByEmail(email)
		if Is(err, NotFound) {
			u = &User{ID: NewID(), Email: email, Name: name, CreatedAt: now, UpdatedAt: now}
			if err := tx.PutUser(u); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if _, err := tx.MembershipOf(teamID, u.ID); err == nil {
			return E(op, Exists, "%s is already a member of this team (or invited)", email)
		} else if !Is(err, NotFound) {
			return err
		}
		m := &Membership{
			ID: NewID(), TeamID: teamID, UserID: u.ID, Role: req.Role, Approved: true,
			Invited: true, InvitedBy: p.User.ID, InvitationKind: "email", InvitationSent: now,
			InviteTokenHash: SHA256(token), InviteExpiresAt: inv.ExpiresAt, CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.PutMembership(m); err != nil {
			return err
		}
		v, err := s.member(tx, m, nil)
		if err != nil {
			return err
		}
		inv.Member = v
		if err := s.enqueueMail(tx, teamID, m.ID, notify.Data{Kind: notify.KindInvitation, To: []string{email}, TeamName: a.team.Name,
			Sender: p.User.Email, LinkURL: inv.URL, Expiry: inv.ExpiresAt}); err != nil {
			return err
		}
		return s.event(tx, p, Event{TeamID: teamID, Type: EvMemberInvited, TargetID: m.ID,
			Details: map[string]string{"email": email, "role": string(req.Role)}})
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	s.wakeOutbox()
	return inv, nil
}

// InvitationInfo is what an invitation link shows before it is accepted.
type InvitationInfo struct {
	TeamName string
	Email    string
	Role     Role
	// ExistingUser is true when the invited email already has an account
	// with a password: accepting then needs that password (or a login as
	// that account). Otherwise the new user chooses a password.
	ExistingUser bool
	ExpiresAt    time.Time
}

func (s *Service) invitation(tx Tx, op, token string) (*Membership, *User, error) {
	m, err := tx.MembershipByInvite(SHA256(token))
	if Is(err, NotFound) {
		return nil, nil, E(op, NotFound, "this invitation link is not valid or was already used")
	}
	if err != nil {
		return nil, nil, err
	}
	if !s.now().Before(m.InviteExpiresAt) {
		return nil, nil, E(op, Expired, "this invitation expired on %s; ask the team's owner or an admin to invite you again", m.InviteExpiresAt.Format(time.RFC1123))
	}
	u, err := tx.User(m.UserID)
	return m, u, err
}

// LookupInvitation describes a pending invitation.
func (s *Service) LookupInvitation(ctx context.Context, token string) (*InvitationInfo, error) {
	const op = "invitation.get"
	var out *InvitationInfo
	err := s.store.View(ctx, func(tx Tx) error {
		m, u, err := s.invitation(tx, op, token)
		if err != nil {
			return err
		}
		t, err := tx.Team(m.TeamID)
		if err != nil {
			return err
		}
		out = &InvitationInfo{TeamName: t.Name, Email: u.Email, Role: m.Role, ExistingUser: u.PasswordHash != "", ExpiresAt: m.InviteExpiresAt}
		return nil
	})
	return out, Wrap(op, err)
}

// AcceptInvitationRequest accepts an invitation.
type AcceptInvitationRequest struct {
	Token string
	// Name is a new user's name; an existing user's name is never changed.
	Name string
	// Password is the password a new user chooses, or an existing user's
	// current password, which proves the account.
	Password string
	ClientIP string
	// Principal is the caller's login, if any: a user token or session of
	// the invited account proves it in place of the password.
	Principal *Principal
}

// AcceptInvitation joins the team and returns a session. The token proves
// the email address only: a new user (no password yet) chooses a password
// now, but an existing user must prove the account, with its password
// (rate limited like a login) or by being logged in as it, so that an
// invitation cannot hand someone else's account to whoever holds the link.
func (s *Service) AcceptInvitation(ctx context.Context, req AcceptInvitationRequest) (*LoginResult, error) {
	const op = "invitation.accept"
	if ok, wait := s.ipLimit.Allow(ClientKey(req.ClientIP), s.now()); !ok {
		return nil, rateLimited(op, wait)
	}
	name := strings.TrimSpace(req.Name)
	if err := CheckText(op, "name", name, MaxNameLen); err != nil {
		return nil, err
	}
	var invited *User
	if err := s.store.View(ctx, func(tx Tx) error {
		_, u, err := s.invitation(tx, op, req.Token)
		invited = u
		return err
	}); err != nil {
		return nil, Wrap(op, err)
	}
	var hash string
	if invited.PasswordHash != "" {
		if err := s.proveAccount(ctx, op, invited, req); err != nil {
			return nil, err
		}
	} else {
		if err := CheckPassword(op, "password", req.Password); err != nil {
			return nil, err
		}
		h, err := s.hasher.Hash(ctx, req.Password)
		if err != nil {
			return nil, err
		}
		hash = h
	}
	via := ViaUserToken
	if req.Principal != nil && req.Principal.User.ID == invited.ID {
		via = req.Principal.Via
	}
	var user *User
	err := s.store.Update(ctx, func(tx Tx) error {
		m, u, err := s.invitation(tx, op, req.Token)
		if err != nil {
			return err
		}
		// What was proven is about the account as it was read: a password
		// set or changed since then voids it.
		if u.ID != invited.ID || u.PasswordHash != invited.PasswordHash {
			return E(op, Conflict, "the account's password changed while the invitation was being accepted; reload the invitation and try again")
		}
		now := s.now()
		if u.PasswordHash == "" {
			u.PasswordHash = hash
			if name != "" {
				u.Name = name
			}
			u.UpdatedAt = now
			if err := tx.PutUser(u); err != nil {
				return err
			}
		}
		m.InvitationAccepted = true
		m.InviteTokenHash = Hash{}
		m.UpdatedAt = now
		if err := tx.PutMembership(m); err != nil {
			return err
		}
		user = u
		p := &Principal{User: *u, Via: via, ClientIP: req.ClientIP}
		return s.event(tx, p, Event{TeamID: m.TeamID, Type: EvMemberJoined, TargetID: m.ID})
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return s.startSession(ctx, user, SessionToken, req.ClientIP)
}

// proveAccount checks that the caller of AcceptInvitation controls the
// existing account u: logged in as u with a user credential, or holding
// u's password.
func (s *Service) proveAccount(ctx context.Context, op string, u *User, req AcceptInvitationRequest) error {
	if p := req.Principal; p != nil && p.User.ID == u.ID && p.Via != ViaAPIKey {
		return requirePasswordChanged(op, p)
	}
	if req.Password == "" {
		return &Error{Op: op, Kind: Unauthenticated, Field: "password",
			Msg: "this invitation is for an existing account: send that account's password as password, or accept while logged in as " + u.Email}
	}
	if len(req.Password) > MaxPasswordLen {
		return &Error{Op: op, Kind: Unauthenticated, Field: "password", Msg: "the password is incorrect"}
	}
	if ok, wait := s.accountLimit.Allow("acct:"+u.Email, s.now()); !ok {
		return rateLimited(op, wait)
	}
	ok, err := s.hasher.Check(ctx, u.PasswordHash, req.Password)
	if err != nil {
		return err
	}
	if !ok {
		s.loginFailed(ctx, u, u.Email, ViaUserToken, req.ClientIP, "invitation")
		return &Error{Op: op, Kind: Unauthenticated, Field: "password",
			Msg: "the password is incorrect: this invitation is for an existing account, so enter that account's password"}
	}
	return nil
}

// targetMember loads a membership of the team by id.
func targetMember(tx Tx, op, teamID, memberID string) (*Membership, error) {
	m, err := tx.Membership(memberID)
	if Is(err, NotFound) || (err == nil && m.TeamID != teamID) {
		return nil, E(op, NotFound, "member %s not found in this team", memberID)
	}
	return m, err
}

// UpdateMemberRole changes another member's role. Nobody changes their own
// role, the owner's role changes only by transfer, and the owner role is
// given only by transfer.
func (s *Service) UpdateMemberRole(ctx context.Context, p *Principal, teamID, memberID string, role Role) (*Member, error) {
	const op = "member.update_role"
	if !role.Valid() {
		return nil, Invalidf(op, "role", "role %q is not one of admin, integration_manager, member, guest", role)
	}
	if role == RoleOwner {
		return nil, Invalidf(op, "role", "the owner role is given by transferring ownership (POST /v1/teams/%s/transfer_ownership)", teamID)
	}
	var out *Member
	err := s.store.Update(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActMemberUpdateRole)
		if err != nil {
			return err
		}
		m, err := targetMember(tx, op, teamID, memberID)
		if err != nil {
			return err
		}
		if m.ID == a.m.ID {
			return E(op, Forbidden, "you cannot change your own role; ask another admin or the owner")
		}
		if m.Role == RoleOwner {
			return E(op, Forbidden, "the owner's role cannot be changed; the owner can transfer ownership first")
		}
		old := m.Role
		m.Role = role
		m.UpdatedAt = s.now()
		if err := tx.PutMembership(m); err != nil {
			return err
		}
		v, err := s.member(tx, m, nil)
		out = &v
		if err != nil {
			return err
		}
		return s.event(tx, p, Event{TeamID: teamID, Type: EvMemberRoleChanged, TargetID: m.ID,
			Details: map[string]string{"email": v.Email, "from": string(old), "to": string(role)}})
	})
	return out, Wrap(op, err)
}

// RemoveMember takes a member out of the team: their API keys for the team
// are deleted at once and they leave the team's teamspaces.
func (s *Service) RemoveMember(ctx context.Context, p *Principal, teamID, memberID string) error {
	const op = "member.remove"
	return Wrap(op, s.store.Update(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActMemberRemove)
		if err != nil {
			return err
		}
		m, err := targetMember(tx, op, teamID, memberID)
		if err != nil {
			return err
		}
		if m.Role == RoleOwner {
			return E(op, Forbidden, "the team's owner cannot be removed; the owner can transfer ownership first")
		}
		if m.ID == a.m.ID {
			return E(op, Forbidden, "you cannot remove yourself; ask another admin or the owner")
		}
		keys, err := tx.TeamAPIKeys(teamID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.UserID == m.UserID {
				if err := tx.DeleteAPIKey(k.ID); err != nil {
					return err
				}
			}
		}
		spaces, err := tx.TeamTeamspaces(teamID)
		if err != nil {
			return err
		}
		for _, sp := range spaces {
			if kept := without(sp.MemberIDs, m.ID); len(kept) != len(sp.MemberIDs) {
				sp.MemberIDs = kept
				if err := tx.PutTeamspace(sp); err != nil {
					return err
				}
			}
		}
		u, err := tx.User(m.UserID)
		if err != nil {
			return err
		}
		if err := tx.DeleteMembership(m.ID); err != nil {
			return err
		}
		return s.event(tx, p, Event{TeamID: teamID, Type: EvMemberRemoved, TargetID: m.ID,
			Details: map[string]string{"email": u.Email, "role": string(m.Role)}})
	}))
}

func without(ids []string, id string) []string {
	out := ids[:0:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// TransferOwnership makes another accepted member the owner; the former
// owner becomes an admin.
func (s *Service) TransferOwnership(ctx context.Context, p *Principal, teamID, memberID string) error {
	const op = "team.transfer_ownership"
	return Wrap(op, s.store.Update(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActTeamTransferOwner)
		if err != nil {
			return err
		}
		m, err := targetMember(tx, op, teamID, memberID)
		if err != nil {
			return err
		}
		if m.ID == a.m.ID {
			return Invalidf(op, "member_id", "you already own this team")
		}
		if !m.InvitationAccepted {
			return E(op, Conflict, "member %s has not accepted the invitation yet", memberID)
		}
		now := s.now()
		m.Role, m.UpdatedAt = RoleOwner, now
		a.m.Role, a.m.UpdatedAt = RoleAdmin, now
		if err := tx.PutMembership(m); err != nil {
			return err
		}
		if err := tx.PutMembership(a.m); err != nil {
			return err
		}
		return s.event(tx, p, Event{TeamID: teamID, Type: EvOwnershipTransferred, TargetID: m.ID})
	}))
}
