package chunk

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"haul/core"
)

// FsckReport is what Fsck found and did.
type FsckReport struct {
	// ScrubReport covers the verification of every indexed block.
	ScrubReport
	// Misplaced counts good shards held by a directory beyond its share of
	// their block (ceil(shards/dirs)), which lowers how many directory
	// losses the block survives; Moved counts those moved (with repair).
	Misplaced int64 `json:"misplaced"`
	Moved     int64 `json:"moved"`
	// Segments and Records count the segment files scanned and the valid
	// records (header and data CRC) found in them.
	Segments int64 `json:"segments"`
	Records  int64 `json:"records"`
	// Torn counts records whose header is intact but whose data is
	// damaged or cut short: torn writes never acknowledged, or damaged
	// shards (those the index points at are also in Bad).
	Torn int64 `json:"torn"`
	// Orphans are valid records the index does not point at (unreferenced
	// ingests, superseded copies, freed blocks): garbage that GC reclaims;
	// fsck never deletes them. OrphanBytes is the space they take.
	Orphans     int64 `json:"orphans"`
	OrphanBytes int64 `json:"orphan_bytes"`
	// Replaced lists the empty data directories Open took as replacements
	// of lost ones (Config.AllowReplaced); repair refills them.
	Replaced []string `json:"replaced,omitempty"`
}

// OK reports whether the store is whole: every block readable, every bad
// shard repaired, every misplaced shard moved. Orphans are not damage.
func (r *FsckReport) OK() bool {
	return r.Unrecoverable == 0 && r.Bad == r.Repaired && r.Misplaced == r.Moved
}

// Fsck verifies every indexed block (every shard: header checks and CRC)
// and, with repair, rebuilds bad shards from parity, refills replaced
// directories (a rebuilt shard goes back to its old directory index,
// which a replacement directory takes over) and moves shards that share
// a directory beyond the geometry's spread. Then it scans every segment
// for records at 4 KiB-aligned offsets and counts orphans: valid records
// that no index entry points at. It is meant for a stopped server (haul
// fsck): records written concurrently would count as orphans. The report
// is not OK while damage remains; a block that lost more shards than its
// parity covers stays Unrecoverable.
func (s *Store) Fsck(ctx context.Context, repair bool) (FsckReport, error) {
	s.scrubMu.Lock()
	defer s.scrubMu.Unlock()
	rep := FsckReport{Replaced: slices.Clone(s.replaced)}
	res, err := s.verifyAll(ctx, passOpts{checkOpts: checkOpts{repair: repair, rebalance: true}})
	rep.ScrubReport, rep.Misplaced, rep.Moved = res.ScrubReport, res.misplaced, res.moved
	if err != nil {
		return rep, err
	}
	err = s.scanOrphans(ctx, &rep)
	return rep, err
}

