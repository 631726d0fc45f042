package core

import (
	"context"
	"time"
)

// APIKeyPrefix starts every API key secret, so scanners and people can
// recognise one.
const APIKeyPrefix = "haul_"

// APIKeyRequest creates an API key.
type APIKeyRequest struct {
	Name        string
	Description string
	Expiry      time.Time // zero = never
	State       APIKeyState
}

// NewAPIKey is a created key with its secret, shown only once.
type NewAPIKey struct {
	Key    APIKey
	Secret string
}

// APIKeyUpdate changes a key; nil fields are kept. A zero Expiry removes
// the expiry.
type APIKeyUpdate struct {
	Name        *string
	Description *string
	Expiry      *time.Time
	State       *APIKeyState
}

func (s *Service) checkKeyFields(op string, name, desc *string, expiry *time.Time, state *APIKeyState) error {
	if name != nil {
		if err := CheckText(op, "name", *name, MaxNameLen); err != nil {
			return err
		}
	}
	if desc != nil {
		if err := CheckText(op, "description", *desc, MaxDescriptionLen); err != nil {
			return err
		}
	}
	if expiry != nil && !expiry.IsZero() && !expiry.After(s.now()) {
		return Invalidf(op, "expiry", "expiry %s is in the past; give a future time or the zero time for no expiry", expiry.UTC().Format(time.RFC3339))
	}
	if state != nil && *state != KeyActive && *state != KeyInactive {
		return Invalidf(op, "state", "state %q is not one of active, inactive", *state)
	}
	return nil
}

// CreateAPIKey makes a key that acts for the caller in the team. Owner,
// admins and integration managers only, and only with a user token.
func (s *Service) CreateAPIKey(ctx context.Context, p *Principal, teamID string, req APIKeyRequest) (*NewAPIKey, error) {
	const op = "api_key.create"
	if err := requireUserCredential(op, p); err != nil {
		return nil, err
	}
	if req.State == "" {
		req.State = KeyActive
	}
	if err := s.checkKeyFields(op, &req.Name, &req.Description, &req.Expiry, &req.State); err != nil {
		return nil, err
	}
	secret := APIKeyPrefix + RandomToken(32)
	now := s.now()
	k := APIKey{
		ID: NewID(), TeamID: teamID, UserID: p.User.ID, Name: req.Name, Description: req.Description,
		Hint: secret[:len(APIKeyPrefix)+4], Hash: SHA256(secret), State: req.State,
		Expiry: req.Expiry.UTC().Truncate(time.Millisecond), CreatedAt: now, UpdatedAt: now,
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		if _, err := s.authorize(tx, op, p, teamID, ActAPIKeyOwn); err != nil {
			return err
		}
		if err := tx.PutAPIKey(&k); err != nil {
			return err
		}
		return s.event(tx, p, Event{TeamID: teamID, Type: EvAPIKeyCreated, TargetID: k.ID, Details: map[string]string{"name": k.Name}})
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &NewAPIKey{Key: k, Secret: secret}, nil
}

// APIKeys lists the team's keys the caller may manage: every key for the
// owner, one's own for admins and integration managers.
func (s *Service) APIKeys(ctx context.Context, p *Principal, teamID string) ([]APIKey, error) {
	const op = "api_key.list"
	if err := requireUserCredential(op, p); err != nil {
		return nil, err
	}
	var out []APIKey
	err := s.store.View(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActAPIKeyOwn)
		if err != nil {
			return err
		}
		keys, err := tx.TeamAPIKeys(teamID)
		if err != nil {
			return err
		}
		out = []APIKey{}
		for _, k := range keys {
			if k.UserID == p.User.ID || Allowed(a.m.Role, ActAPIKeyAny) {
				out = append(out, *k)
			}
		}
		return nil
	})
	return out, Wrap(op, err)
}

// manageKey loads a key and checks the caller may manage it.
func (s *Service) manageKey(tx Tx, op string, p *Principal, keyID string) (*APIKey, error) {
	k, err := tx.APIKey(keyID)
	if Is(err, NotFound) {
		return nil, E(op, NotFound, "API key %s not found", keyID)
	}
	if err != nil {
		return nil, err
	}
	a, err := s.authorize(tx, op, p, k.TeamID, ActAPIKeyOwn)
	if Is(err, NotFound) {
		return nil, E(op, NotFound, "API key %s not found", keyID)
	}
	if err != nil {
		return nil, err
	}
	if k.UserID != p.User.ID && !Allowed(a.m.Role, ActAPIKeyAny) {
		return nil, E(op, Forbidden, "only the team's owner may manage API keys made by others")
	}
	return k, nil
}

// UpdateAPIKey changes a key's name, description, expiry or state.
func (s *Service) UpdateAPIKey(ctx context.Context, p *Principal, keyID string, up APIKeyUpdate) (*APIKey, error) {
	const op = "api_key.update"
	if err := requireUserCredential(op, p); err != nil {
		return nil, err
	}
	if err := s.checkKeyFields(op, up.Name, up.Description, up.Expiry, up.State); err != nil {
		return nil, err
	}
	var out *APIKey
	err := s.store.Update(ctx, func(tx Tx) error {
		k, err := s.manageKey(tx, op, p, keyID)
		if err != nil {
			return err
		}
		set(&k.Name, up.Name)
		set(&k.Description, up.Description)
		set(&k.State, up.State)
		if up.Expiry != nil {
			k.Expiry = up.Expiry.UTC().Truncate(time.Millisecond)
		}
		k.UpdatedAt = s.now()
		if err := tx.PutAPIKey(k); err != nil {
			return err
		}
		out = k
		return s.event(tx, p, Event{TeamID: k.TeamID, Type: EvAPIKeyUpdated, TargetID: k.ID, Details: map[string]string{"state": string(k.State)}})
	})
	return out, Wrap(op, err)
}

// DeleteAPIKey deletes a key; it stops working at once.
func (s *Service) DeleteAPIKey(ctx context.Context, p *Principal, keyID string) error {
	const op = "api_key.delete"
	if err := requireUserCredential(op, p); err != nil {
		return err
	}
	return Wrap(op, s.store.Update(ctx, func(tx Tx) error {
		k, err := s.manageKey(tx, op, p, keyID)
		if err != nil {
			return err
		}
		if err := tx.DeleteAPIKey(k.ID); err != nil {
			return err
		}
		return s.event(tx, p, Event{TeamID: k.TeamID, Type: EvAPIKeyDeleted, TargetID: k.ID, Details: map[string]string{"name": k.Name}})
	}))
}
