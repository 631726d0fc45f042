package chunk

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"

	"github.com/zeebo/blake3"

	"haul/core"
)

// What other chunk stores (the S3 backend) share with this one, so that a
// block is cut, addressed, counted and digested the same everywhere.

// KeyedHasher returns the team's block-address hasher: keyed BLAKE3-256.
func KeyedHasher(team core.TeamKey) *blake3.Hasher { return keyedHash(team) }

// CVHasher computes blocks' chaining values (core.Block.CVs); reusable, not
// safe for concurrent use; its zero value is ready.
type CVHasher struct{ c cvHasher }

// BlockCVs returns the chaining values of buf at file offset off appended
// to dst, or false when its edges are not on 1 KiB chunk boundaries.
func (h *CVHasher) BlockCVs(dst []core.Hash, buf []byte, off int64) ([]core.Hash, bool) {
	return h.c.blockCVs(dst, buf, off)
}

// RangeReader reads bytes [off, off+n) of a file given its blocks (a chunk
// store's ReadRange).
type RangeReader func(ctx context.Context, team core.TeamKey, blocks []core.Block, off, n int64, w io.Writer) error

// FileDigest returns the BLAKE3-256 of a file (what b3sum prints),
// assembled from the chaining values its blocks carry; only the last block
// is read back through read. A file whose parts did not end on 1 KiB
// boundaries is read whole.
func FileDigest(ctx context.Context, team core.TeamKey, blocks []core.Block, read RangeReader) (core.Hash, error) {
	const op = "chunk.digest"
	var last []byte
	if n := len(blocks); n > 0 {
		b := blocks[n-1]
		var buf bytes.Buffer
		buf.Grow(int(b.Len))
		if err := read(ctx, team, blocks[n-1:], b.Off, b.Len, &buf); err != nil {
			return core.Hash{}, err
		}
		last = buf.Bytes()
	}
	h, err := fileDigest(blocks, last)
	if errors.Is(err, errNeedFullRead) {
		pr, pw := io.Pipe()
		go func() {
			var size int64
			if n := len(blocks); n > 0 {
				size = blocks[n-1].Off + blocks[n-1].Len
			}
			pw.CloseWithError(read(ctx, team, blocks, 0, size, pw))
		}()
		h, err = digestReader(pr)
		pr.Close()
	}
	if err != nil {
		return core.Hash{}, core.Wrap(op, err)
	}
	return h, nil
}

// CommitBlocks adds one reference to each of in's blocks inside tx: a block
// this ingest wrote gets its index entry (unless reclaimed says the space
// it was written to is gone); a deduplicated block whose entry vanished
// meanwhile fails with Conflict (the part must be sent again).
func CommitBlocks(tx core.Tx, team core.TeamKey, in *core.Ingested, reclaimed func(*core.BlockEntry) bool) error {
	const op = "chunk.commit"
	for i, b := range in.Blocks {
		e, err := tx.Block(team.TeamID, b.Hash)
		switch {
		case err == nil:
			e.Refs++
		case core.Is(err, core.NotFound) && in.New[i] != nil:
			if reclaimed != nil && reclaimed(in.New[i]) {
				return core.E(op, core.Conflict, "block %s was reclaimed by compaction before this part was committed; send the part again", b.Hash.Short())
			}
			e = in.New[i]
			e.Refs = 1
		case core.Is(err, core.NotFound):
			return core.E(op, core.Conflict, "block %s was freed while this part was being stored; send the part again", b.Hash.Short())
		default:
			return err
		}
		if err := tx.PutBlock(team.TeamID, b.Hash, e); err != nil {
			return err
		}
	}
	return nil
}

