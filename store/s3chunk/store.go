// Package s3chunk is haul's chunk store on an S3-compatible object store
// (MinIO, Ceph, AWS S3, versitygw): the same blocks as the local store
// (cut at multiples of the block size, addressed by the team's keyed
// BLAKE3, with chaining values and CRC-32 recorded), one object a block,
// keyed by team and address. The object store provides redundancy, so
// there is no parity; the CRC-32 is checked on every read. Reference
// counts and the block index stay in the metadata store, shared with the
// local store's rules (chunk.CommitBlocks and chunk.ReleaseBlocks).
//
// Object names, under the configured prefix:
//
//	haul-chunks.json                     the store's marker (id, block size)
//	blocks/<team id>/<aa>/<address hex>  a block (aa: the address's first byte)
//
// Write path: Ingest reads a block, addresses it, and PUTs the blocks the
// team does not store (a few in flight at once); it returns once every PUT
// has succeeded, and nothing is referenced until the caller commits, so a
// failed or abandoned ingest leaves only unreferenced objects, which Sweep
// deletes. Read path: the objects covering a range are fetched (a few
// ahead), each checked against its CRC-32 and length before a byte of it is
// written out.
package s3chunk

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/reedsolomon"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"haul/core"
	"haul/store/chunk"
)

// Config is the store's configuration.
type Config struct {
	Endpoint           string // http(s) URL; empty: AWS S3 for Region
	Region             string
	Bucket             string
	Prefix             string
	AccessKey          string
	SecretKey          string
	PathStyle          bool
	InsecureSkipVerify bool
	// BlockSize is fixed when the store is created (the marker keeps it).
	BlockSize int64
	// ParityShards above 0 keeps each new block as DataShards data objects
	// plus ParityShards Reed-Solomon parity objects (for object stores
	// without redundancy of their own); 0 keeps it whole, one object.
	DataShards, ParityShards int
	// Depth is how many objects one ingest or read has in flight (default 4).
	Depth  int
	Logger *slog.Logger
}

// Store is the S3 chunk store.
type Store struct {
	cfg    Config
	mc     *minio.Client
	meta   core.Store
	bsize  int64
	prefix string
	log    *slog.Logger
	bufs   sync.Pool
	enc    reedsolomon.Encoder // nil without parity
	// repairs counts shards rebuilt from parity and written back.
	repairs atomic.Int64

	// Sweep and ingest, in one process: gen counts the sweep's deletions;
	// deleted holds, per block (team/address), the gen at which its
	// objects were last deleted; pending, per entry an ingest wrote, the
	// block and the gen when that ingest began. Commit refuses (Conflict:
	// send the part again) a written block whose objects a sweep deleted
	// after its ingest began. active holds the start of every ingest in
	// flight, so the orphan pass never takes their objects.
	mu      sync.Mutex
	gen     uint64
	deleted map[string]uint64
	pending map[*core.BlockEntry]pendingWrite
	active  map[uint64]time.Time
	nextID  uint64
	// reading counts the reads in flight per block: Sweep leaves their
	// objects alone (a package deleted mid-download still downloads).
	reading map[string]int
}

type pendingWrite struct {
	block string // team/address
	gen   uint64
	at    time.Time
}

func blockName(teamID string, h core.Hash) string { return teamID + "/" + hex.EncodeToString(h[:]) }

// beginIngest records an ingest in flight; it returns its id and the
// sweep generation it began at.
func (s *Store) beginIngest() (uint64, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.active[s.nextID] = time.Now()
	return s.nextID, s.gen
}

func (s *Store) endIngest(id uint64) {
	s.mu.Lock()
	delete(s.active, id)
	s.mu.Unlock()
}

// swept records that a block's objects were deleted.
func (s *Store) swept(name string) {
	s.mu.Lock()
	s.gen++
	s.deleted[name] = s.gen
	s.mu.Unlock()
}

// reclaimed says whether a sweep deleted the objects of the block an
// ingest wrote (entry e) after that ingest began.
func (s *Store) reclaimed(e *core.BlockEntry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[e]
	if !ok {
		return false
	}
	delete(s.pending, e)
	return s.deleted[p.block] > p.gen
}

type marker struct {
	ID        string `json:"id"`
	BlockSize int64  `json:"block_size"`
}

