package chunk

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/reedsolomon"

	"haul/core"
)

// reader holds the buffers of one read: one record buffer per shard and a
// block buffer for reconstruction, reused across blocks. During a
// ReadRange it also keeps the segment files it opened (files non-nil), so
// the kernel sees one sequential reader per segment and reads ahead;
// opening a file per shard would reset its readahead every time.
type reader struct {
	recs  [][]byte
	block []byte
	files map[string]File
}

// open returns the segment file name for reading: from the range's open
// files when there are any (opening it there), else a fresh handle that
// the caller closes (done reports whether to).
func (r *reader) open(fsys FS, name string) (f File, done bool, err error) {
	if r.files == nil {
		f, _, err = fsys.OpenFile(name, os.O_RDONLY, 0, false)
		return f, true, err
	}
	if f, ok := r.files[name]; ok {
		return f, false, nil
	}
	if len(r.files) >= maxRangeFiles { // a range over many segments: start afresh
		r.closeFiles()
		r.files = map[string]File{}
	}
	f, _, err = fsys.OpenFile(name, os.O_RDONLY, 0, false)
	if err != nil {
		return nil, false, err
	}
	if a, ok := f.(interface{ AdviseSequential() }); ok {
		a.AdviseSequential()
	}
	r.files[name] = f
	return f, false, nil
}

// maxRangeFiles bounds the files one ReadRange keeps open: a block's
// shards are in one segment per shard index, so a range needs a few
// times data+parity at most.
const maxRangeFiles = 64

// closeFiles closes the files a ReadRange opened.
func (r *reader) closeFiles() {
	for _, f := range r.files {
		f.Close()
	}
	r.files = nil
}

func (r *reader) rec(i, n int) []byte {
	for len(r.recs) <= i {
		r.recs = append(r.recs, nil)
	}
	if cap(r.recs[i]) < n {
		r.recs[i] = make([]byte, n)
	}
	return r.recs[i][:n]
}

