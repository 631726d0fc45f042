package chunk

// Garbage collection: freeing blocks, compacting segments, returning space.
//
// A block whose reference count reaches zero leaves the block index at
// once (Release); its records stay in their segments as garbage. Compact
// reclaims that garbage segment by segment:
//
//  1. One pass over the block index sums, per segment file, the bytes of
//     the records the index points at (its live bytes). A segment's live
//     share is live bytes / file size. Segments with no live record, or a
//     live share below the threshold, are candidates. A stream's current
//     segment (its append target) is a candidate only once it has had no
//     append for Config.GCIdle; the stream is then first rolled over to a
//     new segment, so the old one is closed and a store whose every file
//     was deleted frees everything. Closed segments are never written
//     again: appends only ever go to a stream's current segment.
//  2. The candidates are marked doomed (in memory), then each is scanned:
//     records are found at 4 KiB-aligned offsets by their headers
//     (padding, torn records and garbage are skipped a block of alignment
//     at a time). In batches of records: the live ones (the index entry of
//     their team and hash exists and its location of their shard index is
//     exactly this directory, segment and offset) are copied verbatim to
//     the current segment of the same stream and synced; then one Badger
//     transaction repoints every entry that still names the old location
//     (compare and set: a release, repair or another move meanwhile wins
//     and the copy is left as an orphan).
//  3. One more pass over the index checks that nothing points into the
//     evacuated segments any more (a live record the scan could not see,
//     say behind a damaged header, keeps its segment); after Config.GCGrace
//     the files are deleted and their directories synced.
//
// Crash safety: copy and sync, then the index update, then the delete. A
// crash between the first two leaves orphan copies (garbage for the next
// pass); between the last two an unreferenced segment, deleted by the next
// pass. The index never names a record that is not durable.
//
// Concurrency. Compact runs one pass at a time (a mutex) beside ingest,
// reads, repair and releases:
//   - Reads look every block up in the index, so a moved block is read at
//     its new place. A read that looked a block up just before its entry
//     was repointed still opens the old file: old segments are deleted only
//     GCGrace after the repointing, and a file once opened stays readable.
//   - An ingest that deduplicated against a block (Has was true) commits a
//     reference to the entry, wherever its records are by then. If the
//     block was freed between Has and Commit, Commit fails with Conflict
//     and the part is sent again (the core.ChunkStore contract).
//   - An ingest writes new records first and commits their entries later,
//     so for a while its records look like garbage. Their segment is its
//     stream's current one unless it filled up or compaction rolled it,
//     and compaction rolls a segment only after GCIdle without appends.
//     Should it still be evacuated, Commit refuses a new entry that names
//     a doomed segment (Conflict: send the part again). The race between
//     that check and the deletion is closed by the batch transactions: for
//     every record whose block is not in the index, they write the block's
//     key (a put and a delete), so a Commit that checked before the segment
//     was doomed and commits after the batch conflicts in Badger, runs
//     again and then sees the doom.
//   - A repair that appended a rebuilt shard to a segment compaction then
//     evacuates, and repoints the index after the evacuation's final
//     check, leaves that one shard naming a deleted segment: reads and
//     scrub see a bad shard and rebuild it from parity again. The window
//     is a repair's own append-to-commit time after GCIdle of quiet.
//   - Close must not run while Compact or RunGC does.
//
// Deleting a file with millions of blocks releases its references in
// resumable batches (ReleaseBatched), the caller recording its progress in
// the same transactions.

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"haul/core"
)

// GCReport says what one compaction pass did.
type GCReport struct {
	SegmentsScanned   int64 `json:"segments_scanned"`   // segment files considered
	SegmentsDeleted   int64 `json:"segments_deleted"`   // deleted holding no live record
	SegmentsCompacted int64 `json:"segments_compacted"` // deleted after moving their live records forward
	RecordsMoved      int64 `json:"records_moved"`      // live records copied forward and repointed
	BytesFreed        int64 `json:"bytes_freed"`        // segment bytes deleted minus bytes written moving records
	BlocksFreed       int64 `json:"blocks_freed"`       // index entries at zero references dropped
}

const (
	// gcBatch is how many records of a segment one index transaction
	// covers.
	gcBatch = 256
	// gcGroup is how many segments are evacuated before their files are
	// deleted (one extra index pass and one grace wait per group).
	gcGroup = 256
	// releaseBatch is ReleaseBatched's default batch.
	releaseBatch = 4096

	defaultGCIdle  = time.Minute
	defaultGCGrace = 5 * time.Second
)

