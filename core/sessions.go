package core

import (
	"context"
	"time"
)

// purgeBatch bounds how many sessions one transaction deletes, so a large
// backlog never makes a transaction too big for the store.
const purgeBatch = 1000

// PurgeSessions deletes every session that expired at or before now and
// returns how many it deleted. A session deleted meanwhile by someone else
// (logout) is skipped.
func (s *Service) PurgeSessions(ctx context.Context, now time.Time) (int, error) {
	const op = "session.purge"
	var expired []string
	err := s.store.View(ctx, func(tx Tx) error {
		expired = expired[:0]
		return tx.Sessions(func(se *Session) bool {
			if !now.Before(se.ExpiresAt) {
				expired = append(expired, se.ID)
			}
			return true
		})
	})
	if err != nil {
		return 0, Wrap(op, err)
	}
	n := 0
	for len(expired) > 0 {
		batch := expired[:min(purgeBatch, len(expired))]
		expired = expired[len(batch):]
		deleted := 0
		err := s.store.Update(ctx, func(tx Tx) error {
			deleted = 0
			for _, id := range batch {
				se, err := tx.Session(id)
				if Is(err, NotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if now.Before(se.ExpiresAt) {
					continue
				}
				if err := tx.DeleteSession(id); err != nil {
					return err
				}
				deleted++
			}
			return nil
		})
		if err != nil {
			return n, Wrap(op, err)
		}
		n += deleted
	}
	return n, nil
}

// DefaultSessionSweep is RunSessionSweeper's interval when given none.
const DefaultSessionSweep = time.Hour

// RunSessionSweeper purges expired sessions at once and then every
// interval (DefaultSessionSweep if every <= 0) until ctx is done. Failures
// are logged; the next round tries again.
func (s *Service) RunSessionSweeper(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultSessionSweep
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		n, err := s.PurgeSessions(ctx, s.now())
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.WarnContext(ctx, "purging expired sessions", "err", err)
		case n > 0:
			s.log.InfoContext(ctx, "purged expired sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