// Open connects to the bucket (creating it when missing) and checks or
// writes the store's marker.
func Open(ctx context.Context, cfg Config, meta core.Store) (*Store, error) {
	const op = "s3chunk.open"
	if cfg.Depth <= 0 {
		cfg.Depth = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, secure := "s3.amazonaws.com", true
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, core.E(op, core.Invalid, "storage.s3.endpoint %q is not an http or https URL", cfg.Endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if cfg.InsecureSkipVerify {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for, test servers only
	}
	// The configured keys, else the standard AWS environment variables.
	creds := credentials.NewEnvAWS()
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	// A few quick retries: a part whose objects cannot be written fails
	// soon, as 503, and the uploading client retries it with its own backoff.
	mc, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: cfg.Region, Transport: tr, BucketLookup: lookup, MaxRetries: 3})
	if err != nil {
		return nil, core.E(op, core.Invalid, "the S3 client: %v", err)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	s := &Store{cfg: cfg, mc: mc, meta: meta, prefix: prefix, log: cfg.Logger,
		deleted: map[string]uint64{}, pending: map[*core.BlockEntry]pendingWrite{}, active: map[uint64]time.Time{}, reading: map[string]int{}}
	if cfg.ParityShards > 0 {
		if cfg.DataShards < 1 || cfg.DataShards+cfg.ParityShards > 256 {
			return nil, core.E(op, core.Invalid, "%d data and %d parity shards: want 1 or more data shards and at most 256 in all", cfg.DataShards, cfg.ParityShards)
		}
		if s.enc, err = reedsolomon.New(cfg.DataShards, cfg.ParityShards); err != nil {
			return nil, core.E(op, core.Invalid, "Reed-Solomon %d+%d: %v", cfg.DataShards, cfg.ParityShards, err)
		}
	}
	ok, err := mc.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, unavailable(op, "checking the bucket "+cfg.Bucket, err)
	}
	if !ok {
		if err := mc.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, unavailable(op, "creating the bucket "+cfg.Bucket, err)
		}
		s.log.Info("created the S3 bucket", "bucket", cfg.Bucket)
	}
	if err := s.loadMarker(ctx); err != nil {
		return nil, err
	}
	s.bufs.New = func() any { b := make([]byte, s.bsize); return &b }
	return s, nil
}

// loadMarker reads the store's marker, or writes it for a new store: the
// block size is fixed at creation (addresses depend on it).
func (s *Store) loadMarker(ctx context.Context) error {
	const op = "s3chunk.open"
	obj, err := s.mc.GetObject(ctx, s.cfg.Bucket, s.prefix+"haul-chunks.json", minio.GetObjectOptions{})
	if err == nil {
		var m marker
		b, rerr := io.ReadAll(io.LimitReader(obj, 1<<16))
		obj.Close()
		switch {
		case rerr == nil && json.Unmarshal(b, &m) == nil && m.BlockSize > 0:
			if s.cfg.BlockSize > 0 && m.BlockSize != s.cfg.BlockSize {
				s.log.Warn("the S3 store keeps the block size it was created with", "block_size", m.BlockSize, "configured", s.cfg.BlockSize)
			}
			s.bsize = m.BlockSize
			return nil
		case rerr != nil && minio.ToErrorResponse(rerr).Code != "NoSuchKey":
			return unavailable(op, "reading the store's marker", rerr)
		case rerr == nil:
			return core.E(op, core.Internal, "%shaul-chunks.json in bucket %s is damaged: restore it (it holds the block size)", s.prefix, s.cfg.Bucket)
		}
	}
	s.bsize = s.cfg.BlockSize
	if s.bsize <= 0 {
		s.bsize = 4 << 20
	}
	b, _ := json.Marshal(marker{ID: core.NewID(), BlockSize: s.bsize})
	if _, err := s.mc.PutObject(ctx, s.cfg.Bucket, s.prefix+"haul-chunks.json", bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{ContentType: "application/json"}); err != nil {
		return unavailable(op, "writing the store's marker", err)
	}
	return nil
}

// unavailable is an object-store failure: Unavailable, which callers and
// clients treat as retryable.
func unavailable(op, what string, err error) error {
	return &core.Error{Op: op, Kind: core.Unavailable, Msg: what + ": the object store failed (" + err.Error() + "); try again", Err: err}
}

// BlockSize is the store's block size.
func (s *Store) BlockSize() int64 { return s.bsize }

// Close releases nothing: the client holds no files.
func (s *Store) Close() error { return nil }

func (s *Store) String() string { return "S3 chunk store in bucket " + s.cfg.Bucket + "/" + s.prefix }

