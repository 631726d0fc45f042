package chunk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/reedsolomon"
	"github.com/zeebo/blake3"

	"haul/core"
)

// Config describes a chunk store.
type Config struct {
	// Dirs are the data directories, one per disk.
	Dirs []string
	// BlockSize is fixed when the store is created; later values must match.
	BlockSize int64
	// DataShards and ParityShards are the geometry of new blocks.
	DataShards, ParityShards int
	// SegmentSize is the size at which a segment file is closed and the
	// next one started (default 1 GiB).
	SegmentSize int64
	// NoDirect turns O_DIRECT off (it is used where the file system allows).
	NoDirect bool
	// AllowReplaced accepts empty data directories without a marker and
	// makes them part of the store (haul fsck --repair on a replaced disk).
	AllowReplaced bool
	// MaxBuffers caps the block buffers all ingests hold at once (each is
	// about (data+parity)/data × block size, plus a copy for unaligned
	// shards); default 12, about 120 MiB with 4 MiB blocks at 8+2.
	MaxBuffers int
	// Reserve is the free space kept in every data directory: an ingest
	// that would leave less is refused with NoSpace before it writes
	// (default: 1 % of the file system, at least 256 MiB; negative: none).
	Reserve int64
	// MetaDir is the metadata store's directory; when set, ingests are
	// refused while its file system has less than MetaFloor free, so the
	// metadata store never runs out of space (default floor 512 MiB).
	MetaDir   string
	MetaFloor int64
	// GCIdle is how long a stream's current segment must go without an
	// append before compaction may close it early to reclaim it (default
	// 1 minute; negative: no wait).
	GCIdle time.Duration
	// GCGrace is how long compaction waits between repointing the index
	// away from a segment and deleting it, so that reads which looked a
	// block up just before still find its old records (default 5 s;
	// negative: no wait).
	GCGrace time.Duration
	// FS is the file layer; nil means the operating system's.
	FS     FS
	Logger *slog.Logger
}

// markerName is the file that makes a directory part of a store. A
// directory without it (an unmounted disk shows an empty mount point) is
// refused rather than silently refilled on the root file system.
const markerName = "haul-chunks.json"

type marker struct {
	Store     string    `json:"store"`
	Index     int       `json:"index"`
	BlockSize int64     `json:"block_size"`
	Created   time.Time `json:"created"`
}

// Store is the local chunk store.
type Store struct {
	cfg   Config
	fs    FS
	meta  core.Store
	log   *slog.Logger
	dirs  []string // by marker index
	id    string
	bsize int64

	// streamTab holds the open stream of (directory d, shard i) at
	// d*256+i; streamMu serialises opening and replacing streams.
	streamTab []atomic.Pointer[stream]
	streamMu  sync.Mutex
	enc       sync.Map // [2]int -> reedsolomon.Encoder

	workers sync.Pool
	bufSem  chan struct{} // the block-buffer budget (Config.MaxBuffers)
	readers sync.Pool

	repairs atomic.Int64
	closed  atomic.Bool
	gc      gcState // compaction (gc.go)

	scrubMu       sync.Mutex    // one scrub or fsck pass at a time
	scrubProgress atomic.Uint64 // math.Float64bits of the fraction of the current scrub pass done
	replaced      []string      // empty directories taken as replacements (AllowReplaced)
}

var _ core.ChunkStore = (*Store)(nil)