// ReleaseBlocks drops one reference from each block inside tx. A block at
// zero stays indexed, at zero, until the store frees it: so a transaction
// that releases a part and commits its replacement with the same bytes
// finds the block still there. Releasing twice never fails.
func ReleaseBlocks(tx core.Tx, team core.TeamKey, blocks []core.Block) error {
	for _, b := range blocks {
		e, err := tx.Block(team.TeamID, b.Hash)
		if core.Is(err, core.NotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if e.Refs <= 0 {
			continue
		}
		e.Refs--
		if err := tx.PutBlock(team.TeamID, b.Hash, e); err != nil {
			return err
		}
	}
	return nil
}

// IndexStats fills the index's figures of st: blocks, unique and logical
// bytes, dedup ratio.
func IndexStats(ctx context.Context, meta core.Store, st *core.StorageStats) error {
	err := meta.View(ctx, func(tx core.Tx) error {
		return tx.Blocks(func(_ string, _ core.Hash, e *core.BlockEntry) bool {
			st.Blocks++
			if e.Refs > 0 {
				st.UniqueBytes += e.Len
				st.LogicalBytes += e.Len * e.Refs
			}
			return true
		})
	})
	if st.UniqueBytes > 0 {
		st.DedupRatio = float64(st.LogicalBytes) / float64(st.UniqueBytes)
	}
	return err
}

// PutBlock writes one block (its bytes, already checked against its
// address h) as a fresh set of records in the store's current geometry,
// synced, and returns its index entry without references: the caller
// repoints the block's index entry to it (haul admin migrate-store, from
// an object store back to local disks). Nothing else references the new
// records until then, so the store must not be compacting meanwhile (the
// server is stopped).
func (s *Store) PutBlock(ctx context.Context, teamID string, h core.Hash, data []byte) (*core.BlockEntry, error) {
	const op = "chunk.put"
	k, m := s.cfg.DataShards, s.cfg.ParityShards
	if int64(len(data)) > s.bsize {
		return nil, core.E(op, core.Invalid, "a block of %d bytes is larger than the store's %d", len(data), s.bsize)
	}
	if err := s.CanFit(int64(len(data))); err != nil {
		return nil, err
	}
	sl := int(shardLen(int64(len(data)), k))
	buf := make([]byte, sl*(k+m))
	copy(buf, data)
	shards := make([][]byte, k+m)
	for i := range shards {
		shards[i] = buf[i*sl : (i+1)*sl]
	}
	if m > 0 {
		enc, err := s.encoder(k, m)
		if err != nil {
			return nil, core.Wrap(op, err)
		}
		if err := enc.Encode(shards); err != nil {
			return nil, core.Wrap(op, err)
		}
	}
	e := &core.BlockEntry{Len: int64(len(data)), Data: uint8(k), Parity: uint8(m), Shards: make([]core.ShardLoc, k+m),
		CRC: crc32.ChecksumIEEE(data), HasCRC: true}
	rec := alignedBuf(int(recordSize(sl)))
	touched := map[*stream]bool{}
	for i := range k + m {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, err := s.stream(s.placement(i), i)
		if err != nil {
			return nil, err
		}
		if err := st.ensureLinked(); err != nil {
			return nil, ioError(op, st.dir, err)
		}
		encodeRecord(rec, &header{Shard: uint8(i), Data: uint8(k), Parity: uint8(m), ShardLen: uint32(sl), BlockLen: uint64(len(data)), Team: teamID, Hash: h}, shards[i])
		loc, err := st.append(rec)
		if err != nil {
			return nil, ioError(op, st.dir, err)
		}
		e.Shards[i] = loc
		touched[st] = true
	}
	for st := range touched {
		if err := st.sync(); err != nil {
			return nil, ioError(op, st.dir, err)
		}
	}
	return e, nil
}

// CheckBlock reads every shard of a block as entry e places it (not the
// index's entry: haul admin migrate-store checks fresh records before it
// repoints the index to them), rebuilds what parity covers, and checks the
// block against its address; it returns the block's bytes.
func (s *Store) CheckBlock(team core.TeamKey, h core.Hash, e *core.BlockEntry) ([]byte, error) {
	r := &reader{files: map[string]File{}}
	defer r.closeFiles()
	c, _, err := s.verifyBlock(r, team.TeamID, h, e, &team)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), c.data...), nil
}

// IndexHas reports whether the block index lists the team's block (a
// chunk store's Has).
func IndexHas(ctx context.Context, meta core.Store, team core.TeamKey, h core.Hash) (bool, error) {
	var found bool
	err := meta.View(ctx, func(tx core.Tx) (err error) {
		found, err = tx.HasBlock(team.TeamID, h)
		return err
	})
	return found, err
}