// key is a block's object name.
func (s *Store) key(teamID string, h core.Hash) string {
	x := hex.EncodeToString(h[:])
	return s.prefix + "blocks/" + teamID + "/" + x[:2] + "/" + x
}

// shardKey is the object name of shard i of a block kept with parity.
func (s *Store) shardKey(teamID string, h core.Hash, i int) string {
	return s.key(teamID, h) + "." + strconv.Itoa(i)
}

// objectKeys are every object name of a block with entry e.
func (s *Store) objectKeys(teamID string, h core.Hash, e *core.BlockEntry) []string {
	if e.Parity == 0 && e.Data <= 1 {
		return []string{s.key(teamID, h)}
	}
	keys := make([]string, int(e.Data)+int(e.Parity))
	for i := range keys {
		keys[i] = s.shardKey(teamID, h, i)
	}
	return keys
}

// writeBlock writes one block (whole, or as data and parity shards) and
// returns its index entry, without references.
func (s *Store) writeBlock(ctx context.Context, teamID string, h core.Hash, data []byte) (*core.BlockEntry, error) {
	crc := crc32.ChecksumIEEE(data)
	if s.enc == nil {
		_, err := s.mc.PutObject(ctx, s.cfg.Bucket, s.key(teamID, h), bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
		if err != nil {
			return nil, err
		}
		return &core.BlockEntry{Len: int64(len(data)), Data: 1, CRC: crc, HasCRC: true, Shards: []core.ShardLoc{core.ObjectShard}}, nil
	}
	k, m := s.cfg.DataShards, s.cfg.ParityShards
	sl := max(1, (len(data)+k-1)/k)
	buf := make([]byte, sl*(k+m))
	copy(buf, data)
	shards := make([][]byte, k+m)
	for i := range shards {
		shards[i] = buf[i*sl : (i+1)*sl]
	}
	if err := s.enc.Encode(shards); err != nil {
		return nil, err
	}
	e := &core.BlockEntry{Len: int64(len(data)), Data: uint8(k), Parity: uint8(m), CRC: crc, HasCRC: true, Shards: make([]core.ShardLoc, k+m)}
	errs := make([]error, k+m)
	var wg sync.WaitGroup
	for i := range shards {
		e.Shards[i] = core.ObjectShard
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.mc.PutObject(ctx, s.cfg.Bucket, s.shardKey(teamID, h, i), bytes.NewReader(shards[i]), int64(sl),
				minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true,
					UserMetadata: map[string]string{"Crc32c": strconv.FormatUint(uint64(crc32.Checksum(shards[i], castagnoli)), 16)}})
		}()
	}
	wg.Wait()
	return e, errors.Join(errs...)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// put is one block on its way to the object store.
type put struct {
	buf  *[]byte
	n    int
	done chan error
}