// ReadRange implements core.ChunkStore.
func (s *Store) ReadRange(ctx context.Context, team core.TeamKey, blocks []core.Block, off, n int64, w io.Writer) error {
	const op = "chunk.read"
	var size int64
	if len(blocks) > 0 {
		last := blocks[len(blocks)-1]
		size = last.Off + last.Len
	}
	if off < 0 || n < 0 || off+n > size {
		return core.E(op, core.BadRange, "range %d+%d is outside the file's %d bytes", off, n, size)
	}
	end := off + n
	r := s.readers.Get().(*reader)
	r.files = map[string]File{}
	defer func() {
		r.closeFiles()
		s.readers.Put(r)
	}()
	for _, b := range blocks {
		if b.Off+b.Len <= off || b.Len == 0 {
			continue
		}
		if b.Off >= end {
			break
		}
		if err := ctx.Err(); err != nil {
			return core.Wrap(op, err)
		}
		lo, hi := max(off, b.Off)-b.Off, min(end, b.Off+b.Len)-b.Off
		if err := s.readBlock(ctx, r, team, b, lo, hi, w); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) entry(ctx context.Context, team core.TeamKey, h core.Hash) (*core.BlockEntry, error) {
	var e *core.BlockEntry
	err := s.meta.View(ctx, func(tx core.Tx) error {
		var err error
		e, err = tx.Block(team.TeamID, h)
		return err
	})
	if core.Is(err, core.NotFound) {
		return nil, &core.Error{Op: "chunk.read", Kind: core.Gone, Err: err,
			Msg: fmt.Sprintf("block %s of this file is no longer stored: the file was deleted or expired (if it was not, the block index is damaged: run haul fsck)", h.Short())}
	}
	return e, err
}

// readBlock writes bytes [lo, hi) of block b to w. The fast path reads
// only the data shards covering the range; any bad shard switches to
// reconstruction, which verifies the whole block's address and repairs.
func (s *Store) readBlock(ctx context.Context, r *reader, team core.TeamKey, b core.Block, lo, hi int64, w io.Writer) error {
	e, err := s.entry(ctx, team, b.Hash)
	if err != nil {
		return err
	}
	if e.Len != b.Len {
		return &core.Error{Op: "chunk.read", Kind: core.Corrupt,
			Msg: fmt.Sprintf("block %s is %d bytes in the index but %d in the file record: run haul fsck", b.Hash.Short(), e.Len, b.Len)}
	}
	k := int(e.Data)
	sl := int64(shardLen(e.Len, k))
	first, last := int(lo/sl), int((hi-1)/sl)
	shards := make([][]byte, len(e.Shards))
	for i := first; i <= last; i++ {
		d, err := s.readShard(r, team.TeamID, b.Hash, e, i)
		if err != nil {
			return s.rebuild(ctx, r, team, b, e, lo, hi, w)
		}
		shards[i] = d
	}
	for i := first; i <= last; i++ {
		from, to := max(lo, int64(i)*sl)-int64(i)*sl, min(hi, int64(i+1)*sl)-int64(i)*sl
		if _, err := w.Write(shards[i][from:to]); err != nil {
			return core.Wrap("chunk.read", err)
		}
	}
	return nil
}

// errBadShard marks a shard that is missing, unreadable or fails its checks.
var errBadShard = errors.New("bad shard")

// readShard reads and checks shard i of the block; the returned data
// aliases r's buffer for that shard.
func (s *Store) readShard(r *reader, teamID string, h core.Hash, e *core.BlockEntry, i int) ([]byte, error) {
	loc := e.Shards[i]
	sl := int(shardLen(e.Len, int(e.Data)))
	if int(loc.Dir) >= len(s.dirs) {
		return nil, errBadShard
	}
	buf := r.rec(i, headerSize+sl)
	name := filepath.Join(s.dirs[loc.Dir], segName(i, loc.Seg))
	f, done, err := r.open(s.fs, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadShard, err)
	}
	_, err = f.ReadAt(buf, loc.Off)
	if done {
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadShard, err)
	}
	hd, err := parseHeader(buf)
	if err != nil || hd.Shard != uint8(i) || hd.Data != e.Data || hd.Parity != e.Parity ||
		hd.BlockLen != uint64(e.Len) || hd.Team != teamID || hd.Hash != h {
		return nil, errBadShard
	}
	data := buf[headerSize:]
	if crc32.Checksum(data, castagnoli) != hd.DataCRC {
		return nil, errBadShard
	}
	return data, nil
}

// rebuild verifies the whole block (checkBlock, with the team's key so
// the block is checked against its address), writes the range, then
// repairs the bad shards.
func (s *Store) rebuild(ctx context.Context, r *reader, team core.TeamKey, b core.Block, e *core.BlockEntry, lo, hi int64, w io.Writer) error {
	c, err := s.checkBlock(ctx, r, team.TeamID, b.Hash, e, checkOpts{key: &team, repair: true,
		deliver: func(data []byte) error {
			if _, err := w.Write(data[lo:hi]); err != nil {
				return core.Wrap("chunk.read", err)
			}
			return nil
		}})
	if core.Is(err, core.NotFound) {
		return &core.Error{Op: "chunk.read", Kind: core.Corrupt, Err: err,
			Msg: fmt.Sprintf("block %s of this file is missing from the block index; run haul fsck", b.Hash.Short())}
	}
	if err != nil {
		return err
	}
	if c.repairErr != nil {
		s.log.Warn("repairing a block failed; it will be tried again by the next read or scrub", "block", b.Hash.Short(), "err", c.repairErr)
	}
	return nil
}

