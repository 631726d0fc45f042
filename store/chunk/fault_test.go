package chunk

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"haul/core"
	"haul/store/chunk/chunktest"
)

// The fault tests: a file layer (faultfs_test.go) that drops every write
// not covered by a completed fsync and fails with ENOSPC or EIO at chosen
// points, crash points from a seeded generator, and whole data
// directories lost.

// ackStore and ackMeta wrap a store and its metadata so that a part counts
// as acknowledged exactly when the transaction holding its Commit is
// durable, whatever happens to the file layer afterwards.
type ackStore struct {
	*Store
	mu      sync.Mutex
	pending *core.Ingested
	team    core.TeamKey
}

func (a *ackStore) Commit(tx core.Tx, team core.TeamKey, in *core.Ingested) error {
	a.mu.Lock()
	a.pending, a.team = in, team
	a.mu.Unlock()
	return a.Store.Commit(tx, team, in)
}

type ackMeta struct {
	core.Store
	st    *ackStore
	onAck func(team core.TeamKey, in *core.Ingested)
}

func (m *ackMeta) Update(ctx context.Context, fn func(core.Tx) error) error {
	m.st.mu.Lock()
	m.st.pending = nil
	m.st.mu.Unlock()
	err := m.Store.Update(ctx, fn)
	m.st.mu.Lock()
	in, team := m.st.pending, m.st.team
	m.st.mu.Unlock()
	if err == nil && in != nil {
		m.onAck(team, in)
	}
	return err
}

// ackedBlock is one block of an acknowledged part and the bytes it holds.
type ackedBlock struct {
	team core.TeamKey
	b    core.Block
	data []byte
}

// ledger is what the store acknowledged: every block with its bytes, and
// the reference count each indexed block must have.
type ledger struct {
	mu     sync.Mutex
	blocks []ackedBlock
	refs   map[string]int64
	file   []byte // the file being put (blocks' offsets are into it)
}

func newLedger() *ledger { return &ledger{refs: map[string]int64{}} }

func refKey(teamID string, h core.Hash) string { return teamID + "/" + h.String() }

func (l *ledger) ack(team core.TeamKey, in *core.Ingested) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range in.Blocks {
		l.blocks = append(l.blocks, ackedBlock{team, b, l.file[b.Off : b.Off+b.Len]})
		l.refs[refKey(team.TeamID, b.Hash)]++
	}
}

// faultEnv is a store over a faultFS whose acknowledgements are recorded.
type faultEnv struct {
	ts  *testStore
	ffs *faultFS
	as  *ackStore
	am  *ackMeta
	led *ledger
}

func newFaultEnv(t *testing.T, mut ...func(*Config)) *faultEnv {
	t.Helper()
	ffs := newFaultFS(t)
	ts := openTestStore(t, append([]func(*Config){func(c *Config) { c.FS = ffs }}, mut...)...)
	fe := &faultEnv{ts: ts, ffs: ffs, led: newLedger(), as: &ackStore{Store: ts.Store}}
	fe.am = &ackMeta{Store: ts.meta, st: fe.as, onAck: fe.led.ack}
	return fe
}

func (fe *faultEnv) env() chunktest.Env {
	return chunktest.Env{Store: fe.as, Meta: fe.am, BlockSize: fe.ts.BlockSize()}
}

// put ingests data as one file in parts of part bytes, recording every
// acknowledged part. It returns the error of the part that failed.
func (fe *faultEnv) put(team core.TeamKey, data []byte, part int) ([]core.Block, error) {
	fe.led.mu.Lock()
	fe.led.file = data
	fe.led.mu.Unlock()
	return chunktest.PutErr(fe.env(), team, data, part)
}

func (fe *faultEnv) mustPut(t *testing.T, team core.TeamKey, data []byte, part int) []core.Block {
	t.Helper()
	blocks, err := fe.put(team, data, part)
	if err != nil {
		t.Fatal(err)
	}
	if got := chunktest.Get(t, fe.env(), team, blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("a file just stored reads back wrong")
	}
	return blocks
}