// segKey names one segment file: directory, stream (shard index), number.
type segKey struct {
	dir   uint8
	shard int
	seg   uint32
}

// gcState is the store's compaction state.
type gcState struct {
	mu sync.Mutex // one pass at a time

	doomedMu sync.RWMutex
	doomed   map[segKey]struct{} // segments compaction evacuates or has deleted; never appended to again
	any      atomic.Bool         // len(doomed) > 0

	// pinned counts, per segment, the ingests in progress that wrote
	// records into it: those records look dead until their Commit, so a
	// pinned segment is never compacted (a slow upload must not lose its
	// early blocks to a pass that runs while it is still sending).
	pinMu  sync.Mutex
	pinned map[segKey]int

	// hook, when set (tests), is called at each step of a pass: "copied"
	// (live records of a batch copied and synced), "indexed" (the batch's
	// index transaction committed), "deleted" (a group's files deleted); an
	// error stops the pass there, as a crash would.
	hook func(stage string) error
}

func (s *Store) gcHook(stage string) error {
	if s.gc.hook == nil {
		return nil
	}
	return s.gc.hook(stage)
}

func (s *Store) doom(segs []*gcSeg) {
	s.gc.doomedMu.Lock()
	defer s.gc.doomedMu.Unlock()
	if s.gc.doomed == nil {
		s.gc.doomed = map[segKey]struct{}{}
	}
	for _, c := range segs {
		s.gc.doomed[c.key] = struct{}{}
	}
	s.gc.any.Store(true)
}

// reclaimed reports whether a new entry names a segment compaction has
// doomed: its records may be gone, so it must not be committed.
func (s *Store) reclaimed(e *core.BlockEntry) bool {
	if !s.gc.any.Load() {
		return false
	}
	s.gc.doomedMu.RLock()
	defer s.gc.doomedMu.RUnlock()
	for i, l := range e.Shards {
		if _, ok := s.gc.doomed[segKey{l.Dir, i, l.Seg}]; ok {
			return true
		}
	}
	return false
}

func (s *Store) gcIdle() time.Duration {
	switch d := s.cfg.GCIdle; {
	case d == 0:
		return defaultGCIdle
	case d < 0:
		return 0
	default:
		return d
	}
}

func (s *Store) gcGrace() time.Duration {
	switch d := s.cfg.GCGrace; {
	case d == 0:
		return defaultGCGrace
	case d < 0:
		return 0
	default:
		return d
	}
}

// current returns the stream's append target, and false once it is closed.
func (st *stream) current() (uint32, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.seg, st.f != nil
}

// rollFrom closes segment seg early if it is still the stream's append
// target: what was appended is synced and a new segment started. It
// reports whether seg is no longer the target.
func (st *stream) rollFrom(seg uint32) (bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.f == nil {
		return false, nil
	}
	if st.seg != seg {
		return st.seg > seg, nil
	}
	if err := st.syncLocked(); err != nil {
		if errors.Is(err, errSegmentGone) {
			return true, nil // it was removed under us and the stream moved on
		}
		return false, err
	}
	if err := st.open(seg + 1); err != nil {
		return false, err
	}
	return true, nil
}

// gcSeg is one candidate segment of a pass.
type gcSeg struct {
	key        segKey
	path       string
	size       int64
	live       int64 // live bytes at the index pass
	moved      int64 // records moved out
	movedBytes int64 // bytes written moving them
	keep       bool  // something live may remain: do not delete
	done       bool  // evacuated
}

func (c *gcSeg) share() float64 {
	if c.size == 0 {
		return 0
	}
	return float64(c.live) / float64(c.size)
}