// checkOpts says what checkBlock does beyond verifying.
type checkOpts struct {
	// key, when known, checks the rebuilt block against its address.
	// Without it (scrub and fsck do not know team keys) a block with more
	// good shards than data shards is checked for agreement with its
	// parity instead.
	key *core.TeamKey
	// repair rewrites the bad shards.
	repair bool
	// rebalance also moves good shards off directories holding more of
	// the block's shards than the geometry allows (after a read repaired
	// into another directory while one was missing).
	rebalance bool
	// deliver, if set, gets the verified block's bytes (key required)
	// before any repair, so a read answers first; its error is returned
	// and nothing is repaired.
	deliver func(data []byte) error
}

// checked is what checkBlock found and did.
type checked struct {
	e         *core.BlockEntry // the entry verified (refreshed if it changed meanwhile)
	data      []byte           // the block's bytes (aliases the reader's buffer), only with a key
	read      int64            // bytes of shard data read
	bad       []int            // shards missing, unreadable or failing their checks
	misplaced int              // good shards beyond their directory's share of the block
	repaired  int              // bad shards rewritten and re-indexed
	moved     int              // misplaced shards rewritten elsewhere and re-indexed
	repairErr error            // why repairing failed, if it did
}

// checkBlock verifies every shard of a block (headers and CRCs, as
// readShard), rebuilds the bad ones from parity, checks the result and,
// with opts.repair, writes the rebuilt shards back (see repair). It is the
// one verify-and-repair path of reads, scrub and fsck. When shards are
// bad it first looks the entry up again: one that changed meanwhile
// (repaired, compacted) is verified afresh; one that is gone yields the
// index's NotFound error. A block that cannot be rebuilt is Corrupt.
func (s *Store) checkBlock(ctx context.Context, r *reader, teamID string, h core.Hash, e *core.BlockEntry, opts checkOpts) (checked, error) {
	c, shards, err := s.verifyBlock(r, teamID, h, e, opts.key)
	if err != nil || len(c.bad) > 0 {
		cur, lerr := s.lookup(ctx, teamID, h)
		if lerr != nil {
			return c, lerr
		}
		if !sameShards(cur, e) {
			read := c.read
			c, shards, err = s.verifyBlock(r, teamID, h, cur, opts.key)
			c.read += read
		}
	}
	if err != nil {
		return c, err
	}
	if opts.deliver != nil {
		if err := opts.deliver(c.data); err != nil {
			return c, err
		}
	}
	if opts.rebalance {
		c.misplaced = len(s.misplaced(c.e, c.bad, true))
	}
	if !opts.repair {
		return c, nil
	}
	var move []int
	if opts.rebalance {
		move = s.misplaced(c.e, c.bad, false)
	}
	if len(c.bad) > 0 || len(move) > 0 {
		c.repaired, c.moved, c.repairErr = s.repair(ctx, teamID, h, c.e, shards, c.bad, move)
	}
	return c, nil
}