// Ingest implements core.ChunkStore.
func (s *Store) Ingest(ctx context.Context, team core.TeamKey, off int64, r io.Reader) (*core.Ingested, error) {
	const op = "s3chunk.ingest"
	if off < 0 {
		return nil, core.E(op, core.Invalid, "negative offset")
	}
	id, gen0 := s.beginIngest()
	defer s.endIngest(id)
	// The first failed write stops the ingest: nothing more is read.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var failed atomic.Bool
	res := &core.Ingested{}
	hasher := chunk.KeyedHasher(team)
	var cvh chunk.CVHasher
	written := map[core.Hash]bool{}
	// The collector waits for the PUTs in order and returns their buffers.
	collected := make(chan error, 1)
	pending := make(chan *put, s.cfg.Depth)
	go func() {
		var err error
		for p := range pending {
			if e := <-p.done; e != nil && err == nil {
				err = e
				failed.Store(true)
				cancel()
			}
			s.bufs.Put(p.buf)
		}
		collected <- err
	}()
	pos := off
	var rerr error
	for !failed.Load() {
		bp := s.bufs.Get().(*[]byte)
		want := int(s.bsize - pos%s.bsize)
		n, err := io.ReadFull(r, (*bp)[:want])
		if n == 0 {
			s.bufs.Put(bp)
			if err != nil && !errors.Is(err, io.EOF) {
				rerr = err
			}
			break
		}
		b := (*bp)[:n]
		hasher.Reset()
		hasher.Write(b)
		var h core.Hash
		hasher.Sum(h[:0])
		crc := crc32.ChecksumIEEE(b)
		blk := core.Block{Hash: h, Off: pos, Len: int64(n), CRC: &crc}
		if cvs, ok := cvh.BlockCVs(nil, b, pos); ok {
			blk.CVs = cvs
		}
		var entry *core.BlockEntry
		known := written[h]
		if !known {
			if err := s.meta.View(ctx, func(tx core.Tx) (err error) {
				known, err = tx.HasBlock(team.TeamID, h)
				return err
			}); err != nil {
				s.bufs.Put(bp)
				rerr = err
				break
			}
		}
		if known {
			s.bufs.Put(bp)
		} else {
			written[h] = true
			// The entry is filled in by the write, which the collector
			// waits for before Ingest returns.
			entry = &core.BlockEntry{}
			s.mu.Lock()
			s.pending[entry] = pendingWrite{block: blockName(team.TeamID, h), gen: gen0, at: time.Now()}
			s.mu.Unlock()
			p := &put{buf: bp, n: n, done: make(chan error, 1)}
			pending <- p
			go func() {
				e, err := s.writeBlock(ctx, team.TeamID, h, (*p.buf)[:p.n])
				if err == nil {
					*entry = *e
				}
				p.done <- err
			}()
		}
		res.Blocks = append(res.Blocks, blk)
		res.New = append(res.New, entry)
		res.Size += int64(n)
		pos += int64(n)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				rerr = err
			}
			break
		}
	}
	close(pending)
	if perr := <-collected; perr != nil && rerr == nil {
		rerr = unavailable(op, "writing a block", perr)
	}
	if rerr != nil {
		return nil, core.Wrap(op, rerr)
	}
	return res, nil
}

// Commit implements core.ChunkStore.
func (s *Store) Commit(tx core.Tx, team core.TeamKey, in *core.Ingested) error {
	return chunk.CommitBlocks(tx, team, in, s.reclaimed)
}

// Release implements core.ChunkStore.
func (s *Store) Release(tx core.Tx, team core.TeamKey, blocks []core.Block) error {
	return chunk.ReleaseBlocks(tx, team, blocks)
}

// Has implements core.ChunkStore.
func (s *Store) Has(ctx context.Context, team core.TeamKey, h core.Hash) (bool, error) {
	return chunk.IndexHas(ctx, s.meta, team, h)
}

// Digest implements core.ChunkStore.
func (s *Store) Digest(ctx context.Context, team core.TeamKey, blocks []core.Block) (core.Hash, error) {
	return chunk.FileDigest(ctx, team, blocks, s.ReadRange)
}

// fetch is one block being read.
type fetch struct {
	b    core.Block
	buf  *[]byte
	err  error
	done chan struct{}
}

// ReadRange implements core.ChunkStore: it fetches the objects covering
// [off, off+n) (Depth at once, in order), checks each whole block's length
// and CRC-32, and writes the range's bytes to w.
func (s *Store) ReadRange(ctx context.Context, team core.TeamKey, blocks []core.Block, off, n int64, w io.Writer) error {
	const op = "s3chunk.read"
	if n == 0 {
		return nil
	}
	end := off + n
	var need []core.Block
	var size int64
	for _, b := range blocks {
		if b.Off+b.Len > off && b.Off < end {
			need = append(need, b)
		}
		size = max(size, b.Off+b.Len)
	}
	if off < 0 || n < 0 || end > size {
		return core.E(op, core.BadRange, "range [%d, %d) is outside the file (%d bytes)", off, end, size)
	}
	names := make([]string, len(need))
	s.mu.Lock()
	for i, b := range need {
		names[i] = blockName(team.TeamID, b.Hash)
		s.reading[names[i]]++
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		for _, nm := range names {
			if s.reading[nm]--; s.reading[nm] <= 0 {
				delete(s.reading, nm)
			}
		}
		s.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *fetch, s.cfg.Depth)
	go func() {
		defer close(queue)
		for _, b := range need {
			f := &fetch{b: b, done: make(chan struct{})}
			select {
			case queue <- f:
			case <-ctx.Done():
				return
			}
			go func() {
				defer close(f.done)
				f.buf, f.err = s.getBlock(ctx, team, f.b)
			}()
		}
	}()
	var err error
	for f := range queue {
		<-f.done
		if err == nil {
			err = f.err
		}
		if err == nil {
			lo := max(off, f.b.Off) - f.b.Off
			hi := min(end, f.b.Off+f.b.Len) - f.b.Off
			if _, werr := w.Write((*f.buf)[lo:hi]); werr != nil {
				err = werr
			}
		}
		if f.buf != nil {
			s.bufs.Put(f.buf)
		}
		if err != nil {
			cancel()
		}
	}
	return err
}

