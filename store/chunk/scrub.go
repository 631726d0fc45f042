package chunk

import (
	"context"
	"math"
	"time"

	"haul/core"
)

// ScrubReport is what one verification pass over every indexed block
// found and did.
type ScrubReport struct {
	Blocks        int64 `json:"blocks"`        // blocks verified
	Shards        int64 `json:"shards"`        // shards verified
	Bytes         int64 `json:"bytes"`         // bytes of shard data read
	Bad           int64 `json:"bad"`           // shards missing, unreadable or failing their checks
	Repaired      int64 `json:"repaired"`      // bad shards rebuilt from parity and re-indexed
	Unrecoverable int64 `json:"unrecoverable"` // blocks that lost more shards than parity covers
	// Damaged lists the short hashes of the unrecoverable blocks (the
	// first maxDamaged of them).
	Damaged []string `json:"damaged,omitempty"`
}

// maxDamaged bounds ScrubReport.Damaged; Unrecoverable has the count.
const maxDamaged = 1000

// scrubBatch is how many index entries a pass lists per metadata
// transaction (it never holds a transaction open while it reads
// segments), and how many records fsck and RebuildIndex look up or write
// per transaction. A variable for tests.
var scrubBatch = 8192

// Scrub makes one pass over every indexed block: it verifies every shard
// (header checks and CRC, as reads do), rebuilds bad shards from parity
// and writes them back (they count in Stats().Repairs). It reads at most
// rate bytes of shard data per second (rate ≤ 0: unpaced).
// Stats().ScrubProgress is the fraction of the pass's blocks done. Scrub
// knows no team keys, so a rebuilt block is checked against the parity of
// its spare good shards, not against its address. It stops early, with
// the report so far and the context's error, when ctx ends. Blocks freed
// during the pass are skipped; blocks added during it may be left to the
// next pass.
func (s *Store) Scrub(ctx context.Context, rate int64) (ScrubReport, error) {
	s.scrubMu.Lock()
	defer s.scrubMu.Unlock()
	s.setScrubProgress(0)
	res, err := s.verifyAll(ctx, passOpts{checkOpts: checkOpts{repair: true}, rate: rate, progress: true})
	if err == nil {
		s.setScrubProgress(1)
	}
	return res.ScrubReport, err
}