// verifyBlock reads every shard of the block and reconstructs the bad
// ones. The shards it returns alias r's buffers.
func (s *Store) verifyBlock(r *reader, teamID string, h core.Hash, e *core.BlockEntry, key *core.TeamKey) (checked, [][]byte, error) {
	const op = "chunk.rebuild"
	c := checked{e: e}
	k, m := int(e.Data), int(e.Parity)
	if k == 0 || len(e.Shards) != k+m {
		return c, nil, &core.Error{Op: op, Kind: core.Corrupt, Msg: fmt.Sprintf("block %s has a damaged index entry", h.Short())}
	}
	sl := int(shardLen(e.Len, k))
	shards := make([][]byte, k+m)
	for i := range k + m {
		c.read += int64(sl)
		d, err := s.readShard(r, teamID, h, e, i)
		if err != nil {
			c.bad = append(c.bad, i)
			continue
		}
		shards[i] = d
	}
	if len(c.bad) > m {
		return c, nil, &core.Error{Op: op, Kind: core.Corrupt,
			Msg: fmt.Sprintf("block %s lost %d of its %d shards and parity covers %d: its data cannot be rebuilt", h.Short(), len(c.bad), k+m, m)}
	}
	var enc reedsolomon.Encoder
	if m > 0 && (len(c.bad) > 0 || key == nil) {
		var err error
		if enc, err = s.encoder(k, m); err != nil {
			return c, nil, core.Wrap(op, err)
		}
	}
	if len(c.bad) > 0 {
		if err := enc.Reconstruct(shards); err != nil {
			return c, nil, &core.Error{Op: op, Kind: core.Corrupt, Err: err, Msg: fmt.Sprintf("block %s cannot be rebuilt from parity", h.Short())}
		}
	}
	if key == nil {
		// More good shards than needed: they must agree with each other.
		if enc != nil && k+m-len(c.bad) > k {
			if ok, err := enc.Verify(shards); err != nil || !ok {
				return c, nil, &core.Error{Op: op, Kind: core.Corrupt, Err: err,
					Msg: fmt.Sprintf("block %s: its shards pass their checksums but disagree with its parity", h.Short())}
			}
		}
		return c, shards, nil
	}
	if cap(r.block) < k*sl {
		r.block = make([]byte, k*sl)
	}
	block := r.block[:k*sl]
	for i := range k {
		copy(block[i*sl:], shards[i])
	}
	c.data = block[:e.Len]
	kh := keyedHash(*key)
	kh.Write(c.data)
	var sum core.Hash
	kh.Sum(sum[:0])
	if sum != h {
		return c, nil, &core.Error{Op: op, Kind: core.Corrupt, Msg: fmt.Sprintf("block %s does not match its address after reconstruction", h.Short())}
	}
	return c, shards, nil
}

// lookup reads a block's index entry; a missing one is the index's
// NotFound error.
func (s *Store) lookup(ctx context.Context, teamID string, h core.Hash) (*core.BlockEntry, error) {
	var e *core.BlockEntry
	err := s.meta.View(ctx, func(tx core.Tx) error {
		var err error
		e, err = tx.Block(teamID, h)
		return err
	})
	return e, err
}

func sameShards(a, b *core.BlockEntry) bool {
	if a.Len != b.Len || a.Data != b.Data || a.Parity != b.Parity || len(a.Shards) != len(b.Shards) {
		return false
	}
	for i := range a.Shards {
		if a.Shards[i] != b.Shards[i] {
			return false
		}
	}
	return true
}

// repair appends fresh records for the bad shards (rebuilt) and the
// shards to move, syncs them, and points the index at them in one
// transaction (only where the index still points at the location they
// were read from). It returns how many of each it re-indexed; rebuilt
// shards count in the store's repairs.
func (s *Store) repair(ctx context.Context, teamID string, h core.Hash, e *core.BlockEntry, shards [][]byte, bad, move []int) (repaired, moved int, err error) {
	const op = "chunk.repair"
	k, m := int(e.Data), int(e.Parity)
	sl := len(shards[0])
	rec := alignedBuf(int(recordSize(sl)))
	fix := append(append([]int(nil), bad...), move...)
	dirs := s.repairDirs(e, fix)
	fresh := make(map[int]core.ShardLoc, len(fix))
	touched := map[*stream]bool{}
	for j, i := range fix {
		st, err := s.stream(dirs[j], i)
		if err != nil {
			return 0, 0, err
		}
		if err := st.ensureLinked(); err != nil {
			return 0, 0, ioError(op, st.dir, err)
		}
		encodeRecord(rec, &header{Shard: uint8(i), Data: uint8(k), Parity: uint8(m), ShardLen: uint32(sl), BlockLen: uint64(e.Len), Team: teamID, Hash: h}, shards[i])
		loc, err := st.append(rec)
		if err != nil {
			return 0, 0, ioError(op, st.dir, err)
		}
		fresh[i] = loc
		touched[st] = true
	}
	for st := range touched {
		if err := st.sync(); err != nil {
			return 0, 0, ioError(op, st.dir, err)
		}
	}
	err = s.meta.Update(ctx, func(tx core.Tx) error {
		repaired, moved = 0, 0
		cur, err := tx.Block(teamID, h)
		if err != nil {
			return err
		}
		if len(cur.Shards) != len(e.Shards) {
			return nil
		}
		for j, i := range fix {
			if cur.Shards[i] == e.Shards[i] {
				cur.Shards[i] = fresh[i]
				if j < len(bad) {
					repaired++
				} else {
					moved++
				}
			}
		}
		return tx.PutBlock(teamID, h, cur)
	})
	if err != nil {
		return 0, 0, err
	}
	s.repairs.Add(int64(repaired))
	return repaired, moved, nil
}