// crashAndReopen cuts the power (the faultFS reverts everything not
// durable) and starts a new store over the same directories and the same
// metadata, whose committed transactions are durable. The dead store is
// abandoned, not closed: a dead process closes nothing.
func (fe *faultEnv) crashAndReopen(t *testing.T) {
	t.Helper()
	if err := fe.ffs.crash(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(fe.ts.cfg, fe.ts.meta)
	if err != nil {
		t.Fatalf("reopen after a crash: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	fe.ts.Store, fe.as.Store = s, s
}

// verify checks the store against the ledger: the index holds exactly the
// acknowledged blocks with their reference counts, every shard the index
// points at passes its checks (before any read could repair it), and
// every acknowledged block reads back byte-exact.
func (fe *faultEnv) verify(t *testing.T, when string) {
	t.Helper()
	ctx := context.Background()
	type ent struct {
		team string
		h    core.Hash
		e    *core.BlockEntry
	}
	var ents []ent
	err := fe.ts.meta.View(ctx, func(tx core.Tx) error {
		return tx.Blocks(func(teamID string, h core.Hash, e *core.BlockEntry) bool {
			ents = append(ents, ent{teamID, h, e})
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	fe.led.mu.Lock()
	defer fe.led.mu.Unlock()
	seen := map[string]bool{}
	bad := 0
	for _, x := range ents {
		k := refKey(x.team, x.h)
		seen[k] = true
		if want := fe.led.refs[k]; x.e.Refs != want {
			t.Errorf("%s: index entry %s has %d references, but %d were acknowledged", when, k, x.e.Refs, want)
		}
		if len(x.e.Shards) != int(x.e.Data)+int(x.e.Parity) {
			t.Errorf("%s: index entry %s lists %d shards for geometry %d+%d", when, k, len(x.e.Shards), x.e.Data, x.e.Parity)
			continue
		}
		for i := range x.e.Shards {
			if _, err := fe.ts.readShard(&reader{}, x.team, x.h, x.e, i); err != nil {
				bad++
				t.Errorf("%s: index entry %s references shard %d at %+v, which fails its checks: %v", when, k, i, x.e.Shards[i], err)
			}
		}
	}
	for k, n := range fe.led.refs {
		if n > 0 && !seen[k] {
			t.Errorf("%s: acknowledged block %s (%d references) is missing from the index", when, k, n)
		}
	}
	for _, a := range fe.led.blocks {
		var buf bytes.Buffer
		if err := fe.ts.ReadRange(ctx, a.team, []core.Block{a.b}, a.b.Off, a.b.Len, &buf); err != nil {
			t.Fatalf("%s: acknowledged block %s at %d+%d: %v", when, a.b.Hash.Short(), a.b.Off, a.b.Len, err)
		}
		if !bytes.Equal(buf.Bytes(), a.data) {
			t.Fatalf("%s: acknowledged block %s at %d+%d reads back different bytes", when, a.b.Hash.Short(), a.b.Off, a.b.Len)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// crashSeed is the seed of TestCrashPoints: HAUL_CRASH_SEED, or the clock.
func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("HAUL_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("HAUL_CRASH_SEED=%q: %v", s, err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// crashJob is one file of a workload.
type crashJob struct {
	team core.TeamKey
	data []byte
	part int
}

// crashWorkload draws a few files: odd sizes and part sizes around the
// block size, two teams, and now and then a file some earlier one already
// holds (deduplicated, or cut differently).
func crashWorkload(rng *rand.Rand, bs int, pool *[][]byte) []crashJob {
	sizes := []int{0, 1, 1000, bs - 1, bs, bs + 1, 2*bs + 333, 3 * bs, 4*bs + bs/2}
	parts := []int{bs, bs/2 + 7, 3 * bs / 2, 2 * bs, 5 * bs}
	teams := []core.TeamKey{chunktest.Team("A"), chunktest.Team("B")}
	var jobs []crashJob
	for range 3 + rng.IntN(3) {
		var data []byte
		if len(*pool) > 0 && rng.IntN(4) == 0 {
			data = (*pool)[rng.IntN(len(*pool))]
		} else {
			n := sizes[rng.IntN(len(sizes))]
			if rng.IntN(3) == 0 {
				n = rng.IntN(5 * bs)
			}
			data = chunktest.Data(rng.Uint64(), n)
			*pool = append(*pool, data)
		}
		jobs = append(jobs, crashJob{teams[rng.IntN(2)], data, parts[rng.IntN(len(parts))]})
	}
	return jobs
}

// TestCrashPoints runs a workload of files ingested in parts and cuts the
// power at ~25 points drawn from a seeded generator (any write, sync or
// create: before it, in the middle of a write, or just after it). After
// each crash the store is reopened and must hold every acknowledged block
// intact, reference nothing else, and accept new writes.
func TestCrashPoints(t *testing.T) {
	seed := crashSeed(t)
	t.Logf("crash seed %d (rerun with HAUL_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x68617531))
	const bs = 16 << 10
	fe := newFaultEnv(t, func(c *Config) {
		c.Dirs = []string{t.TempDir(), t.TempDir(), t.TempDir()}
		c.BlockSize = bs
		c.DataShards, c.ParityShards = 4, 2
		c.SegmentSize = 64 << 10 // 8 records of a full block: segments roll over often
	})
	var pool [][]byte

	// A first epoch without faults measures how many mutating operations
	// of each class an epoch takes; crash points are drawn over that span
	// (kept as a running mean of the epochs that ran to their end). Most
	// points fall on any operation; some on syncs or creates only, which
	// are rarer (a new segment is created and dir-synced every 8 records).
	classes := [...]faultOp{opAny, opAny, opAny, opSync, opCreate}
	var span [len(classes)]float64
	count := func() (c [len(classes)]int64) {
		for i, o := range classes {
			c[i] = fe.ffs.ops(o)
		}
		return c
	}
	c0 := count()
	for _, j := range crashWorkload(rng, bs, &pool) {
		fe.mustPut(t, j.team, j.data, j.part)
	}
	for i, c := range count() {
		span[i] = float64(max(c-c0[i], 1))
	}
	fe.crashAndReopen(t)
	fe.verify(t, "after a crash with everything synced")

	const crashes = 25
	fired := map[string]int{}
	for i := range crashes {
		ci := rng.IntN(len(classes))
		f := &fault{ops: classes[ci], at: 1 + rng.Int64N(int64(span[ci])), crash: true}
		c0 := count()
		mode := "before"
		switch r := rng.IntN(10); {
		case r < 3:
			f.torn, f.tornN, mode = true, 1+rng.IntN(6<<10), "torn"
		case r < 6:
			f.after, mode = true, "after"
		}
		fe.ffs.setFault(f)
		jobs := crashWorkload(rng, bs, &pool)
		done := 0
		for _, j := range jobs {
			if _, err := fe.put(j.team, j.data, j.part); err != nil {
				if !fe.ffs.isDead() {
					t.Fatalf("crash %d: a put failed before the crash point: %v", i, err)
				}
				break
			}
			done++
		}
		what := "no crash point reached"
		if fe.ffs.firedCount() == 0 {
			for k, c := range count() {
				span[k] = (span[k] + float64(max(c-c0[k], 1))) / 2
			}
		} else {
			if mode == "torn" && fe.ffs.firedOp != opWrite {
				mode = "before" // only writes tear
			}
			what = fmt.Sprintf("%s %s (#%d of %s)", mode, fe.ffs.firedOp, f.at, classes[ci])
			fired[mode+" "+fe.ffs.firedOp.String()]++
		}
		fe.crashAndReopen(t)
		t.Logf("crash %2d: %s, %d of %d files stored; %d files reverted, %d directory changes undone",
			i, what, done, len(jobs), fe.ffs.revertedFiles, fe.ffs.undoneEntries)
		fe.verify(t, fmt.Sprintf("crash %d (%s)", i, what))
		// The store accepts new writes after the crash.
		team := chunktest.Team([]string{"A", "B"}[i%2])
		data := chunktest.Data(rng.Uint64(), 1+rng.IntN(3*bs))
		fe.mustPut(t, team, data, bs)
	}
	fe.verify(t, "at the end")
	t.Logf("crash points reached: %v; %d blocks acknowledged", fired, len(fe.led.blocks))
	if len(fired) == 0 {
		t.Fatal("no crash point was ever reached: the generator is broken")
	}
}

// blockHashes are the addresses of data's blocks when ingested from
// offset 0 in one part.
func blockHashes(s *Store, team core.TeamKey, data []byte) []core.Hash {
	var out []core.Hash
	bs := int(s.BlockSize())
	for off := 0; off < len(data); off += bs {
		kh := keyedHash(team)
		kh.Write(data[off:min(off+bs, len(data))])
		var h core.Hash
		kh.Sum(h[:0])
		out = append(out, h)
	}
	return out
}

// indexDump is the whole block index as text.
func indexDump(t *testing.T, m core.Store) string {
	t.Helper()
	var sb strings.Builder
	err := m.View(context.Background(), func(tx core.Tx) error {
		return tx.Blocks(func(teamID string, h core.Hash, e *core.BlockEntry) bool {
			fmt.Fprintf(&sb, "%s %s %+v\n", teamID, h, *e)
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// TestENOSPC fills the disk in the middle of an ingest: the ingest fails
// with a clear "insufficient storage" error, nothing of it is referenced,
// and once space is freed the same ingest succeeds and reads back.
func TestENOSPC(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    fault
	}{
		{"write", fault{ops: opWrite, at: 23}},
		{"torn write", fault{ops: opWrite, at: 23, torn: true}},
		{"torn write at the first byte", fault{ops: opWrite, at: 31, torn: true, tornN: 1}},
		{"segment creation", fault{ops: opCreate, at: 1}},
		{"fsync", fault{ops: opSync, at: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 8+2 in one directory, 12 KiB records, 5 per segment: the
			// second file rolls every stream over in its fourth block.
			fe := newFaultEnv(t, func(c *Config) { c.SegmentSize = 64 << 10 })
			ctx := context.Background()
			team := chunktest.Team("A")
			first := chunktest.Data(1, 2*testBlockSize)
			fe.mustPut(t, team, first, testBlockSize)
			index := indexDump(t, fe.ts.meta)

			data := chunktest.Data(2, 5*testBlockSize)
			f := tc.f
			f.err, f.sticky = syscall.ENOSPC, true // a full disk stays full
			fe.ffs.setFault(&f)
			_, err := fe.ts.Ingest(ctx, team, 0, bytes.NewReader(data))
			if fe.ffs.firedCount() == 0 {
				t.Fatalf("the ENOSPC was never injected (ingest: %v)", err)
			}
			if err == nil {
				t.Fatal("an ingest that hit ENOSPC succeeded")
			}
			if !core.Is(err, core.NoSpace) {
				t.Fatalf("ENOSPC gave %v (kind %v), want kind NoSpace", err, core.KindOf(err))
			}
			if !strings.Contains(err.Error(), "insufficient storage") {
				t.Fatalf("ENOSPC gave %q: the message does not say storage is insufficient", err)
			}
			t.Logf("error: %v", err)
			for i, h := range blockHashes(fe.ts.Store, team, data) {
				if ok, err := fe.ts.Has(ctx, team, h); ok || err != nil {
					t.Fatalf("block %d of the failed ingest is referenced (has %v, %v)", i, ok, err)
				}
			}
			if got := indexDump(t, fe.ts.meta); got != index {
				t.Fatalf("the failed ingest changed the block index:\nbefore\n%s\nafter\n%s", index, got)
			}

			fe.ffs.setFault(nil) // space freed
			blocks := fe.mustPut(t, team, data, len(data))
			for i, b := range blocks {
				if ok, _ := fe.ts.Has(ctx, team, b.Hash); !ok {
					t.Fatalf("block %d of the retried ingest is not indexed", i)
				}
			}
			fe.verify(t, "after space was freed")
			fe.crashAndReopen(t)
			fe.verify(t, "after a crash")
			fe.mustPut(t, team, chunktest.Data(3, 3*testBlockSize+5), testBlockSize)
		})
	}
}

// gateReader yields its bytes, then blocks until gate is closed before
// reporting EOF: the ingest has written its blocks but not yet synced.
type gateReader struct {
	r    *bytes.Reader
	gate chan struct{}
}

func (g *gateReader) Read(p []byte) (int, error) {
	if g.r.Len() > 0 {
		return g.r.Read(p)
	}
	<-g.gate
	return 0, io.EOF
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestEIOOnSync: an fsync that fails makes the ingest fail (nothing
// acknowledged), and the store keeps working; what it acknowledges
// afterwards survives a crash.
func TestEIOOnSync(t *testing.T) {
	ctx := context.Background()
	team := chunktest.Team("A")
	for _, tc := range []struct {
		name string
		f    fault
	}{
		{"fsync", fault{ops: opSync, at: 1}},
		{"fsync of a later stream", fault{ops: opSync, at: 6}},
		{"directory fsync of a new segment", fault{ops: opSync, at: 1}}, // the store rolls over first
		{"write", fault{ops: opWrite, at: 17}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFaultEnv(t, func(c *Config) { c.SegmentSize = 64 << 10 })
			fe.mustPut(t, team, chunktest.Data(1, 2*testBlockSize), testBlockSize)
			if strings.Contains(tc.name, "new segment") {
				// Fill every stream's segment to the brim: the next
				// block's append syncs the full segment before rolling.
				fe.mustPut(t, team, chunktest.Data(4, 3*testBlockSize), testBlockSize)
			}
			index := indexDump(t, fe.ts.meta)
			data := chunktest.Data(2, 3*testBlockSize)
			f := tc.f
			f.err = syscall.EIO
			fe.ffs.setFault(&f)
			_, err := fe.put(team, data, len(data))
			if fe.ffs.firedCount() == 0 {
				t.Fatalf("the EIO was never injected (put: %v)", err)
			}
			if err == nil {
				t.Fatal("an ingest whose fsync failed was acknowledged")
			}
			t.Logf("error: %v", err)
			if got := indexDump(t, fe.ts.meta); got != index {
				t.Fatal("the failed ingest changed the block index")
			}
			fe.ffs.setFault(nil)
			fe.mustPut(t, team, chunktest.Data(3, 4*testBlockSize+99), testBlockSize)
			fe.mustPut(t, team, data, len(data))
			fe.verify(t, "after the failed fsync")
			fe.crashAndReopen(t)
			fe.verify(t, "after a crash")
			fe.mustPut(t, team, chunktest.Data(5, testBlockSize), testBlockSize)
		})
	}

	// Two ingests write to the same streams, then the first one's fsync
	// fails. The failed writeback may have dropped the second one's
	// records too (Linux marks the pages clean and reports the error once),
	// so the second one must not be acknowledged on the strength of a
	// later fsync that "succeeds".
	t.Run("another ingest's records under the failed fsync", func(t *testing.T) {
		fe := newFaultEnv(t)
		fe.mustPut(t, team, chunktest.Data(1, testBlockSize), testBlockSize)
		shards := fe.ts.cfg.DataShards + fe.ts.cfg.ParityShards
		w0 := fe.ffs.ops(opWrite)
		type result struct {
			in  *core.Ingested
			err error
		}
		ingest := func(data []byte, gate chan struct{}) chan result {
			ch := make(chan result, 1)
			go func() {
				in, err := fe.ts.Ingest(ctx, team, 0, &gateReader{bytes.NewReader(data), gate})
				ch <- result{in, err}
			}()
			return ch
		}
		dataA, dataB := chunktest.Data(2, testBlockSize), chunktest.Data(3, testBlockSize)
		gateA, gateB := make(chan struct{}), make(chan struct{})
		chA := ingest(dataA, gateA)
		waitFor(t, "the first ingest's writes", func() bool { return fe.ffs.ops(opWrite) >= w0+int64(shards) })
		chB := ingest(dataB, gateB)
		waitFor(t, "the second ingest's writes", func() bool { return fe.ffs.ops(opWrite) >= w0+int64(2*shards) })
		fe.ffs.setFault(&fault{ops: opSync, at: 1, err: syscall.EIO})
		close(gateA)
		if a := <-chA; a.err == nil {
			t.Fatal("the ingest whose fsync failed succeeded")
		}
		fe.ffs.setFault(nil)
		close(gateB)
		b := <-chB
		if b.err == nil {
			fe.led.file = dataB
			if err := fe.am.Update(ctx, func(tx core.Tx) error { return fe.as.Commit(tx, team, b.in) }); err != nil {
				t.Fatal(err)
			}
			t.Log("the second ingest was acknowledged; checking it survives a crash")
		} else {
			t.Logf("the second ingest failed: %v", b.err)
		}
		fe.crashAndReopen(t)
		fe.verify(t, "after a crash")
		fe.mustPut(t, team, dataB, testBlockSize)
		fe.verify(t, "after storing the second file again")
	})
}

// TestDirectoryLoss: with as many data directories as shards (4+2 over 6),
// losing parity_shards whole directories loses no block.
func TestDirectoryLoss(t *testing.T) {
	ctx := context.Background()
	team := chunktest.Team("A")
	setup := func(t *testing.T) (*testStore, [][]byte, [][]core.Block, int) {
		ts := openTestStore(t, func(c *Config) {
			c.Dirs = nil
			for range 6 {
				c.Dirs = append(c.Dirs, t.TempDir())
			}
			c.DataShards, c.ParityShards = 4, 2
		})
		if got := DirLossSurvive(6, 4, 2); got != 2 {
			t.Fatalf("DirLossSurvive(6, 4+2) = %d, want 2", got)
		}
		var files [][]byte
		var blocks [][]core.Block
		unique := 0
		for i, c := range []struct{ size, part int }{
			{8 * testBlockSize, 3 * testBlockSize},
			{5*testBlockSize + 1000, 2 * testBlockSize},
			{testBlockSize + 4096, testBlockSize},
		} {
			data := chunktest.Data(uint64(100+i), c.size)
			b := chunktest.Put(t, ts.env(), team, data, c.part)
			files, blocks = append(files, data), append(blocks, b)
			unique += len(b)
		}
		return ts, files, blocks, unique
	}
	readAll := func(t *testing.T, s *Store, files [][]byte, blocks [][]core.Block, when string) {
		t.Helper()
		for i, data := range files {
			var buf bytes.Buffer
			if err := s.ReadRange(ctx, team, blocks[i], 0, int64(len(data)), &buf); err != nil {
				t.Fatalf("%s: file %d: %v", when, i, err)
			}
			if !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("%s: file %d reads back wrong", when, i)
			}
		}
	}
	// allShardsGood reports whether every shard of every block verifies,
	// and whether each block has at most one shard per directory.
	allShardsGood := func(t *testing.T, s *Store, blocks [][]core.Block) (good, spread bool) {
		t.Helper()
		good, spread = true, true
		for _, bl := range blocks {
			for _, b := range bl {
				e, err := s.entry(ctx, team, b.Hash)
				if err != nil {
					t.Fatal(err)
				}
				dirs := map[uint8]bool{}
				for i, l := range e.Shards {
					if _, err := s.readShard(&reader{}, team.TeamID, b.Hash, e, i); err != nil {
						good = false
					}
					if dirs[l.Dir] {
						spread = false
					}
					dirs[l.Dir] = true
				}
			}
		}
		return good, spread
	}
	removeDirs := func(t *testing.T, s *Store, idx ...int) {
		t.Helper()
		for _, i := range idx {
			if err := os.RemoveAll(s.dirs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("while running", func(t *testing.T) {
		ts, files, blocks, unique := setup(t)
		removeDirs(t, ts.Store, 1, 3) // two directories holding data shards
		readAll(t, ts.Store, files, blocks, "two directories gone")
		if got, want := ts.repairs.Load(), int64(2*unique); got != want {
			t.Fatalf("%d shards repaired, want %d (2 per block)", got, want)
		}
		if good, _ := allShardsGood(t, ts.Store, blocks); !good {
			t.Fatal("a shard still fails its checks after every block was read")
		}
		readAll(t, ts.Store, files, blocks, "read again")
		if got := ts.repairs.Load(); got != int64(2*unique) {
			t.Fatalf("reading repaired blocks again repaired %d more shards", got-int64(2*unique))
		}
	})

	t.Run("after a restart", func(t *testing.T) {
		ts, files, blocks, unique := setup(t)
		ts.Close()
		removeDirs(t, ts.Store, 0, 2)
		_, err := Open(ts.cfg, ts.meta)
		if !core.Is(err, core.Unavailable) || !strings.Contains(err.Error(), "fsck --repair") {
			t.Fatalf("opening with two directories emptied: %v, want Unavailable pointing at fsck --repair", err)
		}
		t.Logf("Open without AllowReplaced: %v", err)
		cfg := ts.cfg
		cfg.AllowReplaced = true
		s, err := Open(cfg, ts.meta)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		readAll(t, s, files, blocks, "two directories replaced empty")
		if got, want := s.repairs.Load(), int64(2*unique); got != want {
			t.Fatalf("%d shards repaired, want %d (2 per block)", got, want)
		}
		good, spread := allShardsGood(t, s, blocks)
		if !good || !spread {
			t.Fatalf("after reading everything: all shards good %v, one shard per directory %v", good, spread)
		}
		// Full redundancy is back: two other directories may go.
		removeDirs(t, s, 1, 5)
		readAll(t, s, files, blocks, "two more directories gone")
	})
}

// TestENOSPCWhileCreating: a disk full while the store writes its marker
// files fails Open with the storage error, and once space is freed the
// store opens (a half-written marker left behind is not a stranger's
// file).
func TestENOSPCWhileCreating(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       fault
		partial bool
	}{
		{"marker write", fault{ops: opWrite, at: 1}, false},
		{"torn marker write", fault{ops: opWrite, at: 1, torn: true}, false},
		{"marker fsync", fault{ops: opSync, at: 1}, false},
		{"marker rename", fault{ops: opCreate, at: 2}, false},
		{"second directory's marker", fault{ops: opWrite, at: 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ffs := newFaultFS(t)
			f := tc.f
			f.err, f.sticky = syscall.ENOSPC, true
			ffs.setFault(&f)
			cfg := Config{Dirs: []string{t.TempDir(), t.TempDir()}, BlockSize: testBlockSize, DataShards: 4, ParityShards: 2, FS: ffs}
			db := openTestStore(t).meta // a fresh, empty index
			_, err := Open(cfg, db)
			if ffs.firedCount() == 0 {
				t.Fatalf("the ENOSPC was never injected (open: %v)", err)
			}
			if !core.Is(err, core.NoSpace) {
				t.Fatalf("open on a full disk: %v, want NoSpace", err)
			}
			ffs.setFault(nil)
			s, err := Open(cfg, db)
			if tc.partial {
				// The first directory got its marker, the second did not:
				// an empty directory beside a marked one looks exactly like
				// an unmounted disk, so Open refuses it and says how to
				// accept it.
				if !core.Is(err, core.Unavailable) || !strings.Contains(err.Error(), "fsck --repair") {
					t.Fatalf("open with one of two markers written: %v, want Unavailable pointing at fsck --repair", err)
				}
				cfg.AllowReplaced = true
				s, err = Open(cfg, db)
			}
			if err != nil {
				t.Fatalf("open once space is freed: %v", err)
			}
			defer s.Close()
			team := chunktest.Team("A")
			data := chunktest.Data(1, 3*testBlockSize)
			blocks := chunktest.Put(t, chunktest.Env{Store: s, Meta: db, BlockSize: s.BlockSize()}, team, data, testBlockSize)
			if got := chunktest.Get(t, chunktest.Env{Store: s, Meta: db}, team, blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
				t.Fatal("read back differs")
			}
		})
	}
}