// Compact reclaims the space of freed blocks: segments without live
// records are deleted, and segments whose live share (live record bytes /
// file size) is below threshold have their live records copied forward
// and are then deleted. See the package's GC notes at the top of gc.go.
func (s *Store) Compact(ctx context.Context, threshold float64) (GCReport, error) {
	const op = "chunk.compact"
	var rep GCReport
	if s.closed.Load() {
		return rep, core.E(op, core.Unavailable, "the chunk store is closed")
	}
	s.gc.mu.Lock()
	defer s.gc.mu.Unlock()
	freed, err := s.freeUnreferenced(ctx)
	if err != nil {
		return rep, err
	}
	rep.BlocksFreed = freed
	live, err := s.liveBytes(ctx)
	if err != nil {
		return rep, err
	}
	cands, err := s.gcCandidates(threshold, live, &rep)
	if err != nil {
		return rep, err
	}
	// Empty segments first: they free space without taking any.
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].share() < cands[j].share() })
	for len(cands) > 0 {
		n := min(len(cands), gcGroup)
		if err := s.compactGroup(ctx, cands[:n], &rep); err != nil {
			return rep, err
		}
		cands = cands[n:]
	}
	return rep, nil
}

// freeUnreferenced drops index entries at zero references (left by an
// index rebuild, since Release drops its own at once), in batches, each
// checked again inside the deleting transaction; their records become
// garbage for the compaction that follows. A Commit that deduplicated
// against such a block and lost the race gets Conflict and the part is
// sent again.
func (s *Store) freeUnreferenced(ctx context.Context) (int64, error) {
	if s.refsUnknown() {
		s.log.Warn("compaction frees no block: the block index was rebuilt without file records (haul fsck --rebuild-index needs them to recount references)")
		return 0, nil
	}
	type key struct {
		team string
		h    core.Hash
	}
	var freed int64
	for {
		var batch []key
		err := s.meta.View(ctx, func(tx core.Tx) error {
			return tx.Blocks(func(team string, h core.Hash, e *core.BlockEntry) bool {
				if e.Refs <= 0 {
					batch = append(batch, key{team, h})
				}
				return len(batch) < 1024
			})
		})
		if err != nil || len(batch) == 0 {
			return freed, err
		}
		err = s.meta.Update(ctx, func(tx core.Tx) error {
			for _, k := range batch {
				e, err := tx.Block(k.team, k.h)
				if core.Is(err, core.NotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if e.Refs <= 0 {
					if err := tx.DeleteBlock(k.team, k.h); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return freed, err
		}
		freed += int64(len(batch))
	}
}

// liveBytes sums, per segment, the bytes of the records the index names.
func (s *Store) liveBytes(ctx context.Context) (map[segKey]int64, error) {
	live := map[segKey]int64{}
	err := s.meta.View(ctx, func(tx core.Tx) error {
		return tx.Blocks(func(_ string, _ core.Hash, e *core.BlockEntry) bool {
			n := recordSize(int(shardLen(e.Len, int(e.Data))))
			for i, l := range e.Shards {
				live[segKey{l.Dir, i, l.Seg}] += n
			}
			return true
		})
	})
	return live, err
}

// gcCandidates lists the segments to evacuate, rolling over the streams
// whose current segment is one of them.
func (s *Store) gcCandidates(threshold float64, live map[segKey]int64, rep *GCReport) ([]*gcSeg, error) {
	const op = "chunk.compact"
	var out []*gcSeg
	idle := s.gcIdle()
	for d, dir := range s.dirs {
		ents, err := segments(s.fs, dir)
		if err != nil {
			// A dead disk must not stop the others from being compacted.
			s.log.Warn("compaction skips a data directory that cannot be read", "dir", dir, "err", err)
			continue
		}
		for _, ent := range ents {
			shard, seg, _ := parseSegName(ent.Name())
			fi, err := ent.Info()
			if err != nil {
				continue // removed meanwhile
			}
			rep.SegmentsScanned++
			c := &gcSeg{key: segKey{uint8(d), shard, seg}, path: filepath.Join(dir, ent.Name()), size: fi.Size()}
			c.live = live[c.key]
			if c.live > 0 && c.share() >= threshold {
				continue
			}
			if s.isPinned(c.key) {
				continue
			}
			st, err := s.stream(uint8(d), shard)
			if err != nil {
				return nil, err
			}
			cur, open := st.current()
			switch {
			case !open:
				return nil, core.E(op, core.Unavailable, "the chunk store is closed")
			case seg > cur:
				continue // newer than the stream knows: leave it alone
			case seg == cur:
				if c.size == 0 || time.Since(fi.ModTime()) < idle {
					continue
				}
				rolled, err := st.rollFrom(seg)
				if err != nil {
					return nil, ioError(op, dir, err)
				}
				if !rolled {
					continue
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// compactGroup evacuates a group of segments, checks that the index names
// none of them any more, waits out the grace and deletes them.
func (s *Store) compactGroup(ctx context.Context, group []*gcSeg, rep *GCReport) error {
	const op = "chunk.compact"
	s.doom(group)
	var firstErr error
	buf := &gcBuf{}
	for _, c := range group {
		if err := ctx.Err(); err != nil {
			firstErr = core.Wrap(op, err)
			break
		}
		err := s.evacuate(ctx, c, buf, rep)
		rep.BytesFreed -= c.movedBytes
		if err != nil {
			firstErr = err
			break
		}
		c.done = true
	}
	var ready []*gcSeg
	for _, c := range group {
		if c.done && !c.keep {
			ready = append(ready, c)
		}
	}
	if len(ready) == 0 {
		return firstErr
	}
	if err := s.checkUnreferenced(ctx, ready); err != nil {
		return errors.Join(firstErr, err)
	}
	if d := s.gcGrace(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(firstErr, core.Wrap(op, ctx.Err()))
		case <-t.C:
		}
	}
	synced := map[uint8]bool{}
	for _, c := range ready {
		if c.keep {
			continue
		}
		if err := s.fs.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			firstErr = errors.Join(firstErr, ioError(op, c.path, err))
			continue
		}
		synced[c.key.dir] = false
		rep.BytesFreed += c.size
		if c.moved > 0 {
			rep.SegmentsCompacted++
		} else {
			rep.SegmentsDeleted++
		}
	}
	for d := range synced {
		if err := s.fs.SyncDir(s.dirs[d]); err != nil {
			firstErr = errors.Join(firstErr, ioError(op, s.dirs[d], err))
		}
	}
	if err := s.gcHook("deleted"); err != nil {
		firstErr = errors.Join(firstErr, err)
	}
	return firstErr
}

// checkUnreferenced marks the segments the index still names to be kept.
func (s *Store) checkUnreferenced(ctx context.Context, segs []*gcSeg) error {
	by := make(map[segKey]*gcSeg, len(segs))
	for _, c := range segs {
		by[c.key] = c
	}
	return s.meta.View(ctx, func(tx core.Tx) error {
		return tx.Blocks(func(team string, h core.Hash, e *core.BlockEntry) bool {
			for i, l := range e.Shards {
				if c, ok := by[segKey{l.Dir, i, l.Seg}]; ok && !c.keep {
					c.keep = true
					s.log.Warn("compaction keeps a segment the block index still names", "segment", c.path, "block", h.Short(), "offset", l.Off)
				}
			}
			return true
		})
	})
}

// gcRec is a record found in a segment.
type gcRec struct {
	off int64
	h   header
}

// at reports whether e names this record as its shard in segment k.
func (r *gcRec) at(e *core.BlockEntry, k segKey) bool {
	i := int(r.h.Shard)
	return i < len(e.Shards) && e.Shards[i] == core.ShardLoc{Dir: k.dir, Seg: k.seg, Off: r.off}
}

// gcBuf holds a pass's buffers.
type gcBuf struct {
	hdr []byte
	rec []byte // aligned, for O_DIRECT appends
}

func (b *gcBuf) record(n int) []byte {
	if cap(b.rec) < n {
		b.rec = alignedBuf(n)
	}
	return b.rec[:n]
}

// evacuate moves the live records of one segment forward.
func (s *Store) evacuate(ctx context.Context, c *gcSeg, buf *gcBuf, rep *GCReport) error {
	f, _, err := s.fs.OpenFile(c.path, os.O_RDONLY, 0, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // gone already
	}
	if err != nil {
		c.keep = true
		s.log.Warn("compaction cannot open a segment; it is kept", "segment", c.path, "err", err)
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		c.keep = true
		return nil
	}
	c.size = fi.Size()
	st, err := s.stream(c.key.dir, c.key.shard)
	if err != nil {
		return err
	}
	if cap(buf.hdr) < headerSize {
		buf.hdr = make([]byte, headerSize)
	}
	var batch []gcRec
	off := int64(0)
	for {
		r, next, ok, rerr := nextRecord(f, off, c.size, c.key.shard, buf.hdr)
		if rerr != nil {
			c.keep = true // what follows cannot be read: keep the segment
			s.log.Warn("compaction cannot read a segment; it is kept", "segment", c.path, "offset", off, "err", rerr)
		}
		if ok {
			batch = append(batch, r)
			off = next
		}
		if len(batch) > 0 && (len(batch) == gcBatch || !ok) {
			if err := s.moveBatch(ctx, c, f, st, batch, buf, rep); err != nil {
				return err
			}
			batch = batch[:0]
		}
		if !ok {
			return nil
		}
	}
}

// nextRecord finds the first record of stream shard at or after off.
func nextRecord(f File, off, size int64, shard int, hdr []byte) (gcRec, int64, bool, error) {
	for ; off+headerSize <= size; off += align {
		n, err := f.ReadAt(hdr[:headerSize], off)
		if n < headerSize {
			if err == nil || errors.Is(err, io.EOF) {
				return gcRec{}, 0, false, nil
			}
			return gcRec{}, 0, false, err
		}
		h, err := parseHeader(hdr)
		if err != nil || int(h.Shard) != shard {
			continue
		}
		return gcRec{off: off, h: h}, off + recordSize(int(h.ShardLen)), true, nil
	}
	return gcRec{}, 0, false, nil
}

// moveBatch copies the live records of a batch forward, syncs them, and
// repoints their index entries in one transaction.
func (s *Store) moveBatch(ctx context.Context, c *gcSeg, f File, st *stream, batch []gcRec, buf *gcBuf, rep *GCReport) error {
	const op = "chunk.compact"
	entries := make([]*core.BlockEntry, len(batch))
	err := s.meta.View(ctx, func(tx core.Tx) error {
		for i := range batch {
			e, err := tx.Block(batch[i].h.Team, batch[i].h.Hash)
			switch {
			case err == nil:
				entries[i] = e
			case core.Is(err, core.NotFound):
			case core.Is(err, core.Corrupt):
				c.keep = true // liveness unknown
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fresh := make([]core.ShardLoc, len(batch))
	copied := make([]bool, len(batch))
	wrote := false
	for i := range batch {
		r, e := &batch[i], entries[i]
		if e == nil || !r.at(e, c.key) {
			continue
		}
		if err := s.checkRecord(f, r, e, buf); err != nil {
			c.keep = true // leave it to repair; the segment stays
			s.log.Warn("compaction found a damaged live record; its segment is kept for repair", "segment", c.path, "offset", r.off, "block", r.h.Hash.Short(), "err", err)
			continue
		}
		rec := buf.record(int(recordSize(int(r.h.ShardLen))))
		loc, err := st.append(rec)
		if err != nil {
			return ioError(op, st.dir, err)
		}
		fresh[i], copied[i], wrote = loc, true, true
		c.movedBytes += int64(len(rec))
	}
	if wrote {
		if err := st.sync(); err != nil {
			return ioError(op, st.dir, err)
		}
	}
	if err := s.gcHook("copied"); err != nil {
		return err
	}
	var moved int64
	var stillLive bool
	err = s.meta.Update(ctx, func(tx core.Tx) error {
		moved, stillLive = 0, false
		for i := range batch {
			r := &batch[i]
			e, err := tx.Block(r.h.Team, r.h.Hash)
			switch {
			case core.Is(err, core.NotFound):
				if err := touchFreed(tx, r.h.Team, r.h.Hash); err != nil {
					return err
				}
				continue
			case core.Is(err, core.Corrupt):
				stillLive = true
				continue
			case err != nil:
				return err
			}
			if !r.at(e, c.key) {
				continue // freed and stored again, repaired, or moved: this copy is garbage
			}
			if !copied[i] {
				stillLive = true // became live after the check, or damaged
				continue
			}
			e.Shards[r.h.Shard] = fresh[i]
			if err := tx.PutBlock(r.h.Team, r.h.Hash, e); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.moved += moved
	rep.RecordsMoved += moved
	if stillLive {
		c.keep = true
	}
	return s.gcHook("indexed")
}

// checkRecord reads a live record into buf's record buffer and checks it
// against its index entry and its CRC.
func (s *Store) checkRecord(f File, r *gcRec, e *core.BlockEntry, buf *gcBuf) error {
	if e.Len != int64(r.h.BlockLen) || e.Data != r.h.Data || e.Parity != r.h.Parity || int64(r.h.ShardLen) > s.bsize {
		return fmt.Errorf("record header does not match the index entry")
	}
	rec := buf.record(int(recordSize(int(r.h.ShardLen))))
	if n, err := f.ReadAt(rec, r.off); n < headerSize+int(r.h.ShardLen) {
		return fmt.Errorf("short record: %v", err)
	}
	// Bytes past the shard data are padding; a torn tail may hold junk there.
	clear(rec[headerSize+int(r.h.ShardLen):])
	if crc32.Checksum(rec[headerSize:headerSize+int(r.h.ShardLen)], castagnoli) != r.h.DataCRC {
		return fmt.Errorf("shard data fails its CRC")
	}
	return nil
}

// touchFreed writes the key of a block that is not in the index (a put
// and a delete, leaving it absent), so that a Commit of a new entry for it
// that read the key before this transaction conflicts and runs again.
func touchFreed(tx core.Tx, team string, h core.Hash) error {
	err := tx.PutBlock(team, h, &core.BlockEntry{Data: 1, Shards: make([]core.ShardLoc, 1)})
	if core.Is(err, core.Invalid) {
		return nil // a team id no Commit could store either
	}
	if err != nil {
		return err
	}
	return tx.DeleteBlock(team, h)
}

// ReleaseBatched releases the references of a file's blocks, as Release
// does, in transactions of batch blocks each (default 4096 when batch <=
// 0), so that a file with millions of blocks never needs one huge
// transaction. commit, when not nil, runs inside every batch's transaction
// after its releases, with done = how many blocks of blocks are released
// once it commits (len(blocks) in the last batch; it runs once, with 0,
// for an empty list): the caller records its progress there, atomically
// with the releases, and deletes its file record when done ==
// len(blocks). An error from commit aborts that batch (earlier batches
// stay committed) and is returned. To resume, call again with
// blocks[recorded:] and add recorded to the done values. Like every
// metadata transaction, commit may run more than once per batch.
func (s *Store) ReleaseBatched(ctx context.Context, team core.TeamKey, blocks []core.Block, batch int, commit func(tx core.Tx, done int) error) error {
	if batch <= 0 {
		batch = releaseBatch
	}
	for done := 0; ; {
		end := min(done+batch, len(blocks))
		err := s.meta.Update(ctx, func(tx core.Tx) error {
			if err := s.Release(tx, team, blocks[done:end]); err != nil {
				return err
			}
			if commit != nil {
				return commit(tx, end)
			}
			return nil
		})
		if err != nil {
			return err
		}
		done = end
		if done == len(blocks) {
			return nil
		}
	}
}

// RunGC runs Compact every interval until ctx ends, logging what each
// pass freed. Cancel ctx and wait for RunGC to return before Close.
func (s *Store) RunGC(ctx context.Context, threshold float64, every time.Duration) {
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.closed.Load() {
			return
		}
		rep, err := s.Compact(ctx, threshold)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("chunk store compaction failed", "err", err, "segments_deleted", rep.SegmentsDeleted,
				"segments_compacted", rep.SegmentsCompacted, "bytes_freed", rep.BytesFreed)
		case rep.SegmentsDeleted+rep.SegmentsCompacted > 0:
			s.log.Info("chunk store compacted", "segments_scanned", rep.SegmentsScanned, "segments_deleted", rep.SegmentsDeleted,
				"segments_compacted", rep.SegmentsCompacted, "records_moved", rep.RecordsMoved, "bytes_freed", rep.BytesFreed)
		}
	}
}

// pin marks the segments holding a block's records as in use by an ingest
// until unpin; it returns the keys to unpin.
func (s *Store) pin(e *core.BlockEntry, keys []segKey) []segKey {
	s.gc.pinMu.Lock()
	defer s.gc.pinMu.Unlock()
	if s.gc.pinned == nil {
		s.gc.pinned = map[segKey]int{}
	}
	for i, l := range e.Shards {
		k := segKey{l.Dir, i, l.Seg}
		if len(keys) > 0 && keys[len(keys)-1] == k {
			continue
		}
		s.gc.pinned[k]++
		keys = append(keys, k)
	}
	return keys
}

// unpin releases what pin marked.
func (s *Store) unpin(keys []segKey) {
	s.gc.pinMu.Lock()
	defer s.gc.pinMu.Unlock()
	for _, k := range keys {
		if s.gc.pinned[k]--; s.gc.pinned[k] <= 0 {
			delete(s.gc.pinned, k)
		}
	}
}

func (s *Store) isPinned(k segKey) bool {
	s.gc.pinMu.Lock()
	defer s.gc.pinMu.Unlock()
	return s.gc.pinned[k] > 0
}