// perDir is how many shards of a block of n shards a directory may hold
// for the block to survive DirLossSurvive directory losses.
func (s *Store) perDir(n int) int { return (n + len(s.dirs) - 1) / len(s.dirs) }

// repairDirs chooses where each rewritten shard of fix goes: its old
// directory if that is usable and holds less than its share of the block's
// other shards, else the usable directory holding the fewest (preferring
// the shard's natural directory, placement, on a tie).
func (s *Store) repairDirs(e *core.BlockEntry, fix []int) []uint8 {
	n := len(s.dirs)
	per := s.perDir(len(e.Shards))
	usable := make([]bool, n)
	for d := range n {
		usable[d] = s.dirUsable(uint8(d))
	}
	fixing := make(map[int]bool, len(fix))
	for _, i := range fix {
		fixing[i] = true
	}
	count := make([]int, n)
	for i, l := range e.Shards {
		if !fixing[i] && int(l.Dir) < n {
			count[l.Dir]++
		}
	}
	out := make([]uint8, len(fix))
	for j, i := range fix {
		old, natural := int(e.Shards[i].Dir), int(s.placement(i))
		best := -1
		if old < n && usable[old] && count[old] < per {
			best = old
		} else {
			for d := range n {
				if !usable[d] {
					continue
				}
				if best < 0 || count[d] < count[best] || (count[d] == count[best] && d == natural) {
					best = d
				}
			}
		}
		if best < 0 {
			best = natural
		}
		count[best]++
		out[j] = uint8(best)
	}
	return out
}

// misplaced lists good shards (not in bad) held by directories beyond
// their share of the block, preferring to list shards away from their
// natural directory. Unless all, it lists only as many as the usable
// directories below their share can take.
func (s *Store) misplaced(e *core.BlockEntry, bad []int, all bool) []int {
	n := len(s.dirs)
	per := s.perDir(len(e.Shards))
	isBad := make(map[int]bool, len(bad))
	for _, i := range bad {
		isBad[i] = true
	}
	count := make([]int, n)
	for i, l := range e.Shards {
		if !isBad[i] && int(l.Dir) < n {
			count[l.Dir]++
		}
	}
	// Room below the share in usable directories, less what the bad
	// shards will take first.
	room := -len(bad)
	if !all {
		for d := range n {
			if count[d] < per && s.dirUsable(uint8(d)) {
				room += per - count[d]
			}
		}
	}
	var out []int
	for d := range n {
		excess := count[d] - per
		if excess <= 0 {
			continue
		}
		for _, natural := range []bool{false, true} {
			for i := len(e.Shards) - 1; i >= 0 && excess > 0; i-- {
				l := e.Shards[i]
				if isBad[i] || int(l.Dir) != d || (int(s.placement(i)) == d) != natural {
					continue
				}
				if !all && len(out) >= room {
					return out
				}
				out = append(out, i)
				excess--
			}
		}
	}
	return out
}

// dirUsable reports whether a directory still holds its marker.
func (s *Store) dirUsable(d uint8) bool {
	_, err := s.fs.Stat(filepath.Join(s.dirs[d], markerName))
	return err == nil
}