// Open opens or creates the store over cfg.Dirs. The block index lives in
// meta.
func Open(cfg Config, meta core.Store) (*Store, error) {
	const op = "chunk.open"
	if len(cfg.Dirs) == 0 || len(cfg.Dirs) > 255 {
		return nil, core.E(op, core.Invalid, "a chunk store needs 1 to 255 data directories, got %d", len(cfg.Dirs))
	}
	if cfg.BlockSize <= 0 || cfg.BlockSize%align != 0 {
		return nil, core.E(op, core.Invalid, "block size %d is not a positive multiple of %d", cfg.BlockSize, align)
	}
	if cfg.DataShards < 1 || cfg.ParityShards < 0 || cfg.DataShards+cfg.ParityShards > 256 {
		return nil, core.E(op, core.Invalid, "geometry %d+%d is not possible", cfg.DataShards, cfg.ParityShards)
	}
	if cfg.SegmentSize <= 0 {
		cfg.SegmentSize = 1 << 30
	}
	if cfg.FS == nil {
		cfg.FS = OSFS{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, fs: cfg.FS, meta: meta, log: cfg.Logger, bsize: cfg.BlockSize, streamTab: make([]atomic.Pointer[stream], len(cfg.Dirs)*256)}
	if err := s.loadMarkers(); err != nil {
		return nil, err
	}
	if cfg.MaxBuffers <= 0 {
		cfg.MaxBuffers = 12
	}
	s.bufSem = make(chan struct{}, max(cfg.MaxBuffers, 1))
	s.workers.New = func() any { return s.newWorker() }
	s.readers.New = func() any { return &reader{} }
	return s, nil
}

// loadMarkers checks every directory's marker, creating the store on
// first use when every directory is empty.
func (s *Store) loadMarkers() error {
	const op = "chunk.open"
	type found struct {
		dir string
		m   *marker
	}
	var have []found
	var empty []string
	for _, d := range s.cfg.Dirs {
		if err := s.fs.MkdirAll(d, 0o700); err != nil {
			return ioError(op, d, err)
		}
		b, err := readFile(s.fs, filepath.Join(d, markerName))
		switch {
		case err == nil:
			var m marker
			if err := json.Unmarshal(b, &m); err != nil || m.Store == "" {
				return core.E(op, core.Corrupt, "data directory %s has a damaged marker file %s", d, markerName)
			}
			have = append(have, found{d, &m})
		case errors.Is(err, fs.ErrNotExist):
			ents, err := s.fs.ReadDir(d)
			if err != nil {
				return ioError(op, d, err)
			}
			// The metadata snapshots haul keeps beside the chunks do not
			// make a directory a chunk directory.
			ents = slices.DeleteFunc(ents, func(e fs.DirEntry) bool { return e.Name() == metaSnapshotDir })
			if len(ents) > 0 {
				return core.E(op, core.Invalid, "data directory %s is not empty and has no %s marker: it is not a haul chunk directory", d, markerName)
			}
			empty = append(empty, d)
		default:
			return ioError(op, d, err)
		}
	}
	if len(have) == 0 {
		indexed, err := s.anyBlock()
		if err != nil {
			return err
		}
		if indexed {
			return core.E(op, core.Unavailable, "every data directory is empty but the block index lists blocks: are the disks mounted? (%v)", s.cfg.Dirs)
		}
		s.id = core.NewID()
	} else {
		s.id = have[0].m.Store
		s.bsize = have[0].m.BlockSize
		if s.bsize != s.cfg.BlockSize {
			s.log.Warn("storage.block_size differs from the store's; the store's is kept", "store", s.bsize, "config", s.cfg.BlockSize)
		}
	}
	if len(have) > 0 && len(empty) > 0 && !s.cfg.AllowReplaced {
		return core.E(op, core.Unavailable, "data directory %s has no %s marker: if its disk is not mounted, mount it; if it replaces a dead disk, run haul fsck --repair to refill it", empty[0], markerName)
	}
	n := len(s.cfg.Dirs)
	s.dirs = make([]string, n)
	used := make([]bool, n)
	for _, f := range have {
		if f.m.Store != s.id {
			return core.E(op, core.Invalid, "data directory %s belongs to another chunk store (%s, not %s)", f.dir, f.m.Store, s.id)
		}
		if f.m.Index < 0 || f.m.Index >= n || used[f.m.Index] {
			return core.E(op, core.Invalid, "data directory %s has index %d, which does not fit %d configured directories", f.dir, f.m.Index, n)
		}
		s.dirs[f.m.Index], used[f.m.Index] = f.dir, true
	}
	// An empty directory beside marked ones replaces a lost one and takes
	// the index of a missing directory, so repair refills it with the
	// shards that lived there.
	for _, d := range empty {
		i := 0
		for used[i] {
			i++
		}
		used[i] = true
		s.dirs[i] = d
		if len(have) > 0 {
			s.replaced = append(s.replaced, d)
			s.log.Warn("empty data directory taken as a replacement; haul fsck --repair refills it", "dir", d, "index", i)
		}
		if err := s.writeMarker(d, i); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) writeMarker(dir string, index int) error {
	b, _ := json.MarshalIndent(marker{Store: s.id, Index: index, BlockSize: s.bsize, Created: time.Now().UTC()}, "", "  ")
	tmp := filepath.Join(dir, markerName+".tmp")
	f, _, err := s.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600, false)
	if err != nil {
		return ioError("chunk.marker", dir, err)
	}
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.Rename(tmp, filepath.Join(dir, markerName))
	}
	if err != nil {
		// Leave no half-written marker: the directory would look like
		// a stranger's at the next start (after a full disk, say).
		s.fs.Remove(tmp)
	} else {
		err = s.fs.SyncDir(dir)
	}
	return ioError("chunk.marker", dir, err)
}

