package core

import (
	"context"
	"time"
)

// Lifecycle jobs: packages past their expiry turn expired and release
// their data; uploads left without a part for retention.abandoned_upload_hours
// lose their parts and their space reservation. Both work in transactions
// of at most UploadConfig.ReleaseBatch block references that record their
// progress, so a crash midway is finished by the next pass.

// Defaults of the lifecycle loops.
const (
	DefaultExpiryEvery    = 10 * time.Minute
	DefaultAbandonedEvery = 30 * time.Minute
	DefaultAbandonedAge   = 48 * time.Hour
)

// releasePackageRefs releases every block reference held by the files
// and open uploads of an expired or archived package, in transactions of
// at most ReleaseBatch blocks, then marks the package Released.
func (s *Service) releasePackageRefs(ctx context.Context, tk TeamKey, packageID string) error {
	for {
		released := 0
		err := s.store.Update(ctx, func(tx Tx) error {
			released = 0
			files, err := tx.PackageFiles(packageID)
			if err != nil {
				return err
			}
			budget := s.uploads.ReleaseBatch
			for _, f := range files {
				if budget <= 0 {
					break
				}
				n, err := s.releaseSome(tx, tk, f, budget)
				if err != nil {
					return err
				}
				budget -= n
				released += n
			}
			return nil
		})
		if err != nil {
			return err
		}
		if released == 0 {
			break
		}
	}
	return s.store.Update(ctx, func(tx Tx) error {
		pk, err := tx.Package(packageID)
		if err != nil {
			return err
		}
		if pk.Released || (pk.State != PackageExpired && pk.State != PackageArchived) {
			return nil
		}
		pk.Released = true
		return tx.PutPackage(pk)
	})
}

// ExpirePackages turns every new or finalized package whose expiry is not
// after now expired (recording package.expired in its team's events),
// drops its files' space reservations and releases its block references.
// It also finishes the release of expired or archived packages that a
// crash (or an interrupted deletion) left holding references. It returns
// how many packages it expired.
func (s *Service) ExpirePackages(ctx context.Context, now time.Time) (int, error) {
	const op = "package.expire"
	type cand struct {
		id, teamID string
		expire     bool
	}
	var cands []cand
	err := s.store.View(ctx, func(tx Tx) error {
		return eachPackage(tx, func(pk *Package) error {
			switch {
			case (pk.State == PackageNew || pk.State == PackageFinalized) && !now.Before(pk.Expiry):
				cands = append(cands, cand{pk.ID, pk.TeamID, true})
			case (pk.State == PackageExpired || pk.State == PackageArchived) && !pk.Released:
				cands = append(cands, cand{pk.ID, pk.TeamID, false})
			}
			return nil
		})
	})
	if err != nil {
		return 0, Wrap(op, err)
	}
	expired := 0
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return expired, err
		}
		var tk TeamKey
		did := false
		err := s.store.Update(ctx, func(tx Tx) error {
			did = false
			team, err := tx.Team(c.teamID)
			if err != nil {
				return err
			}
			tk = TeamKeyOf(team)
			if !c.expire {
				return nil
			}
			pk, err := tx.Package(c.id)
			if err != nil {
				return err
			}
			if (pk.State != PackageNew && pk.State != PackageFinalized) || now.Before(pk.Expiry) {
				return nil // changed meanwhile (deleted, expiry moved)
			}
			pk.State, pk.UpdatedAt = PackageExpired, s.now()
			if err := tx.PutPackage(pk); err != nil {
				return err
			}
			if err := s.fireWebhooks(tx, HookPackageExpired, pk, nil); err != nil {
				return err
			}
			did = true
			return s.event(tx, nil, Event{TeamID: pk.TeamID, Type: EvPackageExpired, TargetID: pk.ID, Via: "system",
				Details: map[string]string{"name": pk.Name, "expiry": pk.Expiry.Format(time.RFC3339)}})
		})
		if Is(err, NotFound) {
			continue
		}
		if err != nil {
			return expired, Wrap(op, err)
		}
		if did {
			expired++
			s.releasePackage(c.id)
			s.wakeOutbox()
		}
		if err := s.releasePackageRefs(ctx, tk, c.id); err != nil {
			return expired, Wrap(op, err)
		}
	}
	return expired, nil
}

// touchUpload records, in the transaction that stores a part of f's
// upload, that the upload is alive (File.LastPartAt: the abandoned-upload
// job measures idleness from it). Every path that stores a part calls it.
// It writes the file at most once a minute: each write makes the parallel
// parts' transactions (which read the file) conflict and retry.
func touchUpload(tx Tx, f *File, now time.Time) error {
	if now.Sub(f.LastPartAt) < time.Minute {
		return nil
	}
	f.LastPartAt = now
	return tx.PutFile(f)
}

// idleSince is when f's upload last showed life: its last part, else the
// start of its upload, else the file's creation.
func idleSince(f *File) time.Time {
	t := f.CreatedAt
	if f.UploadStartedAt.After(t) {
		t = f.UploadStartedAt
	}
	if f.LastPartAt.After(t) {
		t = f.LastPartAt
	}
	return t
}

// abandoned reports whether f is an unfinished upload idle for maxAge at
// now that still holds something: parts (an open upload) or a space
// reservation (a declared size).
func abandoned(f *File, now time.Time, maxAge time.Duration) bool {
	return f.State == FileNew && !f.Abandoned && (f.UploadID != "" || f.Size >= 0) && now.Sub(idleSince(f)) >= maxAge
}