// RunScrub runs scrub passes (see Scrub) until ctx ends or the store is
// closed, logging each pass's report. A pass starts every `every`, start
// to start; one that takes longer is followed by the next after a pause of
// a second.
func (s *Store) RunScrub(ctx context.Context, rate int64, every time.Duration) {
	for {
		start := time.Now()
		rep, err := s.Scrub(ctx, rate)
		if ctx.Err() != nil || s.closed.Load() {
			return
		}
		took := time.Since(start)
		switch {
		case err != nil:
			s.log.Error("scrub pass failed", "err", err, "blocks", rep.Blocks, "took", took)
		case rep.Unrecoverable > 0:
			s.log.Error("scrub pass found blocks that cannot be rebuilt: their files are damaged; restore them from a backup",
				"blocks", rep.Blocks, "shards", rep.Shards, "bad", rep.Bad, "repaired", rep.Repaired,
				"unrecoverable", rep.Unrecoverable, "damaged", rep.Damaged, "took", took)
		case rep.Bad > 0:
			s.log.Warn("scrub pass repaired damaged shards", "blocks", rep.Blocks, "shards", rep.Shards,
				"bad", rep.Bad, "repaired", rep.Repaired, "took", took)
		default:
			s.log.Info("scrub pass clean", "blocks", rep.Blocks, "shards", rep.Shards, "bytes", rep.Bytes, "took", took)
		}
		wait := max(every-took, time.Second)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (s *Store) setScrubProgress(f float64) { s.scrubProgress.Store(math.Float64bits(f)) }

// scrubFraction is the fraction of the current scrub pass done (1 after a
// complete pass, 0 before the first).
func (s *Store) scrubFraction() float64 { return math.Float64frombits(s.scrubProgress.Load()) }

// passOpts say what a verification pass does.
type passOpts struct {
	checkOpts
	rate     int64 // bytes of shard data per second; ≤ 0 unpaced
	progress bool  // update the scrub progress figure
}

// passResult is a pass's report and, with rebalance, its shard moves.
type passResult struct {
	ScrubReport
	misplaced, moved int64
}

// verifyAll runs checkBlock over every indexed block, listing the index
// in batches.
func (s *Store) verifyAll(ctx context.Context, o passOpts) (passResult, error) {
	var res passResult
	r := &reader{}
	start := time.Now()
	var after string
	var done, total int64
	for first := true; ; first = false {
		batch, n, err := s.listBlocks(ctx, after, scrubBatch, first)
		if err != nil {
			return res, err
		}
		if first {
			total = n
		}
		for _, b := range batch {
			if err := ctx.Err(); err != nil {
				return res, core.Wrap("chunk.scrub", err)
			}
			if s.closed.Load() {
				return res, core.E("chunk.scrub", core.Unavailable, "the chunk store is closed")
			}
			c, err := s.checkBlock(ctx, r, b.team, b.hash, b.e, o.checkOpts)
			res.Bytes += c.read
			switch {
			case core.Is(err, core.NotFound):
				// Freed since it was listed.
			case core.Is(err, core.Corrupt):
				res.Blocks++
				res.Shards += int64(len(c.e.Shards))
				res.Bad += int64(len(c.bad))
				res.Unrecoverable++
				if len(res.Damaged) < maxDamaged {
					res.Damaged = append(res.Damaged, b.hash.Short())
				}
				s.log.Error("block cannot be rebuilt", "team", b.team, "block", b.hash.Short(), "err", err)
			case err != nil:
				return res, err
			default:
				res.Blocks++
				res.Shards += int64(len(c.e.Shards))
				res.Bad += int64(len(c.bad))
				res.Repaired += int64(c.repaired)
				res.misplaced += int64(c.misplaced)
				res.moved += int64(c.moved)
				if c.repairErr != nil {
					s.log.Warn("repairing a block failed", "team", b.team, "block", b.hash.Short(), "err", c.repairErr)
				}
			}
			done++
			if o.progress && total > 0 {
				s.setScrubProgress(min(float64(done)/float64(total), 1))
			}
			if o.rate > 0 {
				due := start.Add(time.Duration(float64(res.Bytes) / float64(o.rate) * float64(time.Second)))
				if err := sleepUntil(ctx, due); err != nil {
					return res, core.Wrap("chunk.scrub", err)
				}
			}
		}
		if len(batch) < scrubBatch {
			return res, nil
		}
		after = batch[len(batch)-1].key()
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// blockID names a block: a team's block address.
type blockID struct {
	team string
	hash core.Hash
}

// listedBlock is one index entry as listed.
type listedBlock struct {
	team string
	hash core.Hash
	e    *core.BlockEntry
}

// key orders listed blocks as the index does ("blk/<team>/<hash>").
func (b listedBlock) key() string { return b.team + "/" + string(b.hash[:]) }

// listBlocks returns, in index order, up to n entries whose key comes
// after `after` ("" = from the start), and with count the number of
// entries in the whole index. core.BlockTx cannot seek, so each batch
// walks the index from its start to `after`; the transaction is still
// short, and no segment is read while it is open.
func (s *Store) listBlocks(ctx context.Context, after string, n int, count bool) ([]listedBlock, int64, error) {
	var out []listedBlock
	var total int64
	err := s.meta.View(ctx, func(tx core.Tx) error {
		out, total = out[:0], 0
		return tx.Blocks(func(team string, h core.Hash, e *core.BlockEntry) bool {
			total++
			if len(out) < n {
				if b := (listedBlock{team, h, e}); after == "" || b.key() > after {
					out = append(out, b)
				}
				return true
			}
			return count
		})
	})
	return out, total, err
}