func readFile(fsys FS, name string) ([]byte, error) {
	f, _, err := fsys.OpenFile(name, os.O_RDONLY, 0, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:n], nil
}

// metaSnapshotDir is where the metadata store keeps its snapshots in each
// chunk directory (store/meta.SnapshotDir).
const metaSnapshotDir = "meta-snapshots"

// anyBlock reports whether the index lists a block of this store (blocks
// kept in an object store, core.ObjectShard, are not).
func (s *Store) anyBlock() (bool, error) {
	found := false
	err := s.meta.View(context.Background(), func(tx core.Tx) error {
		return tx.Blocks(func(_ string, _ core.Hash, e *core.BlockEntry) bool {
			for _, l := range e.Shards {
				if l != core.ObjectShard {
					found = true
					return false
				}
			}
			return true
		})
	})
	return found, err
}

// BlockSize is the store's block size.
func (s *Store) BlockSize() int64 { return s.bsize }

// DirLossSurvive is how many whole data directories the geometry of new
// blocks survives losing: shards of a block are spread round-robin over
// the directories, so losing one directory costs each block
// ceil(shards/dirs) shards.
func DirLossSurvive(dirs, data, parity int) int {
	perDir := (data + parity + dirs - 1) / dirs
	return parity / perDir
}

func (s *Store) encoder(data, parity int) (reedsolomon.Encoder, error) {
	k := [2]int{data, parity}
	if e, ok := s.enc.Load(k); ok {
		return e.(reedsolomon.Encoder), nil
	}
	e, err := reedsolomon.New(data, max(parity, 1), reedsolomon.WithMaxGoroutines(1))
	if err != nil {
		return nil, err
	}
	s.enc.Store(k, e)
	return e, nil
}

// stream returns the stream of shard index shard in directory dir. A
// stream whose fsync failed is replaced by a fresh one, continuing after
// its records; the ingests that wrote to the failed one fail.
func (s *Store) stream(dir uint8, shard int) (*stream, error) {
	if int(dir) >= len(s.dirs) || shard < 0 || shard > 255 {
		return nil, core.E("chunk.stream", core.Internal, "no stream %d in directory %d", shard, dir)
	}
	if s.closed.Load() {
		return nil, core.E("chunk.stream", core.Unavailable, "the chunk store is closed (haul is stopping)")
	}
	slot := &s.streamTab[int(dir)*256+shard]
	if st := slot.Load(); st != nil && !st.isFailed() {
		return st, nil
	}
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	cur := slot.Load()
	if cur != nil && !cur.isFailed() {
		return cur, nil
	}
	st, err := openStream(s.fs, s.dirs[dir], dir, shard, s.cfg.SegmentSize, !s.cfg.NoDirect)
	if err != nil {
		return nil, ioError("chunk.stream", s.dirs[dir], err)
	}
	if cur != nil {
		cur.close()
	}
	slot.Store(st)
	return st, nil
}

