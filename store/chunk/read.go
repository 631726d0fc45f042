package chunk

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"haul/core"
)

// reader holds the buffers of one read: one record buffer per shard and a
// block buffer for reconstruction, reused across blocks.
type reader struct {
	recs  [][]byte
	block []byte
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
	defer s.readers.Put(r)
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
		return nil, &core.Error{Op: "chunk.read", Kind: core.Corrupt, Err: err,
			Msg: fmt.Sprintf("block %s of this file is missing from the block index; run haul fsck", h.Short())}
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
	f, _, err := s.fs.OpenFile(name, os.O_RDONLY, 0, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadShard, err)
	}
	_, err = f.ReadAt(buf, loc.Off)
	f.Close()
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

// rebuild reads every shard it can, reconstructs the missing ones from
// parity, checks the block against its address, writes the range, and
// repairs the bad shards in place of the old.
func (s *Store) rebuild(ctx context.Context, r *reader, team core.TeamKey, b core.Block, e *core.BlockEntry, lo, hi int64, w io.Writer) error {
	const op = "chunk.rebuild"
	k, m := int(e.Data), int(e.Parity)
	shards := make([][]byte, k+m)
	var bad []int
	for i := range k + m {
		d, err := s.readShard(r, team.TeamID, b.Hash, e, i)
		if err != nil {
			bad = append(bad, i)
			continue
		}
		shards[i] = d
	}
	if len(bad) > m {
		return &core.Error{Op: op, Kind: core.Corrupt,
			Msg: fmt.Sprintf("block %s lost %d of its %d shards and parity covers %d: its data cannot be rebuilt", b.Hash.Short(), len(bad), k+m, m)}
	}
	if len(bad) > 0 {
		enc, err := s.encoder(k, m)
		if err != nil {
			return core.Wrap(op, err)
		}
		if err := enc.Reconstruct(shards); err != nil {
			return &core.Error{Op: op, Kind: core.Corrupt, Err: err, Msg: fmt.Sprintf("block %s cannot be rebuilt from parity", b.Hash.Short())}
		}
	}
	sl := int(shardLen(e.Len, k))
	if cap(r.block) < k*sl {
		r.block = make([]byte, k*sl)
	}
	block := r.block[:k*sl]
	for i := range k {
		copy(block[i*sl:], shards[i])
	}
	data := block[:e.Len]
	kh := keyedHash(team)
	kh.Write(data)
	var sum core.Hash
	kh.Sum(sum[:0])
	if sum != b.Hash {
		return &core.Error{Op: op, Kind: core.Corrupt, Msg: fmt.Sprintf("block %s does not match its address after reconstruction", b.Hash.Short())}
	}
	if _, err := w.Write(data[lo:hi]); err != nil {
		return core.Wrap("chunk.read", err)
	}
	if len(bad) > 0 {
		if err := s.repair(ctx, team.TeamID, b.Hash, e, shards, bad); err != nil {
			s.log.Warn("repairing a block failed; it will be tried again by the next read or scrub", "block", b.Hash.Short(), "err", err)
		}
	}
	return nil
}

// repair appends fresh records for the bad shards, syncs them, and points
// the index at them in one transaction (only where the index still points
// at the old, bad location).
func (s *Store) repair(ctx context.Context, teamID string, h core.Hash, e *core.BlockEntry, shards [][]byte, bad []int) error {
	const op = "chunk.repair"
	k, m := int(e.Data), int(e.Parity)
	sl := len(shards[0])
	rec := alignedBuf(int(recordSize(sl)))
	fresh := make(map[int]core.ShardLoc, len(bad))
	touched := map[*stream]bool{}
	for _, i := range bad {
		dir := s.repairDir(e, i)
		st, err := s.stream(dir, i)
		if err != nil {
			return err
		}
		if err := st.ensureLinked(); err != nil {
			return ioError(op, st.dir, err)
		}
		encodeRecord(rec, &header{Shard: uint8(i), Data: uint8(k), Parity: uint8(m), ShardLen: uint32(sl), BlockLen: uint64(e.Len), Team: teamID, Hash: h}, shards[i])
		loc, err := st.append(rec)
		if err != nil {
			return ioError(op, st.dir, err)
		}
		fresh[i] = loc
		touched[st] = true
	}
	for st := range touched {
		if err := st.sync(); err != nil {
			return ioError(op, st.dir, err)
		}
	}
	err := s.meta.Update(ctx, func(tx core.Tx) error {
		cur, err := tx.Block(teamID, h)
		if err != nil {
			return err
		}
		for i, loc := range fresh {
			if cur.Shards[i] == e.Shards[i] {
				cur.Shards[i] = loc
			}
		}
		return tx.PutBlock(teamID, h, cur)
	})
	if err != nil {
		return err
	}
	s.repairs.Add(int64(len(bad)))
	return nil
}

// repairDir chooses where a rebuilt shard goes: its old directory if that
// is usable, else the directory holding the fewest shards of this block.
func (s *Store) repairDir(e *core.BlockEntry, i int) uint8 {
	old := e.Shards[i].Dir
	if int(old) < len(s.dirs) && s.dirUsable(old) {
		return old
	}
	count := make([]int, len(s.dirs))
	for _, l := range e.Shards {
		if int(l.Dir) < len(count) {
			count[l.Dir]++
		}
	}
	best := -1
	for d := range s.dirs {
		if s.dirUsable(uint8(d)) && (best < 0 || count[d] < count[best]) {
			best = d
		}
	}
	if best < 0 {
		return old
	}
	return uint8(best)
}

// dirUsable reports whether a directory still holds its marker.
func (s *Store) dirUsable(d uint8) bool {
	_, err := s.fs.Stat(filepath.Join(s.dirs[d], markerName))
	return err == nil
}
