package core

import "context"

// authorizeAnyTeam checks that p may perform act in at least one of its
// teams (an API key: in its own team). It is for appliance-wide reads.
func (s *Service) authorizeAnyTeam(tx Tx, op string, p *Principal, act Action) error {
	if p == nil {
		return E(op, Unauthenticated, "authentication required: send X-API-KEY or X-User-Token")
	}
	if err := requirePasswordChanged(op, p); err != nil {
		return err
	}
	ms, err := tx.UserMemberships(p.User.ID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if !m.InvitationAccepted || (p.Via == ViaAPIKey && m.TeamID != p.APIKeyTeamID) {
			continue
		}
		if Allowed(m.Role, act) {
			return nil
		}
	}
	return E(op, Forbidden, "only a team's owner or an admin may do %s", act)
}

// StorageStats reports the chunk store's figures (owner and admins).
func (s *Service) StorageStats(ctx context.Context, p *Principal) (*StorageStats, error) {
	const op = "system.storage"
	if err := s.store.View(ctx, func(tx Tx) error { return s.authorizeAnyTeam(tx, op, p, ActSystemStorage) }); err != nil {
		return nil, Wrap(op, err)
	}
	if s.chunks == nil {
		return nil, E(op, Unavailable, "the chunk store is not running")
	}
	st, err := s.chunks.Stats(ctx)
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &st, nil
}

// ChunkStats returns the chunk store's figures without a permission check,
// for /metrics (which has its own protection). It fails with Unavailable
// when no chunk store is wired.
func (s *Service) ChunkStats(ctx context.Context) (StorageStats, error) {
	if s.chunks == nil {
		return StorageStats{}, E("system.storage", Unavailable, "the chunk store is not running")
	}
	return s.chunks.Stats(ctx)
}