// CleanAbandonedUploads drops the uploads of open packages whose last
// part (or the upload's start, or the file's creation when there is
// neither) is maxAge or more before now: their parts are released and
// deleted (in batches), the file's upload is reset (state new, no upload
// id) and marked Abandoned, and its space reservation is released; a
// client coming back starts a new upload, which reserves again. It
// returns how many files it cleaned.
func (s *Service) CleanAbandonedUploads(ctx context.Context, now time.Time, maxAge time.Duration) (int, error) {
	const op = "upload.clean_abandoned"
	if maxAge <= 0 {
		maxAge = DefaultAbandonedAge
	}
	var cands []*File
	err := s.store.View(ctx, func(tx Tx) error {
		return eachPackage(tx, func(pk *Package) error {
			if pk.State != PackageNew {
				return nil // finalized: no open upload; expired, archived: the expiry job
			}
			files, err := tx.PackageFiles(pk.ID)
			if err != nil {
				return err
			}
			for _, f := range files {
				if abandoned(f, now, maxAge) || (f.State == FileNew && f.Abandoned && f.UploadID != "") {
					cands = append(cands, f)
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, Wrap(op, err)
	}
	cleaned := 0
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return cleaned, err
		}
		var tk TeamKey
		did, finish := false, false
		err := s.store.Update(ctx, func(tx Tx) error {
			did, finish = false, false
			f, err := tx.File(c.ID)
			if err != nil {
				return err
			}
			if f.State == FileNew && f.Abandoned && f.UploadID != "" {
				// An earlier pass marked it and stopped before the end.
				team, err := tx.Team(f.TeamID)
				if err != nil {
					return err
				}
				tk, finish = TeamKeyOf(team), true
				return nil
			}
			if !abandoned(f, now, maxAge) {
				return nil // a part arrived, or it was finalized or deleted
			}
			pk, err := tx.Package(f.PackageID)
			if err != nil {
				return err
			}
			if pk.State != PackageNew {
				return nil
			}
			team, err := tx.Team(f.TeamID)
			if err != nil {
				return err
			}
			tk = TeamKeyOf(team)
			f.Abandoned = true
			if err := tx.PutFile(f); err != nil {
				return err
			}
			did = true
			return s.event(tx, nil, Event{TeamID: f.TeamID, Type: EvUploadAbandoned, TargetID: f.ID, Via: "system",
				Details: map[string]string{"package_id": f.PackageID, "name": fullName(f), "idle_since": idleSince(f).Format(time.RFC3339)}})
		})
		if Is(err, NotFound) {
			continue
		}
		if err != nil {
			return cleaned, Wrap(op, err)
		}
		if !did && !finish {
			continue
		}
		// From here uploadOf refuses the upload: no part joins it while
		// its parts are released.
		s.release(c.ID)
		if did {
			cleaned++
		}
		for done := false; !done; {
			err := s.store.Update(ctx, func(tx Tx) error {
				done = false
				f, err := tx.File(c.ID)
				if Is(err, NotFound) {
					done = true
					return nil
				}
				if err != nil {
					return err
				}
				if f.State != FileNew || !f.Abandoned {
					done = true // deleted or restarted meanwhile
					return nil
				}
				had := f.UploadID
				n, err := s.releaseSome(tx, tk, f, s.uploads.ReleaseBatch)
				if err != nil || n > 0 {
					return err
				}
				done = true
				if had != "" || !f.UploadStartedAt.IsZero() || !f.LastPartAt.IsZero() {
					f.UploadID, f.UploadStartedAt, f.LastPartAt = "", time.Time{}, time.Time{}
					return tx.PutFile(f)
				}
				return nil
			})
			if err != nil {
				return cleaned, Wrap(op, err)
			}
		}
	}
	return cleaned, nil
}

// eachPackage calls f on every package of every team, team by team, and
// stops at the first error.
func eachPackage(tx Tx, f func(*Package) error) error {
	var teams []string
	if err := tx.Teams(func(t *Team) bool { teams = append(teams, t.ID); return true }); err != nil {
		return err
	}
	for _, t := range teams {
		pks, err := tx.TeamPackages(t)
		if err != nil {
			return err
		}
		for _, pk := range pks {
			if err := f(pk); err != nil {
				return err
			}
		}
	}
	return nil
}

// RunExpiry runs ExpirePackages every interval (and once at start) until
// ctx ends.
func (s *Service) RunExpiry(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultExpiryEvery
	}
	s.runEvery(ctx, every, "expiring packages", "expired packages", func() (int, error) {
		if _, err := s.RemindExpiring(ctx, s.now(), s.reminderBefore); err != nil {
			s.log.WarnContext(ctx, "reminding recipients of expiring packages", "err", err)
		}
		return s.ExpirePackages(ctx, s.now())
	})
}

// RunAbandonedUploads runs CleanAbandonedUploads every interval (and once
// at start) until ctx ends.
func (s *Service) RunAbandonedUploads(ctx context.Context, every, maxAge time.Duration) {
	if every <= 0 {
		every = DefaultAbandonedEvery
	}
	s.runEvery(ctx, every, "cleaning abandoned uploads", "cleaned abandoned uploads", func() (int, error) {
		return s.CleanAbandonedUploads(ctx, s.now(), maxAge)
	})
}

// runEvery runs job every interval (and once at start) until ctx ends,
// logging its errors as failed and a positive count as done.
func (s *Service) runEvery(ctx context.Context, every time.Duration, failed, done string, job func() (int, error)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		n, err := job()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.WarnContext(ctx, failed, "err", err)
		case n > 0:
			s.log.InfoContext(ctx, done, "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