// getBlock reads one whole block and checks it: a whole object against
// the block's CRC-32; shards each against their own CRC-32C, missing or
// damaged ones rebuilt from parity (and written back), the block then
// against its CRC-32.
func (s *Store) getBlock(ctx context.Context, team core.TeamKey, b core.Block) (*[]byte, error) {
	var e *core.BlockEntry
	if err := s.meta.View(ctx, func(tx core.Tx) (err error) {
		e, err = tx.Block(team.TeamID, b.Hash)
		return err
	}); err != nil {
		if core.Is(err, core.NotFound) {
			return nil, core.E("s3chunk.read", core.Corrupt, "block %s of the file is not in the block index", b.Hash.Short())
		}
		return nil, err
	}
	return s.readBlock(ctx, team.TeamID, b, e)
}

// ReadBlock reads and checks one block as entry e describes it (haul
// admin migrate-store reads a block back before repointing its entry).
func (s *Store) ReadBlock(ctx context.Context, teamID string, h core.Hash, e *core.BlockEntry) ([]byte, error) {
	bp, err := s.readBlock(ctx, teamID, core.Block{Hash: h, Len: e.Len}, e)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), (*bp)[:e.Len]...)
	s.bufs.Put(bp)
	return out, nil
}

// readBlock reads block b, kept as e says.
func (s *Store) readBlock(ctx context.Context, teamID string, b core.Block, e *core.BlockEntry) (*[]byte, error) {
	const op = "s3chunk.read"
	want := b.CRC
	if want == nil && e.HasCRC {
		want = &e.CRC
	}
	bp := s.bufs.Get().(*[]byte)
	if int64(len(*bp)) < b.Len {
		nb := make([]byte, b.Len)
		bp = &nb
	}
	buf := (*bp)[:b.Len]
	var err error
	if e.Parity == 0 && e.Data <= 1 {
		err = s.getObject(ctx, s.key(teamID, b.Hash), buf, nil)
	} else {
		err = s.getShards(ctx, teamID, b.Hash, e, buf)
	}
	if err == nil && want != nil && crc32.ChecksumIEEE(buf) != *want {
		err = core.E(op, core.Corrupt, "block %s fails its CRC-32 in the object store", b.Hash.Short())
	}
	if err != nil {
		s.bufs.Put(bp)
		var damaged *damage
		if errors.As(err, &damaged) {
			return nil, core.E(op, core.Corrupt, "block %s %s", b.Hash.Short(), damaged.what)
		}
		if core.Is(err, core.Corrupt) {
			return nil, err
		}
		return nil, unavailable(op, "reading block "+b.Hash.Short(), err)
	}
	return bp, nil
}

// damage is an object that is missing, of the wrong length or fails its
// checksum (as opposed to an object store that cannot be reached).
type damage struct{ what string }

func (d *damage) Error() string { return d.what }

// getObject reads an object of exactly len(dst) bytes into dst; with
// crc, it also checks its CRC-32C against the object's Crc32c metadata.
func (s *Store) getObject(ctx context.Context, key string, dst []byte, crc *crc32.Table) error {
	obj, err := s.mc.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	k, err := io.ReadFull(obj, dst)
	if err == nil {
		var extra [1]byte
		if m, _ := obj.Read(extra[:]); m > 0 {
			return &damage{fmt.Sprintf("is longer than its %d bytes in the object store", len(dst))}
		}
	}
	switch {
	case err != nil && minio.ToErrorResponse(err).Code == "NoSuchKey":
		return &damage{"is missing from the object store"}
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		// Short: the object itself, or a connection cut mid-body (the
		// object's size says which).
		if st, serr := obj.Stat(); serr == nil && st.Size == int64(len(dst)) {
			return err
		}
		return &damage{fmt.Sprintf("is %d bytes in the object store, want %d", k, len(dst))}
	case err != nil:
		return err
	}
	if crc != nil {
		st, err := obj.Stat()
		if err != nil {
			return err
		}
		var sum string
		for key, v := range st.UserMetadata {
			if strings.EqualFold(key, "crc32c") || strings.EqualFold(key, "x-amz-meta-crc32c") {
				sum = v
			}
		}
		if sum != strconv.FormatUint(uint64(crc32.Checksum(dst, crc)), 16) {
			return &damage{"has a shard that fails its CRC-32C in the object store"}
		}
	}
	return nil
}

