package core

import (
	"context"
	"fmt"
	"sync"
)

// SpaceChecker is the optional capability of a chunk store to say whether
// n more bytes of file data fit: it turns the logical bytes into what the
// store writes for them (data and parity shards, record headers and
// padding) and compares that with the free space of every data directory,
// answering a NoSpace error that says what to do. store/chunk.Store
// implements it; Deps.Space overrides it (tests inject a condition).
type SpaceChecker interface {
	CanFit(n int64) error
}

// reservation is the room a file of declared size holds while it is being
// uploaded: against free space, its declared size less what its durable
// parts already hold (those are on disk); against the team's quota, its
// whole declared size (parts count nowhere else).
type reservation struct {
	teamID    string
	packageID string
	size      int64 // declared size
	stored    int64 // bytes in the upload's durable parts
}

func (r *reservation) pending() int64 { return max(r.size-r.stored, 0) }

// space holds the reservations of files being uploaded, in memory, keyed
// by file id. They are recomputed from the store at the first use after a
// start (files in state new with a declared size, not abandoned, in
// packages still open), so a restart loses none.
type space struct {
	mu      sync.Mutex
	loaded  bool
	byFile  map[string]*reservation
	checker SpaceChecker // nil: no free-space check
}

// loadLocked recomputes the reservations from the store; s.space.mu held.
func (s *Service) loadReservationsLocked(ctx context.Context) error {
	sp := s.space
	if sp.loaded {
		return nil
	}
	found := map[string]*reservation{}
	now := s.now()
	err := s.store.View(ctx, func(tx Tx) error {
		var teams []*Team
		if err := tx.Teams(func(t *Team) bool { teams = append(teams, t); return true }); err != nil {
			return err
		}
		for _, t := range teams {
			pks, err := tx.TeamPackages(t.ID)
			if err != nil {
				return err
			}
			for _, pk := range pks {
				if pk.State != PackageNew || !now.Before(pk.Expiry) {
					continue
				}
				files, err := tx.PackageFiles(pk.ID)
				if err != nil {
					return err
				}
				for _, f := range files {
					if f.State != FileNew || f.Size < 0 || f.Abandoned {
						continue
					}
					r := &reservation{teamID: f.TeamID, packageID: f.PackageID, size: f.Size}
					if f.UploadID != "" {
						parts, err := tx.UploadParts(f.UploadID)
						if err != nil {
							return err
						}
						for _, pt := range parts {
							r.stored += pt.Size
						}
					}
					found[f.ID] = r
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Reservations made before the load (none: reserving loads first)
	// would be kept; releases before it found nothing to release.
	for id, r := range sp.byFile {
		found[id] = r
	}
	sp.byFile, sp.loaded = found, true
	return nil
}

// LoadReservations recomputes the space reservations of unfinished
// uploads from the store. serve calls it at start; otherwise the first
// reservation does.
func (s *Service) LoadReservations(ctx context.Context) error {
	s.space.mu.Lock()
	defer s.space.mu.Unlock()
	return Wrap("space.load", s.loadReservationsLocked(ctx))
}

// SpaceUsage is what the reservations hold.
type SpaceUsage struct {
	Files int   // files holding a reservation
	Bytes int64 // declared bytes reserved (for the quota)
	// Pending is the part of Bytes not yet in durable parts: what the
	// free-space check adds to a new declaration.
	Pending int64
}

// Reserved returns the reservations of a team ("" for every team).
func (s *Service) Reserved(ctx context.Context, teamID string) (SpaceUsage, error) {
	s.space.mu.Lock()
	defer s.space.mu.Unlock()
	if err := s.loadReservationsLocked(ctx); err != nil {
		return SpaceUsage{}, Wrap("space.reserved", err)
	}
	var u SpaceUsage
	for _, r := range s.space.byFile {
		if teamID == "" || r.teamID == teamID {
			u.Files++
			u.Bytes += r.size
			u.Pending += r.pending()
		}
	}
	return u, nil
}

// teamStoredBytes counts what a team stores against its quota: the sizes
// of the finalized files of its packages that are neither expired nor
// archived (Package.Size).
func teamStoredBytes(tx Tx, teamID string) (int64, error) {
	pks, err := tx.TeamPackages(teamID)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, pk := range pks {
		if pk.State == PackageNew || pk.State == PackageFinalized {
			n += pk.Size
		}
	}
	return n, nil
}

// reserve checks that a file of size declared bytes fits, with every
// outstanding reservation, in the free space and in the team's quota, and
// reserves it under f.ID (replacing any earlier reservation of the file,
// so a retried transaction reserves once). Called inside the transaction
// that records the file; if that transaction fails the caller releases.
func (s *Service) reserve(ctx context.Context, tx Tx, op string, team *Team, f *File) error {
	if f.Size < 0 {
		return nil
	}
	var used int64
	if team.StorageQuotaBytes > 0 {
		var err error
		if used, err = teamStoredBytes(tx, team.ID); err != nil {
			return err
		}
	}
	sp := s.space
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if err := s.loadReservationsLocked(ctx); err != nil {
		return err
	}
	var pending, teamReserved int64
	for id, r := range sp.byFile {
		if id == f.ID {
			continue
		}
		pending += r.pending()
		if r.teamID == team.ID {
			teamReserved += r.size
		}
	}
	if q := team.StorageQuotaBytes; q > 0 && used+teamReserved+f.Size > q {
		return E(op, NoSpace, "the team's storage quota (storage_quota_bytes %d, %s) would be exceeded: it stores %s and uploads in progress reserve %s, so %s more does not fit; delete packages or unfinished files, or ask the team's owner or an admin to raise storage_quota_bytes (PUT /v1/teams/%s)",
			q, humanBytes(q), humanBytes(used), humanBytes(teamReserved), humanBytes(f.Size), team.ID)
	}
	if sp.checker != nil {
		if err := sp.checker.CanFit(pending + f.Size); err != nil {
			if Is(err, NoSpace) {
				return E(op, NoSpace, "insufficient storage for this file (%s) with the %s that uploads in progress have reserved: %s; try again once other uploads finish or are deleted, or declare a smaller file",
					humanBytes(f.Size), humanBytes(pending), msgOf(err))
			}
			return err
		}
	}
	sp.byFile[f.ID] = &reservation{teamID: team.ID, packageID: f.PackageID, size: f.Size}
	return nil
}

// fitsUnreserved checks that n bytes of a file without a declared size
// (so without a reservation) fit beside every outstanding reservation.
func (s *Service) fitsUnreserved(ctx context.Context, op string, n int64) error {
	sp := s.space
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.checker == nil {
		return nil
	}
	if err := s.loadReservationsLocked(ctx); err != nil {
		return Wrap(op, err)
	}
	var pending int64
	for _, r := range sp.byFile {
		pending += r.pending()
	}
	if err := sp.checker.CanFit(pending + n); err != nil {
		if Is(err, NoSpace) {
			return &Error{Op: op, Kind: NoSpace, Code: "InsufficientStorage",
				Msg: fmt.Sprintf("insufficient storage for this part (%s) beside the %s that uploads in progress have reserved: %s; try again once other uploads finish or are deleted (declaring the file's size reserves its room up front)",
					humanBytes(n), humanBytes(pending), msgOf(err))}
		}
		return Wrap(op, err)
	}
	return nil
}

// msgOf is the client-safe message of err.
func msgOf(err error) string {
	if e, ok := err.(*Error); ok && e.Msg != "" {
		return e.Msg
	}
	return err.Error()
}

// release drops the reservation of a file (finalized, deleted, abandoned).
func (s *Service) release(fileID string) {
	s.space.mu.Lock()
	delete(s.space.byFile, fileID)
	s.space.mu.Unlock()
}

// releasePackage drops the reservations of every file of a package
// (deleted or expired).
func (s *Service) releasePackage(packageID string) {
	s.space.mu.Lock()
	defer s.space.mu.Unlock()
	for id, r := range s.space.byFile {
		if r.packageID == packageID {
			delete(s.space.byFile, id)
		}
	}
}

// stored adds delta to the bytes a file's durable parts hold (a part
// stored, replaced or dropped); reset sets it to zero (an aborted upload).
func (s *Service) stored(fileID string, delta int64, reset bool) {
	s.space.mu.Lock()
	defer s.space.mu.Unlock()
	if r := s.space.byFile[fileID]; r != nil {
		if reset {
			r.stored = 0
		}
		r.stored += delta
	}
}

// humanBytes formats a byte count for messages.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
