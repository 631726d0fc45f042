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

// BlockRefs calls yield once for every block reference the records hold:
// the blocks of every finalized file (its kept parts, or the Blocks of a
// file finalized before parts were kept; a package being deleted keeps
// the ones it has not released yet) and of every part of an upload not
// yet finalized, each once. It is what reference counts must equal; haul fsck
// --rebuild-index recounts them from it.
func (s *Service) BlockRefs(ctx context.Context, yield func(teamID string, h Hash)) error {
	const op = "system.block_refs"
	return Wrap(op, s.store.View(ctx, func(tx Tx) error {
		var teams []string
		if err := tx.Teams(func(t *Team) bool { teams = append(teams, t.ID); return true }); err != nil {
			return err
		}
		for _, teamID := range teams {
			pkgs, err := tx.TeamPackages(teamID)
			if err != nil {
				return err
			}
			for _, pk := range pkgs {
				files, err := tx.PackageFiles(pk.ID)
				if err != nil {
					return err
				}
				for _, f := range files {
					// A file's finalized blocks (its kept parts, or Blocks
					// of an older record), then the parts of an open
					// upload: a file has one or the other, or (a package
					// being deleted) what is left of either.
					blocks, err := fileBlocks(tx, f)
					if err != nil {
						return err
					}
					for _, b := range blocks {
						yield(teamID, b.Hash)
					}
					if f.UploadID == "" || f.UploadID == f.PartsID {
						continue
					}
					parts, err := tx.UploadParts(f.UploadID)
					if err != nil {
						return err
					}
					for _, pt := range parts {
						for _, b := range pt.Blocks {
							yield(teamID, b.Hash)
						}
					}
				}
			}
		}
		return nil
	}))
}