// getShards reads a block kept as shards into dst: the data shards, and
// when one is missing or damaged the parity shards too, rebuilding the
// block and writing the rebuilt shards back.
func (s *Store) getShards(ctx context.Context, teamID string, h core.Hash, e *core.BlockEntry, dst []byte) error {
	k, m := int(e.Data), int(e.Parity)
	sl := max(1, (int(e.Len)+k-1)/k)
	shards := make([][]byte, k+m)
	errs := make([]error, k+m)
	fetch := func(from, to int) {
		var wg sync.WaitGroup
		for i := from; i < to; i++ {
			shards[i] = make([]byte, sl)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.getObject(ctx, s.shardKey(teamID, h, i), shards[i], castagnoli)
			}()
		}
		wg.Wait()
	}
	bad := func(to int) ([]int, error) {
		var out []int
		for i, err := range errs[:to] {
			var d *damage
			switch {
			case err == nil:
			case errors.As(err, &d):
				out = append(out, i)
			default:
				return nil, err // the store is unreachable: not damage
			}
		}
		return out, nil
	}
	fetch(0, k)
	missing, err := bad(k)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		enc := s.enc
		if enc == nil || int(e.Data) != s.cfg.DataShards || int(e.Parity) != s.cfg.ParityShards {
			if enc, err = reedsolomon.New(k, m); err != nil {
				return err
			}
		}
		fetch(k, k+m)
		if missing, err = bad(k + m); err != nil {
			return err
		}
		if len(missing) > m {
			return &damage{fmt.Sprintf("has %d damaged or missing shards of %d, more than its %d parity shards can rebuild", len(missing), k+m, m)}
		}
		for _, i := range missing {
			shards[i] = nil
		}
		if err := enc.Reconstruct(shards); err != nil {
			return &damage{"cannot be rebuilt from parity: " + err.Error()}
		}
		// Write the rebuilt shards back (best effort: the next read
		// rebuilds again if this fails).
		for _, i := range missing {
			_, perr := s.mc.PutObject(ctx, s.cfg.Bucket, s.shardKey(teamID, h, i), bytes.NewReader(shards[i]), int64(sl),
				minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true,
					UserMetadata: map[string]string{"Crc32c": strconv.FormatUint(uint64(crc32.Checksum(shards[i], castagnoli)), 16)}})
			if perr != nil {
				s.log.Warn("S3: writing back a rebuilt shard", "block", h.Short(), "shard", i, "err", perr)
			} else {
				s.repairs.Add(1)
			}
		}
	}
	for i := 0; i < k && i*sl < len(dst); i++ {
		copy(dst[i*sl:], shards[i])
	}
	return nil
}

// Stats implements core.ChunkStore: the index's figures, and the bytes the
// objects take (a listing of the bucket).
func (s *Store) Stats(ctx context.Context) (core.StorageStats, error) {
	st := core.StorageStats{BlockSize: s.bsize, DataShards: 1, ParityShards: 0, Repairs: s.repairs.Load()}
	if s.enc != nil {
		st.DataShards, st.ParityShards = s.cfg.DataShards, s.cfg.ParityShards
	}
	for obj := range s.mc.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.prefix + "blocks/", Recursive: true}) {
		if obj.Err != nil {
			return st, unavailable("s3chunk.stats", "listing the bucket", obj.Err)
		}
		st.PhysicalBytes += obj.Size
		st.Segments++ // objects, shown where the local store shows segments
	}
	return st, chunk.IndexStats(ctx, s.meta, &st)
}

