package core

import (
	"context"
	"fmt"
)

// GeneratedOwnerEmail is the owner's login when none is configured.
const GeneratedOwnerEmail = "owner@haul.localhost"

// BootstrapRequest describes the first team and its owner.
type BootstrapRequest struct {
	TeamName      string
	OwnerEmail    string // "" = GeneratedOwnerEmail
	OwnerPassword string // "" = generate one
}

// BootstrapResult says what Bootstrap did. Password is set only when it
// was generated, so it can be shown once.
type BootstrapResult struct {
	Created  bool
	TeamID   string
	TeamName string
	Email    string
	Password string
}

// Bootstrap creates the first team and its owner when the store holds no
// user yet; otherwise it does nothing.
func (s *Service) Bootstrap(ctx context.Context, req BootstrapRequest) (*BootstrapResult, error) {
	const op = "bootstrap"
	var n int
	if err := s.store.View(ctx, func(tx Tx) (err error) { n, err = tx.CountUsers(); return err }); err != nil {
		return nil, Wrap(op, err)
	}
	if n > 0 {
		return &BootstrapResult{}, nil
	}
	if req.OwnerEmail == "" {
		req.OwnerEmail = GeneratedOwnerEmail
	}
	res, err := s.CreateTeam(ctx, req)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// CreateTeam creates a team owned by the given email: an existing user
// becomes its owner, otherwise a user is created with the given password
// or a generated one (then MustChangePassword is set). It is for the
// operator (first start, haul admin), not for API callers.
func (s *Service) CreateTeam(ctx context.Context, req BootstrapRequest) (*BootstrapResult, error) {
	const op = "team.create"
	name, err := CheckName(op, "team_name", req.TeamName)
	if err != nil {
		return nil, err
	}
	email, err := NormalizeEmail(op, "owner_email", req.OwnerEmail)
	if err != nil {
		return nil, err
	}
	res := &BootstrapResult{Created: true, TeamName: name, Email: email}
	password := req.OwnerPassword
	if password == "" {
		password = RandomPassword()
		res.Password = password
	} else if err := CheckPassword(op, "owner_password", password); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		now := s.now()
		u, err := tx.UserByEmail(email)
		switch {
		case Is(err, NotFound):
			u = &User{ID: NewID(), Email: email, Name: "Owner", PasswordHash: hash,
				MustChangePassword: res.Password != "", CreatedAt: now, UpdatedAt: now}
			if err := tx.PutUser(u); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			res.Password = "" // an existing user keeps their password
		}
		t := &Team{ID: NewID(), Name: name, CustomExpiryDefault: 30, DownloadLimitDefault: 12,
			MaxEmailRecipients: 30, BlockKey: NewBlockKey(), CreatedAt: now, UpdatedAt: now}
		if t.Subdomain, err = freeSubdomain(tx, Slug(name)); err != nil {
			return err
		}
		if err := tx.PutTeam(t); err != nil {
			return err
		}
		res.TeamID = t.ID
		m := &Membership{ID: NewID(), TeamID: t.ID, UserID: u.ID, Role: RoleOwner, Approved: true,
			InvitationAccepted: true, CreatedAt: now, UpdatedAt: now}
		return tx.PutMembership(m)
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return res, nil
}

// freeSubdomain returns base, or base-2, base-3... whichever no team uses.
func freeSubdomain(tx Tx, base string) (string, error) {
	taken := map[string]bool{}
	if err := tx.Teams(func(t *Team) bool { taken[t.Subdomain] = true; return true }); err != nil {
		return "", err
	}
	name := base
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name, nil
}

// ResetPassword sets a user's password from the operator's console
// (haul admin). An empty password generates one, returned, and the user
// must change it at next login. Every session of the user ends.
func (s *Service) ResetPassword(ctx context.Context, email, password string) (string, error) {
	const op = "user.reset_password"
	email, err := NormalizeEmail(op, "email", email)
	if err != nil {
		return "", err
	}
	generated := password == ""
	if generated {
		password = RandomPassword()
	} else if err := CheckPassword(op, "password", password); err != nil {
		return "", err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return "", err
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		u, err := tx.UserByEmail(email)
		if Is(err, NotFound) {
			return E(op, NotFound, "no user with email %s", email)
		}
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		u.MustChangePassword = generated
		u.CredentialsChangedAt = s.now()
		u.UpdatedAt = u.CredentialsChangedAt
		if err := tx.PutUser(u); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(u.ID); err != nil {
			return err
		}
		return s.userEvent(tx, &Principal{User: *u, Via: ViaCLI}, u.ID, Event{Type: EvPasswordReset, TargetID: u.ID})
	})
	if err != nil {
		return "", Wrap(op, err)
	}
	if generated {
		return password, nil
	}
	return "", nil
}

// UserSummary is one line of haul admin list-users.
type UserSummary struct {
	User  User
	Teams []string // "team name (role)"
}

// ListUsers calls fn for every user, for the operator's console.
func (s *Service) ListUsers(ctx context.Context, fn func(UserSummary) error) error {
	const op = "user.list"
	var rows []UserSummary
	err := s.store.View(ctx, func(tx Tx) error {
		var inner error
		err := tx.Users(func(u *User) bool {
			ms, err := tx.UserMemberships(u.ID)
			if err != nil {
				inner = err
				return false
			}
			row := UserSummary{User: *u}
			for _, m := range ms {
				t, err := tx.Team(m.TeamID)
				if err != nil {
					inner = err
					return false
				}
				row.Teams = append(row.Teams, fmt.Sprintf("%s (%s)", t.Name, m.Role))
			}
			rows = append(rows, row)
			return true
		})
		if inner != nil {
			return inner
		}
		return err
	})
	if err != nil {
		return Wrap(op, err)
	}
	for _, r := range rows {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