// scanOrphans counts the records no index entry points at.
func (s *Store) scanOrphans(ctx context.Context, rep *FsckReport) error {
	var batch []scanned
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.meta.View(ctx, func(tx core.Tx) error {
			entries := map[blockID]*core.BlockEntry{}
			for _, rec := range batch {
				k := blockID{rec.hd.Team, rec.hd.Hash}
				e, ok := entries[k]
				if !ok {
					var err error
					e, err = tx.Block(rec.hd.Team, rec.hd.Hash)
					if err != nil && !core.Is(err, core.NotFound) && !core.Is(err, core.Invalid) {
						return err
					}
					entries[k] = e
				}
				if !rec.liveIn(e) {
					rep.Orphans++
					rep.OrphanBytes += rec.size
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	segs, err := s.scanRecords(ctx, func(rec scanned) error {
		if !rec.ok {
			rep.Torn++
			return nil
		}
		rep.Records++
		batch = append(batch, rec)
		if len(batch) >= scrubBatch {
			return flush()
		}
		return nil
	})
	rep.Segments = segs
	if err != nil {
		return err
	}
	return flush()
}

// scanned is a record found by scanning a segment.
type scanned struct {
	hd        header
	shard     int           // the stream's shard index (from the file name)
	loc       core.ShardLoc // where it is
	size      int64         // the space it takes
	ok        bool          // its data is whole and passes its CRC
	indexable bool          // its team id is one the index can hold
}

// liveIn reports whether index entry e (nil: none) points at the record.
func (r *scanned) liveIn(e *core.BlockEntry) bool {
	return e != nil && int(r.hd.Shard) == r.shard && r.shard < len(e.Shards) && e.Shards[r.shard] == r.loc &&
		r.hd.Data == e.Data && r.hd.Parity == e.Parity && r.hd.BlockLen == uint64(e.Len)
}

// scanWindow is how much of a segment a scan reads at once.
const scanWindow = 4 << 20

// scanRecords calls fn for every record with an intact header in the
// segments of every data directory (by directory index, file name and
// offset), probing 4 KiB-aligned offsets and skipping whole records. It
// returns the number of segment files scanned.
func (s *Store) scanRecords(ctx context.Context, fn func(scanned) error) (int64, error) {
	const op = "chunk.scan"
	var segs int64
	sr := &segReader{}
	for d, dir := range s.dirs {
		ents, err := segments(s.fs, dir)
		if errors.Is(err, os.ErrNotExist) {
			// Gone under a running store (a dead disk): its shards
			// are bad shards to the verification.
			s.log.Warn("data directory is missing; not scanned", "dir", dir)
			continue
		}
		if err != nil {
			return segs, ioError(op, dir, err)
		}
		for _, ent := range ents {
			if err := ctx.Err(); err != nil {
				return segs, core.Wrap(op, err)
			}
			shard, seg, _ := parseSegName(ent.Name())
			f, _, err := s.fs.OpenFile(filepath.Join(dir, ent.Name()), os.O_RDONLY, 0, false)
			if errors.Is(err, os.ErrNotExist) {
				continue // removed meanwhile (compaction)
			}
			if err != nil {
				return segs, ioError(op, dir, err)
			}
			segs++
			err = s.scanSegment(f, sr, uint8(d), shard, seg, fn)
			f.Close()
			if err != nil {
				return segs, err
			}
		}
	}
	return segs, nil
}

func (s *Store) scanSegment(f File, sr *segReader, dir uint8, shard int, seg uint32, fn func(scanned) error) error {
	st, err := f.Stat()
	if err != nil {
		return ioError("chunk.scan", s.dirs[dir], err)
	}
	size := st.Size()
	sr.reset(f)
	for off := int64(0); off+headerSize <= size; {
		b, err := sr.at(off, headerSize)
		if err != nil {
			return ioError("chunk.scan", s.dirs[dir], err)
		}
		hd, err := parseHeader(b)
		if err != nil || int64(hd.ShardLen) > s.bsize || hd.BlockLen > uint64(s.bsize) {
			off += align
			continue
		}
		rec := scanned{hd: hd, shard: shard, loc: core.ShardLoc{Dir: dir, Seg: seg, Off: off},
			size: recordSize(int(hd.ShardLen)),
			// The index refuses empty team ids and ids with a slash
			// (ingests under such ids never committed).
			indexable: hd.Team != "" && !strings.Contains(hd.Team, "/")}
		if off+headerSize+int64(hd.ShardLen) <= size {
			data, err := sr.at(off+headerSize, int(hd.ShardLen))
			if err != nil {
				return ioError("chunk.scan", s.dirs[dir], err)
			}
			rec.ok = crc32.Checksum(data, castagnoli) == hd.DataCRC
		}
		if err := fn(rec); err != nil {
			return err
		}
		if rec.ok {
			off += rec.size
		} else {
			// The header is intact, so its length is trustworthy, but
			// a record cut short may be followed by others at any
			// aligned offset.
			off += align
		}
	}
	return nil
}

// segReader reads a segment through a window, so scanning costs few,
// large reads.
type segReader struct {
	f    File
	buf  []byte
	base int64
	n    int
}

func (r *segReader) reset(f File) { r.f, r.base, r.n = f, 0, 0 }

// at returns n bytes at off, which must lie within the file.
func (r *segReader) at(off int64, n int) ([]byte, error) {
	if off >= r.base && off+int64(n) <= r.base+int64(r.n) {
		return r.buf[off-r.base:][:n], nil
	}
	want := max(n, scanWindow)
	if cap(r.buf) < want {
		r.buf = make([]byte, want)
	}
	m, err := r.f.ReadAt(r.buf[:want], off)
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		r.n = 0
		return nil, err
	}
	r.base, r.n = off, m
	return r.buf[:n], nil
}

// RebuildMeta is what RebuildIndex needs of the metadata.
type RebuildMeta struct {
	// Store holds the block index, which must be empty: the caller has
	// dropped its prefix (meta.DB.DropBlockIndex).
	Store core.Store
	// Refs enumerates every block reference held by file records: it
	// calls yield once per reference, so a block a file lists twice is
	// yielded twice, and returns an error if the records cannot be read.
	// yield writes to Store in batches, so Refs may read the file records
	// in read-only transactions but must not hold a read-write one open.
	// Nil means there are no file records (every block is unreferenced).
	Refs func(yield func(teamID string, h core.Hash)) error
}

// RebuildReport is what RebuildIndex found and did.
type RebuildReport struct {
	Segments int64 `json:"segments"` // segment files scanned
	Records  int64 `json:"records"`  // valid records found (header and data CRC)
	Torn     int64 `json:"torn"`     // records with an intact header but damaged or missing data, skipped
	Foreign  int64 `json:"foreign"`  // valid records of team ids the index cannot hold (never committed), skipped
	Blocks   int64 `json:"blocks"`   // blocks indexed
	// Degraded blocks were indexed with some shards missing (but at
	// least their data shards' count): fsck --repair or scrub rebuilds
	// the missing ones.
	Degraded int64 `json:"degraded"`
	// Unrecoverable blocks are referenced but have fewer valid shards than
	// data shards; they stay indexed so reads fail as Corrupt and fsck
	// reports them. Damaged has their short hashes (the first maxDamaged).
	Unrecoverable int64    `json:"unrecoverable"`
	Damaged       []string `json:"damaged,omitempty"`
	// Dropped counts unreferenced blocks with too few shards to rebuild
	// (remains of freed blocks), left out of the index.
	Dropped int64 `json:"dropped"`
	// References counts the references Refs yielded; Unreferenced the
	// indexed blocks none of them names (GC frees them).
	References   int64 `json:"references"`
	Unreferenced int64 `json:"unreferenced"`
	// Missing counts references to blocks no segment holds a record of;
	// MissingBlocks has their short hashes (the first maxDamaged).
	Missing       int64    `json:"missing"`
	MissingBlocks []string `json:"missing_blocks,omitempty"`
}

// noDir marks a shard that no valid record was found for: no store has
// 256 directories, so reads see it as a bad shard and repair rebuilds it.
const noDir = 0xff

// RebuildIndex rebuilds the block index from the segments alone (haul
// fsck --rebuild-index, server stopped). The caller first drops the
// index's key prefix (meta.DB.DropBlockIndex); RebuildIndex refuses a
// non-empty index. It opens the store over cfg.Dirs (markers checked as
// by Open) and:
//
//  1. scans every segment at 4 KiB-aligned offsets; each valid record
//     (header and data CRC) is a shard of block (team, hash). Per shard
//     index it keeps the record in the shard's natural directory (index
//     mod dirs) if there is one, else any other, and among those the
//     newest (highest segment, then offset); a shard with no valid
//     record is left for repair. Entries are written in batches with
//     zero references. Should one block have records of two geometries
//     (freed and stored again after a geometry change), the one kept is
//     readable (at least its data shards found), then complete, then the
//     store's current geometry, then the one with more shards found.
//  2. recomputes reference counts from the file records: meta.Refs
//     yields every block reference they hold, and each adds one to its
//     block's count. References to blocks no segment holds are reported
//     Missing. With no file records (Refs nil or yielding nothing)
//     every block stays at zero references.
//  3. lists the result: blocks that cannot be rebuilt (fewer valid shards
//     than data shards) are dropped when unreferenced and reported
//     Unrecoverable otherwise; blocks at zero references stay indexed and
//     are reported Unreferenced (GC frees them, as it frees any block at
//     zero references).
//
// Run haul fsck --repair afterwards to rebuild Degraded blocks' missing
// shards.
func RebuildIndex(ctx context.Context, cfg Config, meta RebuildMeta) (RebuildReport, error) {
	const op = "chunk.rebuild_index"
	var rep RebuildReport
	if meta.Store == nil {
		return rep, core.E(op, core.Invalid, "no metadata store")
	}
	s, err := Open(cfg, meta.Store)
	if err != nil {
		return rep, err
	}
	defer s.Close()
	if indexed, err := s.anyBlock(); err != nil {
		return rep, err
	} else if indexed {
		return rep, core.E(op, core.Invalid, "the block index is not empty: drop it first (haul fsck --rebuild-index does)")
	}
	if err := s.indexRecords(ctx, &rep); err != nil {
		return rep, err
	}
	if meta.Refs != nil {
		if err := s.countRefs(ctx, meta.Refs, &rep); err != nil {
			return rep, err
		}
	}
	// Without the file records' references every count is zero, and
	// compaction would free every block: it stays off until an index
	// rebuild that had them.
	if err := s.setRefsUnknown(meta.Refs == nil); err != nil {
		return rep, err
	}
	return rep, s.finishRebuild(ctx, &rep)
}

// refsUnknownName marks, in every data directory, an index whose
// reference counts were not recomputed from the file records.
const refsUnknownName = "refs-unknown"

func (s *Store) setRefsUnknown(unknown bool) error {
	for _, d := range s.dirs {
		p := filepath.Join(d, refsUnknownName)
		if !unknown {
			if err := s.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return ioError("chunk.rebuild_index", d, err)
			}
			continue
		}
		f, _, err := s.fs.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600, false)
		if err == nil {
			_, err = f.WriteAt([]byte("the block index was rebuilt without file records; reference counts are unknown, so compaction frees nothing\n"), 0)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			err = s.fs.SyncDir(d)
		}
		if err != nil {
			return ioError("chunk.rebuild_index", d, err)
		}
	}
	return nil
}

// refsUnknown reports whether reference counts are unreliable.
func (s *Store) refsUnknown() bool {
	for _, d := range s.dirs {
		if _, err := s.fs.Stat(filepath.Join(d, refsUnknownName)); err == nil {
			return true
		}
	}
	return false
}

// geometry is what a block's records must agree on.
type geometry struct {
	data, parity uint8
	blockLen     uint64
}

// candidate is one valid record found for a block.
type candidate struct {
	geometry
	shard int
	loc   core.ShardLoc
}

// indexRecords is step 1 of RebuildIndex.
func (s *Store) indexRecords(ctx context.Context, rep *RebuildReport) error {
	pending := map[blockID][]candidate{}
	npending := 0
	// other holds records of a block in a geometry other than its entry's:
	// rare, so kept in memory and resolved at the end.
	other := map[blockID][]candidate{}
	flush := func() error {
		if npending == 0 {
			return nil
		}
		var more map[blockID][]candidate
		err := s.meta.Update(ctx, func(tx core.Tx) error {
			more = map[blockID][]candidate{}
			for k, cs := range pending {
				e, err := tx.Block(k.team, k.hash)
				if core.Is(err, core.NotFound) {
					e, err = nil, nil
				}
				if err != nil {
					return err
				}
				var changed bool
				e, changed = s.mergeCandidates(e, cs, func(c candidate) { more[k] = append(more[k], c) })
				if changed {
					if err := tx.PutBlock(k.team, k.hash, e); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for k, cs := range more {
			other[k] = append(other[k], cs...)
		}
		clear(pending)
		npending = 0
		return nil
	}
	segs, err := s.scanRecords(ctx, func(rec scanned) error {
		switch {
		case !rec.ok:
			rep.Torn++
			return nil
		case !rec.indexable || int(rec.hd.Shard) != rec.shard:
			rep.Foreign++
			return nil
		}
		rep.Records++
		k := blockID{rec.hd.Team, rec.hd.Hash}
		pending[k] = append(pending[k], candidate{geometry{rec.hd.Data, rec.hd.Parity, rec.hd.BlockLen}, rec.shard, rec.loc})
		if npending++; npending >= scrubBatch {
			return flush()
		}
		return nil
	})
	rep.Segments = segs
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	// Blocks with records of another geometry: keep the best one.
	for k, cs := range other {
		err := s.meta.Update(ctx, func(tx core.Tx) error {
			e, err := tx.Block(k.team, k.hash)
			if err != nil {
				return err
			}
			best := e
			for _, g := range geometries(cs) {
				var alt *core.BlockEntry
				for _, c := range cs {
					if c.geometry == g {
						alt, _ = s.mergeCandidates(alt, []candidate{c}, func(candidate) {})
					}
				}
				if slices.Compare(s.rank(alt), s.rank(best)) > 0 {
					best = alt
				}
			}
			if best == e {
				return nil
			}
			return tx.PutBlock(k.team, k.hash, best)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func geometries(cs []candidate) []geometry {
	var out []geometry
	for _, c := range cs {
		if !slices.Contains(out, c.geometry) {
			out = append(out, c.geometry)
		}
	}
	return out
}

// rank orders the possible entries of one block: readable first, then
// complete, then in the store's geometry, then with more shards found.
func (s *Store) rank(e *core.BlockEntry) []int {
	b := func(c bool) int {
		if c {
			return 1
		}
		return 0
	}
	n := present(e)
	return []int{b(n >= int(e.Data)), b(n == len(e.Shards)),
		b(int(e.Data) == s.cfg.DataShards && int(e.Parity) == s.cfg.ParityShards), n}
}

// present counts the shards of e that have a record.
func present(e *core.BlockEntry) int {
	n := 0
	for _, l := range e.Shards {
		if l.Dir != noDir {
			n++
		}
	}
	return n
}

// mergeCandidates adds records to entry e (nil: a new entry from the first
// one's geometry); records of another geometry go to other. It reports
// whether e changed.
func (s *Store) mergeCandidates(e *core.BlockEntry, cs []candidate, other func(candidate)) (*core.BlockEntry, bool) {
	changed := false
	for _, c := range cs {
		if e == nil {
			n := int(c.data) + int(c.parity)
			e = &core.BlockEntry{Len: int64(c.blockLen), Data: c.data, Parity: c.parity, Shards: make([]core.ShardLoc, n)}
			for i := range e.Shards {
				e.Shards[i].Dir = noDir
			}
			changed = true
		}
		if (geometry{e.Data, e.Parity, uint64(e.Len)}) != c.geometry {
			other(c)
			continue
		}
		if s.betterLoc(c.shard, c.loc, e.Shards[c.shard]) {
			e.Shards[c.shard] = c.loc
			changed = true
		}
	}
	return e, changed
}

// betterLoc reports whether record location a is a better choice for
// shard i than b: a record in the shard's natural directory first, then
// the newest (segment, offset).
func (s *Store) betterLoc(i int, a, b core.ShardLoc) bool {
	if b.Dir == noDir {
		return true
	}
	natural := s.placement(i)
	if an, bn := a.Dir == natural, b.Dir == natural; an != bn {
		return an
	}
	if a.Seg != b.Seg {
		return a.Seg > b.Seg
	}
	if a.Off != b.Off {
		return a.Off > b.Off
	}
	return a.Dir > b.Dir
}

// countRefs is step 2 of RebuildIndex.
func (s *Store) countRefs(ctx context.Context, refs func(yield func(string, core.Hash)) error, rep *RebuildReport) error {
	counts := map[blockID]int64{}
	var ferr error
	flush := func() {
		if ferr != nil || len(counts) == 0 {
			return
		}
		var missing []blockID
		ferr = s.meta.Update(ctx, func(tx core.Tx) error {
			missing = missing[:0]
			for k, n := range counts {
				e, err := tx.Block(k.team, k.hash)
				if core.Is(err, core.NotFound) || core.Is(err, core.Invalid) {
					missing = append(missing, k)
					continue
				}
				if err != nil {
					return err
				}
				e.Refs += n
				if err := tx.PutBlock(k.team, k.hash, e); err != nil {
					return err
				}
			}
			return nil
		})
		if ferr == nil {
			for _, k := range missing {
				rep.Missing++
				if len(rep.MissingBlocks) < maxDamaged {
					rep.MissingBlocks = append(rep.MissingBlocks, k.hash.Short())
				}
			}
		}
		clear(counts)
	}
	err := refs(func(teamID string, h core.Hash) {
		if ferr != nil {
			return
		}
		rep.References++
		counts[blockID{teamID, h}]++
		if len(counts) >= scrubBatch {
			flush()
		}
	})
	if err != nil {
		return core.Wrap("chunk.rebuild_index", fmt.Errorf("listing the file records' blocks: %w", err))
	}
	flush()
	return ferr
}

// finishRebuild is step 3 of RebuildIndex.
func (s *Store) finishRebuild(ctx context.Context, rep *RebuildReport) error {
	var drop []listedBlock
	var after string
	for {
		batch, _, err := s.listBlocks(ctx, after, scrubBatch, false)
		if err != nil {
			return err
		}
		for _, b := range batch {
			n := present(b.e)
			switch {
			case n < int(b.e.Data) && b.e.Refs == 0:
				rep.Dropped++
				drop = append(drop, b)
				continue
			case n < int(b.e.Data):
				rep.Unrecoverable++
				if len(rep.Damaged) < maxDamaged {
					rep.Damaged = append(rep.Damaged, b.hash.Short())
				}
			case n < len(b.e.Shards):
				rep.Degraded++
			}
			rep.Blocks++
			if b.e.Refs == 0 {
				rep.Unreferenced++
			}
		}
		if len(batch) < scrubBatch {
			break
		}
		after = batch[len(batch)-1].key()
	}
	for len(drop) > 0 {
		n := min(len(drop), scrubBatch)
		err := s.meta.Update(ctx, func(tx core.Tx) error {
			for _, b := range drop[:n] {
				if err := tx.DeleteBlock(b.team, b.hash); err != nil && !core.Is(err, core.NotFound) {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		drop = drop[n:]
	}
	return nil
}