// Sweep deletes what nothing references: blocks at zero references (their
// objects, then their index entries, if still at zero) and objects the
// index does not know (an ingest that was never committed) older than
// grace. It returns the objects deleted.
func (s *Store) Sweep(ctx context.Context, grace time.Duration) (int, error) {
	const op = "s3chunk.sweep"
	type dead struct {
		team string
		h    core.Hash
		e    core.BlockEntry
	}
	var zero []dead
	if err := s.meta.View(ctx, func(tx core.Tx) error {
		return tx.Blocks(func(team string, h core.Hash, e *core.BlockEntry) bool {
			if e.Refs <= 0 {
				zero = append(zero, dead{team, h, *e})
			}
			return true
		})
	}); err != nil {
		return 0, err
	}
	deleted := 0
	for _, d := range zero {
		s.mu.Lock()
		busy := s.reading[blockName(d.team, d.h)] > 0
		s.mu.Unlock()
		if busy {
			continue // being read: the next sweep takes it
		}
		// Drop the index entry first (if still at zero), then the object:
		// a reader never finds an entry without its object.
		gone := false
		if err := s.meta.Update(ctx, func(tx core.Tx) error {
			e, err := tx.Block(d.team, d.h)
			if err != nil || e.Refs > 0 {
				return nil
			}
			gone = true
			return tx.DeleteBlock(d.team, d.h)
		}); err != nil {
			return deleted, err
		}
		if gone {
			for _, key := range s.objectKeys(d.team, d.h, &d.e) {
				if err := s.mc.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
					return deleted, unavailable(op, "deleting block "+d.h.Short(), err)
				}
				deleted++
			}
			s.swept(blockName(d.team, d.h))
		}
	}
	// Objects no index entry names, old enough not to belong to an ingest
	// still waiting for its commit.
	// Not the objects of an ingest still running (it may take longer than
	// grace for a huge part), nor of one that ended within grace.
	cutoff := time.Now().Add(-grace)
	s.mu.Lock()
	for _, at := range s.active {
		if at.Before(cutoff) {
			cutoff = at
		}
	}
	for e, p := range s.pending { // writes never committed: forgotten after a day
		if time.Since(p.at) > 24*time.Hour {
			delete(s.pending, e)
		}
	}
	s.mu.Unlock()
	for obj := range s.mc.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.prefix + "blocks/", Recursive: true}) {
		if obj.Err != nil {
			return deleted, unavailable(op, "listing the bucket", obj.Err)
		}
		if obj.LastModified.After(cutoff) {
			continue
		}
		team, h, ok := s.parseKey(obj.Key)
		if !ok {
			continue
		}
		// Known only as one of its block's objects in the block's
		// geometry: anything else (an ingest never committed, shards of
		// another geometry) is garbage.
		var known bool
		if err := s.meta.View(ctx, func(tx core.Tx) error {
			e, err := tx.Block(team, h)
			if core.Is(err, core.NotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			known = slices.Contains(s.objectKeys(team, h, e), obj.Key)
			return nil
		}); err != nil {
			return deleted, err
		}
		if !known {
			if err := s.mc.RemoveObject(ctx, s.cfg.Bucket, obj.Key, minio.RemoveObjectOptions{}); err != nil {
				return deleted, unavailable(op, "deleting an unreferenced object", err)
			}
			s.swept(blockName(team, h))
			deleted++
		}
	}
	return deleted, nil
}

// parseKey reads a block object's name.
func (s *Store) parseKey(key string) (string, core.Hash, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix+"blocks/")
	if !ok {
		return "", core.Hash{}, false
	}
	parts := strings.Split(rest, "/")
	var h core.Hash
	if len(parts) == 3 {
		parts[2], _, _ = strings.Cut(parts[2], ".") // a shard's object: <address>.<i>
	}
	if len(parts) != 3 || len(parts[2]) != 64 {
		return "", core.Hash{}, false
	}
	if _, err := hex.Decode(h[:], []byte(parts[2])); err != nil {
		return "", core.Hash{}, false
	}
	return parts[0], h, true
}

// RunSweep sweeps every interval until ctx ends.
func (s *Store) RunSweep(ctx context.Context, every, grace time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Sweep(ctx, grace); err != nil {
				s.log.Warn("S3 sweep", "err", err)
			} else if n > 0 {
				s.log.Info("S3 sweep", "deleted_objects", n)
			}
		}
	}
}

// FsckReport is what Fsck found.
type FsckReport struct {
	Blocks   int      `json:"blocks"`
	Bytes    int64    `json:"bytes"`
	Missing  int      `json:"missing"`  // indexed blocks without their object
	Damaged  int      `json:"damaged"`  // objects of the wrong length or CRC-32
	Orphans  int      `json:"orphans"`  // objects no index entry names (Sweep deletes them)
	Degraded int      `json:"degraded"` // parity shards missing or damaged (the data still reads)
	Repaired int      `json:"repaired"` // blocks whose parity shards were written anew (repair)
	Problems []string `json:"problems,omitempty"`
}