// Close syncs and closes every segment.
func (s *Store) Close() error {
	s.closed.Store(true)
	var first error
	for i := range s.streamTab {
		if st := s.streamTab[i].Load(); st != nil {
			if err := st.close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// worker holds the buffers of one ingest: a block, its parity shards and
// one aligned record buffer per shard, reused across blocks and ingests so
// the hot path allocates nothing per block.
type worker struct {
	block  []byte   // data shards, contiguous, zero padded
	parity [][]byte // parity shards
	shards [][]byte // views: data then parity
	recs   [][]byte // aligned record buffers
	locs   []core.ShardLoc
	errs   []error
	cv     cvHasher

	// The block in flight: its length, file offset, address and
	// chaining values.
	n    int
	off  int64
	hash [32]byte
	cvs  []core.Hash
	cvOK bool
	crc  uint32 // IEEE CRC-32 of the block (the zip of a package needs it)
	// exists is set when the team stores the block already (it is not
	// written); known when the index also gave its CRC and its CVs at this
	// offset: nothing is computed for it beyond its address (a re-sent
	// file costs one hash).
	exists, known bool

	// pending is set while the block's shard writes are in flight; wg
	// waits for them and errs holds their outcome.
	pending bool
	entry   *core.BlockEntry // the entry being written, when pending
	nShards int
	wg      sync.WaitGroup
	writes  []shardWrite       // one per shard, reused
	hdrs    [][]byte           // header pages, one per shard
	crcs    []uint32           // CRC-32C of each data shard of the block in flight
	jobs    []chan *shardWrite // the current ingest's shard writers
}

func (s *Store) newWorker() *worker {
	k, m := s.cfg.DataShards, s.cfg.ParityShards
	sl := int(shardLen(s.bsize, k))
	w := &worker{
		block:  alignedBuf(sl * k),
		parity: make([][]byte, m),
		shards: make([][]byte, k+m),
		recs:   make([][]byte, k+m),
		locs:   make([]core.ShardLoc, k+m),
		errs:   make([]error, k+m),
		writes: make([]shardWrite, k+m),
		crcs:   make([]uint32, k),
	}
	for i := range w.parity {
		w.parity[i] = alignedBuf(sl)
	}
	w.hdrs = make([][]byte, k+m)
	for i := range w.hdrs {
		w.hdrs[i] = alignedBuf(headerSize)
	}
	for i := range w.recs {
		w.recs[i] = alignedBuf(int(recordSize(sl)))
	}
	return w
}

func keyedHash(team core.TeamKey) *blake3.Hasher {
	h, err := blake3.NewKeyed(team.Key[:])
	if err != nil {
		panic(err) // the key is 32 bytes by type
	}
	return h
}

// ingestDepth is how many blocks one ingest has in flight: one being read
// and hashed while the one before is encoded and written, and a spare.
const ingestDepth = 4

// Ingest implements core.ChunkStore. It is a small pipeline: this
// goroutine reads a block and computes its address while a helper
// computes the block's chaining values (the two hash passes run on two
// cores), and a writer goroutine deduplicates, encodes and writes the
// blocks in file order.
func (s *Store) Ingest(ctx context.Context, team core.TeamKey, off int64, r io.Reader) (*core.Ingested, error) {
	const op = "chunk.ingest"
	if off < 0 {
		return nil, core.E(op, core.Invalid, "negative offset")
	}
	if err := s.CanFit(s.bsize); err != nil {
		return nil, err
	}
	// Block buffers are budgeted across the whole store: an ingest takes
	// one (waiting if none is free) and up to ingestDepth if they are, so
	// memory stays bounded however many parts arrive at once.
	n, err := s.acquireBuffers(ctx)
	if err != nil {
		return nil, core.Wrap(op, err)
	}
	slots := make([]*worker, n)
	free := make(chan *worker, ingestDepth)
	full := make(chan *worker, ingestDepth)
	jobs := shardWriters(s.cfg.DataShards + s.cfg.ParityShards)
	defer func() {
		for _, c := range jobs {
			close(c)
		}
	}()
	for i := range slots {
		slots[i] = s.workers.Get().(*worker)
		slots[i].jobs = jobs
		free <- slots[i]
	}
	res := &core.Ingested{}
	touched := map[*stream]bool{}
	// pins keeps the segments this ingest wrote from compaction until the
	// caller has had the chance to commit (the pins are released when
	// Ingest returns; Commit then sees a segment compaction took).
	var pins []segKey
	defer func() { s.unpin(pins) }()
	var (
		errMu  sync.Mutex
		werr   error
		failed atomic.Bool
		done   = make(chan struct{})
	)
	fail := func(err error) {
		errMu.Lock()
		if werr == nil {
			werr = err
		}
		errMu.Unlock()
		failed.Store(true)
	}
	// The writer deduplicates and starts the writes of each block in file
	// order; the retirer waits for a block's writes to finish before its
	// buffers are reused, so encoding the next block overlaps the writes
	// of this one.
	inflight := make(chan *worker, ingestDepth)
	go func() {
		defer close(inflight)
		written := map[core.Hash]bool{}
		for w := range full {
			w.pending = false
			if !failed.Load() {
				if err := s.storeBlock(ctx, w, team, written, touched, res); err != nil {
					fail(err)
				}
			}
			inflight <- w
		}
	}()
	go func() {
		defer close(done)
		for w := range inflight {
			if w.pending {
				w.wg.Wait()
				failedWrite := false
				for i, err := range w.errs[:w.nShards] {
					if err != nil {
						fail(ioError("chunk.write", s.dirs[s.placement(i)], err))
						failedWrite = true
						break
					}
				}
				if !failedWrite {
					pins = s.pin(w.entry, pins)
				}
			}
			free <- w
		}
	}()
	// The CV stage computes, on another core while this goroutine reads and
	// hashes the next block, what a block still needs: its chaining values
	// and CRCs, unless the index gave them (w.known); it hands the blocks
	// on to the writer in file order.
	cvIn := make(chan *worker, ingestDepth)
	k := s.cfg.DataShards
	go func() {
		defer close(full)
		for w := range cvIn {
			if !w.known {
				w.cvs, w.cvOK = w.cv.blockCVs(nil, w.block[:w.n], w.off)
				w.crc = crc32.ChecksumIEEE(w.block[:w.n])
				// The data shards' CRCs are computed here too: the
				// writer, which shares the cores, then has little left
				// to do per block.
				sl := int(shardLen(int64(w.n), k))
				clear(w.block[w.n : sl*k])
				for i := range k {
					w.crcs[i] = crc32.Checksum(w.block[i*sl:(i+1)*sl], castagnoli)
				}
			}
			full <- w
		}
	}()
	// finish stops the pipeline and returns the buffers; deferred too, so
	// a panicking reader (recovered by the HTTP server) leaks nothing.
	var finishOnce sync.Once
	finish := func() {
		finishOnce.Do(func() {
			close(cvIn) // the CV stage then closes full, the writer inflight
			<-done
			for _, w := range slots {
				s.workers.Put(w)
			}
			s.releaseBuffers(len(slots))
		})
	}
	defer finish()
	kh := keyedHash(team)
	var rerr error
	for {
		w := <-free
		if failed.Load() {
			free <- w
			break
		}
		if err := ctx.Err(); err != nil {
			rerr = err
			free <- w
			break
		}
		want := s.bsize - off%s.bsize
		n, err := fill(r, w.block[:want])
		if n == 0 && err == io.EOF {
			free <- w
			break
		}
		if err != nil && err != io.EOF {
			rerr = err
			free <- w
			break
		}
		w.n, w.off = n, off
		kh.Reset()
		kh.Write(w.block[:n])
		kh.Sum(w.hash[:0])
		if err := s.lookupBlock(ctx, team, w); err != nil {
			rerr = err
			free <- w
			break
		}
		cvIn <- w
		off += int64(n)
		if err == io.EOF {
			break
		}
	}
	finish()
	if rerr != nil {
		return nil, core.Wrap(op, rerr)
	}
	if werr != nil {
		return nil, werr
	}
	// Group commit: one sync per touched stream for the whole ingest.
	for st := range touched {
		if err := st.sync(); err != nil {
			return nil, ioError(op, st.dir, err)
		}
	}
	return res, nil
}

// acquireBuffers takes one block buffer from the store's budget, waiting
// for it, and then up to ingestDepth-1 more if they are free now.
func (s *Store) acquireBuffers(ctx context.Context) (int, error) {
	select {
	case s.bufSem <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	n := 1
	for n < ingestDepth {
		select {
		case s.bufSem <- struct{}{}:
			n++
			continue
		default:
		}
		break
	}
	return n, nil
}

func (s *Store) releaseBuffers(n int) {
	for range n {
		<-s.bufSem
	}
}

// fill reads into b until it is full or r ends. Only io.EOF ends the
// stream: any other error, io.ErrUnexpectedEOF from a body cut short
// included, is returned as it is, so a truncated upload is never taken
// for a complete one. It returns io.EOF with n > 0 for a last, partial
// block.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			// A reader that returns nothing and no error: keep asking,
			// as io.ReadFull does.
			continue
		}
	}
	return n, nil
}

// lookupBlock sets w.exists when the team stores w's block, and w.known (with
// the block's CRC and CVs) when the index also holds its CVs at w's
// offset (a finalized file held it there). One read transaction; the
// common cases (a new block, a re-sent one) read one or three keys.
func (s *Store) lookupBlock(ctx context.Context, team core.TeamKey, w *worker) error {
	h := core.Hash(w.hash)
	w.exists, w.known = false, false
	return s.meta.View(ctx, func(tx core.Tx) error {
		ok, err := tx.HasBlock(team.TeamID, h)
		if err != nil || !ok {
			return err
		}
		w.exists = true
		cvs, err := tx.BlockCVs(team.TeamID, h, w.off)
		if core.Is(err, core.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		e, err := tx.Block(team.TeamID, h)
		if core.Is(err, core.NotFound) || (err == nil && (!e.HasCRC || e.Len != int64(w.n))) {
			return nil
		}
		if err != nil {
			return err
		}
		w.cvs, w.cvOK, w.crc, w.known = cvs, true, e.CRC, true
		return nil
	})
}

// storeBlock records the block in w, writing it unless the team already
// stores it (or this ingest wrote it already).
func (s *Store) storeBlock(ctx context.Context, w *worker, team core.TeamKey, written map[core.Hash]bool, touched map[*stream]bool, res *core.Ingested) error {
	b := core.Block{Hash: core.Hash(w.hash), Off: w.off, Len: int64(w.n)}
	if w.cvOK {
		b.CVs = w.cvs
	}
	crc := w.crc
	b.CRC = &crc
	var entry *core.BlockEntry
	if !written[b.Hash] {
		// w.exists was looked up as the block was read; a block another
		// ingest writes meanwhile is written here too, and Commit keeps
		// one (the other record is garbage for compaction).
		if !w.exists {
			var err error
			if entry, err = s.writeBlock(w, team.TeamID, b.Hash, w.n, touched); err != nil {
				return err
			}
			w.entry = entry
			written[b.Hash] = true
		}
	}
	res.Blocks = append(res.Blocks, b)
	res.New = append(res.New, entry)
	res.Size += int64(w.n)
	return nil
}

// writeBlock encodes the n bytes at the start of w.block into shards and
// starts appending one record per shard to its stream, in parallel. The
// entry's locations are valid once w.wg.Wait returns with no error in
// w.errs.
func (s *Store) writeBlock(w *worker, teamID string, h core.Hash, n int, touched map[*stream]bool) (*core.BlockEntry, error) {
	const op = "chunk.write"
	k, m := s.cfg.DataShards, s.cfg.ParityShards
	sl := int(shardLen(int64(n), k))
	for i := range k {
		w.shards[i] = w.block[i*sl : (i+1)*sl] // zero padded by the ingest's hashing stage
	}
	for j := range m {
		w.shards[k+j] = w.parity[j][:sl]
	}
	if m > 0 {
		enc, err := s.encoder(k, m)
		if err != nil {
			return nil, core.Wrap(op, err)
		}
		if err := enc.Encode(w.shards[:k+m]); err != nil {
			return nil, core.Wrap(op, err)
		}
	}
	e := &core.BlockEntry{Len: int64(n), Data: uint8(k), Parity: uint8(m), Shards: make([]core.ShardLoc, k+m), CRC: w.crc, HasCRC: true}
	// Resolve every stream before starting any write, so an error here
	// leaves nothing in flight.
	var sts [256]*stream
	for i := range k + m {
		st, err := s.stream(s.placement(i), i)
		if err != nil {
			return nil, err
		}
		sts[i] = st
		touched[st] = true
	}
	w.nShards, w.pending = k+m, true
	for i := range k + m {
		hd := header{Shard: uint8(i), Data: uint8(k), Parity: uint8(m), ShardLen: uint32(sl), BlockLen: uint64(n), Team: teamID, Hash: h}
		sw := &w.writes[i]
		if sl%align == 0 {
			// Page-aligned shard: header page and shard go out in one
			// vector write, the shard straight from the block buffer.
			if i < k {
				hd.DataCRC = w.crcs[i]
			} else {
				hd.DataCRC = crc32.Checksum(w.shards[i], castagnoli)
			}
			putHeader(w.hdrs[i], &hd)
			sw.hdr, sw.rec = w.hdrs[i], w.shards[i]
		} else {
			rec := w.recs[i][:recordSize(sl)]
			encodeRecord(rec, &hd, w.shards[i])
			sw.hdr, sw.rec = nil, rec
		}
		w.errs[i] = nil
		w.wg.Add(1)
		sw.st, sw.loc, sw.err, sw.wg = sts[i], &e.Shards[i], &w.errs[i], &w.wg
		w.jobs[i] <- sw
	}
	return e, nil
}

// shardWrite is one record append handed to an ingest's shard writer.
type shardWrite struct {
	st  *stream
	hdr []byte // header page, when rec is the bare shard data
	rec []byte
	// pieces is the vector handed to the file (kept here, in the worker,
	// so the hot path does not allocate it).
	pieces [2][]byte
	loc    *core.ShardLoc
	err    *error
	wg     *sync.WaitGroup
}

// shardWriters starts one goroutine per shard index for an ingest; each
// appends the records of its shard index in block order, so the shards of
// a block are written in parallel without a goroutine per record. Closing
// the channels ends them.
func shardWriters(n int) []chan *shardWrite {
	jobs := make([]chan *shardWrite, n)
	for i := range jobs {
		jobs[i] = make(chan *shardWrite, ingestDepth)
		go func(c chan *shardWrite) {
			for sw := range c {
				if sw.hdr != nil {
					sw.pieces = [2][]byte{sw.hdr, sw.rec}
					*sw.loc, *sw.err = sw.st.appendV(sw.pieces[:])
				} else {
					*sw.loc, *sw.err = sw.st.append(sw.rec)
				}
				sw.wg.Done()
			}
		}(jobs[i])
	}
	return jobs
}

// placement is the directory of shard i of a new block.
func (s *Store) placement(i int) uint8 { return uint8(i % len(s.dirs)) }

// encodeRecord fills rec (recordSize(len(data)) bytes) with a header,
// the shard data and zero padding.
func encodeRecord(rec []byte, h *header, data []byte) {
	h.DataCRC = crc32.Checksum(data, castagnoli)
	putHeader(rec, h)
	copy(rec[headerSize:], data)
	clear(rec[headerSize+len(data):])
}

// Has implements core.ChunkStore.
func (s *Store) Has(ctx context.Context, team core.TeamKey, h core.Hash) (bool, error) {
	return IndexHas(ctx, s.meta, team, h)
}

// Commit implements core.ChunkStore.
func (s *Store) Commit(tx core.Tx, team core.TeamKey, in *core.Ingested) error {
	return CommitBlocks(tx, team, in, s.reclaimed)
}

// Release implements core.ChunkStore (ReleaseBlocks: a block at zero
// references stays indexed until compaction frees it, freeUnreferenced).
func (s *Store) Release(tx core.Tx, team core.TeamKey, blocks []core.Block) error {
	return ReleaseBlocks(tx, team, blocks)
}

// Stats implements core.ChunkStore.
func (s *Store) Stats(ctx context.Context) (core.StorageStats, error) {
	st := core.StorageStats{BlockSize: s.bsize, DataShards: s.cfg.DataShards, ParityShards: s.cfg.ParityShards,
		DataDirs: len(s.dirs), DirLossSurvive: DirLossSurvive(len(s.dirs), s.cfg.DataShards, s.cfg.ParityShards),
		Repairs: s.repairs.Load(), ScrubProgress: s.scrubFraction()}
	for _, d := range s.dirs {
		free, total, err := s.fs.Space(d)
		if err == nil {
			st.FreeBytes += free
			st.CapacityBytes += total
		}
		segs, err := segments(s.fs, d)
		if err != nil {
			// A dead disk must not hide the figures of the others.
			s.log.Warn("storage figures: a data directory cannot be read", "dir", d, "err", err)
			st.UnreadableDirs++
			continue
		}
		for _, e := range segs {
			if fi, err := e.Info(); err == nil {
				st.PhysicalBytes += fi.Size()
				st.Segments++
			}
		}
	}
	err := IndexStats(ctx, s.meta, &st)
	return st, err
}

func (s *Store) String() string { return fmt.Sprintf("chunk store %s over %v", s.id, s.dirs) }

// Digest implements core.ChunkStore (FileDigest over ReadRange).
func (s *Store) Digest(ctx context.Context, team core.TeamKey, blocks []core.Block) (core.Hash, error) {
	return FileDigest(ctx, team, blocks, s.ReadRange)
}

// CanFit reports, with a NoSpace error that says what to do, whether n
// more bytes of file data fit: every data directory must keep its reserve
// after taking its share of the shards, and the metadata store's file
// system its floor. Callers use it to refuse work that cannot fit before
// it starts (a package whose size is announced); Ingest checks one block.
func (s *Store) CanFit(n int64) error {
	const op = "chunk.space"
	k, m := int64(s.cfg.DataShards), int64(s.cfg.ParityShards)
	blocks := (n + s.bsize - 1) / s.bsize
	// Shard bytes spread over the directories, plus record headers and
	// alignment padding (at most one 4 KiB page per record).
	perDir := ((n+k-1)/k*(k+m) + blocks*(k+m)*align) / int64(len(s.dirs))
	for _, d := range s.dirs {
		free, total, err := s.fs.Space(d)
		if err != nil {
			continue // a directory we cannot measure fails on write instead
		}
		reserve := s.cfg.Reserve
		if reserve == 0 {
			reserve = max(256<<20, total/100)
		}
		if reserve < 0 {
			reserve = 0
		}
		if free-perDir < reserve {
			return &core.Error{Op: op, Kind: core.NoSpace,
				Msg: fmt.Sprintf("insufficient storage: %s more would not fit (the appliance keeps %s free per disk); the operator must free space or add a data directory", human(n), human(reserve))}
		}
	}
	if s.cfg.MetaDir != "" {
		floor := s.cfg.MetaFloor
		if floor == 0 {
			floor = 512 << 20
		}
		if free, _, err := s.fs.Space(s.cfg.MetaDir); err == nil && free < floor {
			return &core.Error{Op: op, Kind: core.NoSpace,
				Msg: fmt.Sprintf("insufficient storage: the disk holding haul's metadata has %s free, under its floor of %s; the operator must free space there", human(free), human(floor))}
		}
	}
	return nil
}

// human formats a byte count for messages.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