// Fsck reads every indexed block's objects and checks their lengths and
// checksums (a block's CRC-32; each shard's CRC-32C, parity shards
// included), and counts the objects the index does not know. A block
// whose data shards are damaged is rebuilt from parity as it is read (and
// written back); with repair, a block whose parity shards are damaged
// gets them written anew. Whole-object blocks rely on the object store's
// redundancy: a damaged one is reported (its files must be sent again).
func (s *Store) Fsck(ctx context.Context, repair bool) (FsckReport, error) {
	var rep FsckReport
	type ent struct {
		team string
		h    core.Hash
		e    core.BlockEntry
	}
	var all []ent
	known := map[string]bool{}
	if err := s.meta.View(ctx, func(tx core.Tx) error {
		return tx.Blocks(func(team string, h core.Hash, e *core.BlockEntry) bool {
			all = append(all, ent{team, h, *e})
			for _, key := range s.objectKeys(team, h, e) {
				known[key] = true
			}
			return true
		})
	}); err != nil {
		return rep, err
	}
	for _, x := range all {
		rep.Blocks++
		rep.Bytes += x.e.Len
		crc := x.e.CRC
		b := core.Block{Hash: x.h, Len: x.e.Len}
		if x.e.HasCRC {
			b.CRC = &crc
		}
		degradedBefore := rep.Degraded
		bp, err := s.readBlock(ctx, x.team, b, &x.e)
		if err == nil && x.e.Parity > 0 {
			// Every parity shard too: a lost one is found before a data
			// shard also fails.
			sl := max(1, (int(x.e.Len)+int(x.e.Data)-1)/int(x.e.Data))
			shard := make([]byte, sl)
			for i := int(x.e.Data); i < int(x.e.Data)+int(x.e.Parity) && err == nil; i++ {
				if serr := s.getObject(ctx, s.shardKey(x.team, x.h, i), shard, castagnoli); serr != nil {
					var d *damage
					if !errors.As(serr, &d) {
						err = serr
					} else {
						rep.Degraded++
						rep.Problems = append(rep.Problems, fmt.Sprintf("block %s: parity shard %d %s", x.h.Short(), i, d.what))
					}
				}
			}
		}
		if err == nil && repair && rep.Degraded > degradedBefore && s.enc != nil &&
			int(x.e.Data) == s.cfg.DataShards && int(x.e.Parity) == s.cfg.ParityShards {
			if _, werr := s.writeBlock(ctx, x.team, x.h, (*bp)[:x.e.Len]); werr != nil {
				err = werr
			} else {
				rep.Repaired++
			}
		}
		switch {
		case err == nil:
			s.bufs.Put(bp)
		case core.Is(err, core.Corrupt) && strings.Contains(err.Error(), "missing"):
			rep.Missing++
			rep.Problems = append(rep.Problems, err.Error())
		case core.Is(err, core.Corrupt):
			rep.Damaged++
			rep.Problems = append(rep.Problems, err.Error())
		default:
			return rep, err
		}
	}
	for obj := range s.mc.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.prefix + "blocks/", Recursive: true}) {
		if obj.Err != nil {
			return rep, unavailable("s3chunk.fsck", "listing the bucket", obj.Err)
		}
		if !known[obj.Key] {
			rep.Orphans++
		}
	}
	return rep, nil
}

// PutBlock writes one block's bytes (haul admin migrate-store) in the
// store's geometry and returns its index entry, without references; the
// caller has checked the bytes against the address and repoints the
// block's entry afterwards.
func (s *Store) PutBlock(ctx context.Context, teamID string, h core.Hash, data []byte) (*core.BlockEntry, error) {
	e, err := s.writeBlock(ctx, teamID, h, data)
	if err != nil {
		return nil, unavailable("s3chunk.put", "writing block "+h.Short(), err)
	}
	return e, nil
}

// IsObject says whether an index entry is a block kept in an object store.
func IsObject(e *core.BlockEntry) bool {
	for _, l := range e.Shards {
		if l != core.ObjectShard {
			return false
		}
	}
	return len(e.Shards) > 0
}

// LocalBlocks reports whether the block index lists a block not kept in
// an object store (stopping at the first): an appliance half-way through
// haul admin migrate-store must not start on S3.
func LocalBlocks(ctx context.Context, meta core.Store) (bool, error) {
	found := false
	err := meta.View(ctx, func(tx core.Tx) error {
		return tx.Blocks(func(_ string, _ core.Hash, e *core.BlockEntry) bool {
			found = !IsObject(e)
			return !found
		})
	})
	return found, err
}
