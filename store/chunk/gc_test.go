package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"haul/core"
	"haul/store/chunk/chunktest"
)

// gcSegSize gives many small segments: 21 records of a 64 KiB block's
// 8 KiB shards each.
const gcSegSize = 256 << 10

func openGCStore(t testing.TB, mut ...func(*Config)) *testStore {
	t.Helper()
	return openTestStore(t, append([]func(*Config){func(c *Config) {
		c.SegmentSize = gcSegSize
		c.GCIdle = -1
		c.GCGrace = 20 * time.Millisecond
	}}, mut...)...)
}

// gcFile is a file under test: its bytes, how it is cut into parts, and
// the blocks its commits recorded.
type gcFile struct {
	data   []byte
	part   int
	blocks []core.Block
}

func newGCFile(seed uint64, blocks, partBlocks int) *gcFile {
	return &gcFile{data: chunktest.Data(seed, blocks*testBlockSize), part: partBlocks * testBlockSize}
}

// gcPutRoundRobin ingests and commits the files part by part, one part of
// each file in turn, so that every segment mixes records of all of them.
func gcPutRoundRobin(t testing.TB, ts *testStore, team core.TeamKey, files ...*gcFile) {
	t.Helper()
	ctx := context.Background()
	for round := 0; ; round++ {
		more := false
		for _, f := range files {
			start := round * f.part
			if start >= len(f.data) {
				continue
			}
			more = true
			end := min(start+f.part, len(f.data))
			in, err := ts.Ingest(ctx, team, int64(start), bytes.NewReader(f.data[start:end]))
			if err != nil {
				t.Fatal(err)
			}
			if err := ts.meta.Update(ctx, func(tx core.Tx) error { return ts.Commit(tx, team, in) }); err != nil {
				t.Fatal(err)
			}
			f.blocks = append(f.blocks, in.Blocks...)
		}
		if !more {
			return
		}
	}
}

func gcPhysical(t testing.TB, ts *testStore) int64 {
	t.Helper()
	st, err := ts.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.PhysicalBytes
}

func gcRelease(t testing.TB, ts *testStore, team core.TeamKey, files ...*gcFile) {
	t.Helper()
	for _, f := range files {
		if err := ts.meta.Update(context.Background(), func(tx core.Tx) error { return ts.Release(tx, team, f.blocks) }); err != nil {
			t.Fatal(err)
		}
	}
}

func gcCompact(t testing.TB, ts *testStore, threshold float64) GCReport {
	t.Helper()
	rep, err := ts.Compact(context.Background(), threshold)
	if err != nil {
		t.Fatalf("compact: %v (report %+v)", err, rep)
	}
	return rep
}

func gcCheckFiles(t testing.TB, ts *testStore, team core.TeamKey, files ...*gcFile) {
	t.Helper()
	for i, f := range files {
		if got := chunktest.Get(t, ts.env(), team, f.blocks, 0, int64(len(f.data))); !bytes.Equal(got, f.data) {
			t.Fatalf("file %d reads back wrong", i)
		}
	}
}

// gcCheckIndex checks that every shard of every indexed block is where
// the index says and verifies: compaction left nothing dangling.
func gcCheckIndex(t testing.TB, ts *testStore) int {
	t.Helper()
	type ent struct {
		team string
		h    core.Hash
		e    *core.BlockEntry
	}
	var all []ent
	if err := ts.meta.View(context.Background(), func(tx core.Tx) error {
		return tx.Blocks(func(team string, h core.Hash, e *core.BlockEntry) bool {
			all = append(all, ent{team, h, e})
			return true
		})
	}); err != nil {
		t.Fatal(err)
	}
	r := &reader{}
	for _, x := range all {
		for i := range x.e.Shards {
			if _, err := ts.readShard(r, x.team, x.h, x.e, i); err != nil {
				t.Fatalf("block %s shard %d at %+v: %v", x.h.Short(), i, x.e.Shards[i], err)
			}
		}
	}
	return len(all)
}

func TestGCDeleteEverythingFreesEverything(t *testing.T) {
	ts := openGCStore(t)
	team := chunktest.Team("A")
	var files []*gcFile
	for i := range 6 {
		files = append(files, newGCFile(uint64(100+i), 24, 4))
	}
	gcPutRoundRobin(t, ts, team, files...)
	st, _ := ts.Stats(context.Background())
	peak := st.PhysicalBytes
	t.Logf("peak: %d bytes in %d segments, %d blocks", peak, st.Segments, st.Blocks)
	if st.Segments < 40 {
		t.Fatalf("only %d segments: the test wants many", st.Segments)
	}
	gcRelease(t, ts, team, files...)

	// Current segments that were written just now are left alone.
	ts.Store.cfg.GCIdle = time.Hour
	rep := gcCompact(t, ts, 0.5)
	mid := gcPhysical(t, ts)
	t.Logf("with idle streams kept: %+v, physical %d", rep, mid)
	if rep.SegmentsDeleted == 0 || rep.RecordsMoved != 0 || mid == 0 || mid > peak/2 {
		t.Fatalf("first pass: %+v, physical %d of peak %d", rep, mid, peak)
	}

	ts.Store.cfg.GCIdle = -1
	rep = gcCompact(t, ts, 0.5)
	st, _ = ts.Stats(context.Background())
	t.Logf("after deleting everything: %+v, physical %d bytes (%.2f%% of peak) in %d segments", rep, st.PhysicalBytes,
		100*float64(st.PhysicalBytes)/float64(peak), st.Segments)
	if st.PhysicalBytes*20 > peak {
		t.Fatalf("physical %d bytes after GC, over 5%% of the peak %d", st.PhysicalBytes, peak)
	}
	if st.Blocks != 0 {
		t.Fatalf("%d blocks still indexed", st.Blocks)
	}
	for _, f := range ts.segFiles(t) {
		if fi, _ := os.Stat(f); fi.Size() != 0 {
			t.Fatalf("segment %s keeps %d bytes", f, fi.Size())
		}
	}
	if rep := gcCompact(t, ts, 0.5); rep.SegmentsDeleted+rep.SegmentsCompacted != 0 {
		t.Fatalf("a pass over an empty store did something: %+v", rep)
	}
	if fr, err := ts.Fsck(context.Background(), false); err != nil || !fr.OK() || fr.Orphans != 0 {
		t.Fatalf("fsck after deleting everything: %+v, %v; want OK with no orphans", fr, err)
	}

	// The store keeps working, and segment numbers go on where they were.
	f := newGCFile(200, 10, 3)
	gcPutRoundRobin(t, ts, team, f)
	ts.reopen(t)
	gcCheckFiles(t, ts, team, f)
	gcCheckIndex(t, ts)
}

func TestGCPartialReleaseCompacts(t *testing.T) {
	ts := openGCStore(t)
	team := chunktest.Team("A")
	var keep, drop []*gcFile
	for i := range 3 {
		keep = append(keep, newGCFile(uint64(300+i), 20, 1))
		drop = append(drop, newGCFile(uint64(400+i), 40, 2))
	}
	gcPutRoundRobin(t, ts, team, append(append([]*gcFile{}, keep...), drop...)...)
	before := gcPhysical(t, ts)
	gcRelease(t, ts, team, drop...)
	rep := gcCompact(t, ts, 0.5)
	after := gcPhysical(t, ts)
	t.Logf("%+v; physical %d -> %d bytes (%.0f%%)", rep, before, after, 100*float64(after)/float64(before))
	if rep.SegmentsCompacted == 0 || rep.RecordsMoved == 0 || after >= before/2 {
		t.Fatalf("a third of the data live and nothing much reclaimed: %+v, %d -> %d bytes", rep, before, after)
	}
	if rep.BytesFreed != before-after {
		t.Fatalf("report says %d bytes freed, physical shrank by %d", rep.BytesFreed, before-after)
	}
	gcCheckFiles(t, ts, team, keep...)
	if n := gcCheckIndex(t, ts); n != 3*20 {
		t.Fatalf("%d blocks indexed, want 60", n)
	}
	// What is left is dense: another pass has nothing to do.
	if rep := gcCompact(t, ts, 0.5); rep.SegmentsCompacted+rep.SegmentsDeleted != 0 {
		t.Fatalf("second pass: %+v", rep)
	}
	ts.reopen(t)
	gcCheckFiles(t, ts, team, keep...)
	// Releasing the rest frees everything.
	gcRelease(t, ts, team, keep...)
	gcCompact(t, ts, 0.5)
	if p := gcPhysical(t, ts); p*20 > before {
		t.Fatalf("physical %d after releasing everything, peak %d", p, before)
	}
}

func TestGCDedupSurvives(t *testing.T) {
	ts := openGCStore(t)
	team := chunktest.Team("A")
	x := newGCFile(500, 40, 2)
	d1 := newGCFile(501, 20, 1)
	d2 := &gcFile{data: d1.data, part: 3 * testBlockSize}
	gcPutRoundRobin(t, ts, team, x, d1)
	peak := gcPhysical(t, ts)
	gcPutRoundRobin(t, ts, team, d2)
	if p := gcPhysical(t, ts); p != peak {
		t.Fatalf("the same data again grew physical bytes %d -> %d", peak, p)
	}
	for i := range d1.blocks {
		if d1.blocks[i].Hash != d2.blocks[i].Hash {
			t.Fatal("the copies have different blocks")
		}
	}
	gcRelease(t, ts, team, x, d1)
	rep := gcCompact(t, ts, 0.5)
	t.Logf("%+v; physical %d -> %d", rep, peak, gcPhysical(t, ts))
	if rep.RecordsMoved == 0 || gcPhysical(t, ts) >= peak/2 {
		t.Fatalf("nothing moved: %+v", rep)
	}
	gcCheckFiles(t, ts, team, d2)
	st, _ := ts.Stats(context.Background())
	if st.Blocks != 20 || st.LogicalBytes != int64(len(d2.data)) {
		t.Fatalf("%d blocks, %d logical bytes after releasing one copy", st.Blocks, st.LogicalBytes)
	}
	// The surviving copy dedups a new one against the moved records.
	d3 := &gcFile{data: d1.data, part: testBlockSize}
	gcPutRoundRobin(t, ts, team, d3)
	gcRelease(t, ts, team, d2)
	gcCompact(t, ts, 0.5)
	gcCheckFiles(t, ts, team, d3)
	gcCheckIndex(t, ts)
}

func TestGCReleaseBatchedResumes(t *testing.T) {
	ts := openGCStore(t)
	team := chunktest.Team("A")
	ctx := context.Background()
	a := newGCFile(600, 50, 5)
	gcPutRoundRobin(t, ts, team, a)
	b := &gcFile{data: a.data[:10*testBlockSize], part: 10 * testBlockSize} // shares a's first 10 blocks
	gcPutRoundRobin(t, ts, team, b)

	errCrash := errors.New("injected failure")
	recorded := 0 // the caller's progress record, written in the batches' transactions
	calls := 0
	err := ts.ReleaseBatched(ctx, team, a.blocks, 8, func(tx core.Tx, done int) error {
		calls++
		if done > 30 {
			return errCrash
		}
		recorded = done
		return nil
	})
	if !errors.Is(err, errCrash) {
		t.Fatalf("err = %v, want the injected failure", err)
	}
	if recorded != 24 || calls != 4 {
		t.Fatalf("progress %d after %d batches, want 24 after 4", recorded, calls)
	}
	// has reports whether a block is still referenced (a released block
	// stays indexed at zero references until compaction).
	has := func(blk core.Block) bool {
		var refs int64
		err := ts.meta.View(ctx, func(tx core.Tx) error {
			e, err := tx.Block(team.TeamID, blk.Hash)
			if core.Is(err, core.NotFound) {
				return nil
			}
			if err == nil {
				refs = e.Refs
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return refs > 0
	}
	for i, blk := range a.blocks {
		want := i < 10 || i >= 24 // shared with b, or not released yet
		if has(blk) != want {
			t.Fatalf("block %d present = %v after the failed batch, want %v", i, !want, want)
		}
	}
	base := recorded
	err = ts.ReleaseBatched(ctx, team, a.blocks[base:], 8, func(tx core.Tx, done int) error {
		recorded = base + done
		return nil
	})
	if err != nil || recorded != len(a.blocks) {
		t.Fatalf("resumed: %v, progress %d of %d", err, recorded, len(a.blocks))
	}
	for i, blk := range a.blocks {
		if has(blk) != (i < 10) {
			t.Fatalf("block %d: present = %v after the resumed release", i, !(i < 10))
		}
	}
	gcCompact(t, ts, 0.5)
	gcCheckFiles(t, ts, team, b)
	// An empty list still runs commit once, so the caller can finish.
	n := -1
	if err := ts.ReleaseBatched(ctx, team, nil, 0, func(tx core.Tx, done int) error { n = done; return nil }); err != nil || n != 0 {
		t.Fatalf("empty list: %v, commit saw %d", err, n)
	}
	if err := ts.ReleaseBatched(ctx, team, b.blocks, 0, nil); err != nil {
		t.Fatal(err)
	}
	gcCompact(t, ts, 0.5)
	if st, _ := ts.Stats(ctx); st.Blocks != 0 || st.PhysicalBytes != 0 {
		t.Fatalf("%d blocks, %d bytes left", st.Blocks, st.PhysicalBytes)
	}
}

func TestGCUncommittedIngestIsRefused(t *testing.T) {
	ts := openGCStore(t)
	team := chunktest.Team("A")
	ctx := context.Background()
	data := chunktest.Data(700, 5*testBlockSize)
	in, err := ts.Ingest(ctx, team, 0, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	rep := gcCompact(t, ts, 0.5)
	if rep.SegmentsDeleted == 0 || gcPhysical(t, ts) != 0 {
		t.Fatalf("an uncommitted ingest's records were not reclaimed: %+v", rep)
	}
	err = ts.meta.Update(ctx, func(tx core.Tx) error { return ts.Commit(tx, team, in) })
	if !core.Is(err, core.Conflict) {
		t.Fatalf("committing records compaction reclaimed: %v, want Conflict", err)
	}
	blocks := chunktest.Put(t, ts.env(), team, data, len(data))
	if got := chunktest.Get(t, ts.env(), team, blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("the part sent again reads back wrong")
	}
	// Committed before the pass, an ingest's records are live.
	rep = gcCompact(t, ts, 0.5)
	if rep.SegmentsDeleted+rep.SegmentsCompacted != 0 {
		t.Fatalf("live records were reclaimed: %+v", rep)
	}
	gcCheckIndex(t, ts)
}

// TestGCCrashBetweenSteps stops a pass after the copies are synced and
// after the index moved to them, reopens the store as after a crash, and
// checks that every file reads and the next pass finishes the job.
func TestGCCrashBetweenSteps(t *testing.T) {
	for _, stage := range []string{"copied", "indexed", "deleted"} {
		t.Run(stage, func(t *testing.T) {
			ts := openGCStore(t)
			team := chunktest.Team("A")
			keep := []*gcFile{newGCFile(800, 16, 1), newGCFile(801, 16, 1)}
			drop := []*gcFile{newGCFile(802, 32, 2), newGCFile(803, 32, 2)}
			gcPutRoundRobin(t, ts, team, append(append([]*gcFile{}, keep...), drop...)...)
			before := gcPhysical(t, ts)
			gcRelease(t, ts, team, drop...)
			errCrash := errors.New("simulated crash")
			n, at := 0, 2 // the second batch's copy or index step
			if stage == "deleted" {
				at = 1 // the first (here the only) group's deletions
			}
			ts.Store.gc.hook = func(s string) error {
				if s == stage {
					if n++; n == at {
						return errCrash
					}
				}
				return nil
			}
			if _, err := ts.Compact(context.Background(), 0.5); !errors.Is(err, errCrash) {
				t.Fatalf("compact: %v, want the simulated crash", err)
			}
			ts.reopen(t)
			gcCheckFiles(t, ts, team, keep...)
			gcCheckIndex(t, ts)
			rep := gcCompact(t, ts, 0.5)
			after := gcPhysical(t, ts)
			t.Logf("after the crash at %q: %+v, physical %d -> %d", stage, rep, before, after)
			if after >= before/2 {
				t.Fatalf("physical %d -> %d", before, after)
			}
			gcCheckFiles(t, ts, team, keep...)
			gcCheckIndex(t, ts)
		})
	}
}

// TestGCRacesReadsAndWrites compacts while goroutines read live files
// (whole and random ranges) and others store and commit new files.
func TestGCRacesReadsAndWrites(t *testing.T) {
	ts := openGCStore(t, func(c *Config) { c.GCGrace = 100 * time.Millisecond })
	team := chunktest.Team("A")
	ctx := context.Background()
	var keep, drop []*gcFile
	for i := range 4 {
		keep = append(keep, newGCFile(uint64(900+i), 16, 1))
		drop = append(drop, newGCFile(uint64(950+i), 24, 2))
	}
	gcPutRoundRobin(t, ts, team, append(append([]*gcFile{}, keep...), drop...)...)
	before := gcPhysical(t, ts)

	var stop atomic.Bool
	var reads, writes, conflicts atomic.Int64
	errs := make(chan error, 100)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for !stop.Load() {
				f := keep[r.IntN(len(keep))]
				off := r.IntN(len(f.data))
				n := len(f.data) - off
				if r.IntN(3) > 0 {
					off, n = 0, len(f.data)
				} else {
					n = r.IntN(n + 1)
				}
				var buf bytes.Buffer
				if err := ts.ReadRange(ctx, team, f.blocks, int64(off), int64(n), &buf); err != nil {
					errs <- fmt.Errorf("read %d+%d: %w", off, n, err)
					return
				}
				if !bytes.Equal(buf.Bytes(), f.data[off:off+n]) {
					errs <- fmt.Errorf("read %d+%d differs", off, n)
					return
				}
				reads.Add(1)
			}
		}()
	}
	var written []*gcFile
	var wmu sync.Mutex
	wg.Add(1)
	go func() { // writer: new files, sent again on Conflict
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			f := newGCFile(uint64(2000+i), 3, 1)
			for {
				blocks, err := chunktest.PutErr(ts.env(), team, f.data, f.part)
				if core.Is(err, core.Conflict) {
					conflicts.Add(1)
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				f.blocks = blocks
				break
			}
			wmu.Lock()
			written = append(written, f)
			wmu.Unlock()
			writes.Add(1)
		}
	}()
	var reps []GCReport
	for i, f := range drop {
		gcRelease(t, ts, team, f)
		t0 := time.Now()
		rep, err := ts.Compact(ctx, 0.5)
		t.Logf("pass %d took %v", i, time.Since(t0))
		if err != nil {
			t.Error(err)
		}
		reps = append(reps, rep)
		if i == len(drop)-1 {
			break
		}
	}
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	after := gcPhysical(t, ts)
	t.Logf("passes %+v; %d reads, %d files written (%d conflicts) meanwhile; physical %d -> %d", reps, reads.Load(), writes.Load(), conflicts.Load(), before, after)
	var moved int64
	for _, r := range reps {
		moved += r.RecordsMoved
	}
	if moved == 0 || reads.Load() == 0 {
		t.Fatalf("the race did not happen: %d records moved, %d reads", moved, reads.Load())
	}
	gcCheckFiles(t, ts, team, keep...)
	gcCheckFiles(t, ts, team, written...)
	gcCheckIndex(t, ts)
}

// TestCompactFreesUnreferencedAfterRebuild: an index rebuilt without file
// records leaves blocks at zero references; compaction frees them.
func TestCompactFreesUnreferencedAfterRebuild(t *testing.T) {
	ts := openTestStore(t, func(c *Config) { c.GCIdle, c.GCGrace = -1, -1 })
	team := chunktest.Team("A")
	chunktest.Put(t, ts.env(), team, chunktest.Data(77, 5*testBlockSize), 2*testBlockSize)
	ctx := context.Background()
	// Zero every reference, as a rebuild without file records leaves them.
	var keys []core.Hash
	ts.meta.View(ctx, func(tx core.Tx) error {
		return tx.Blocks(func(_ string, h core.Hash, _ *core.BlockEntry) bool { keys = append(keys, h); return true })
	})
	if err := ts.meta.Update(ctx, func(tx core.Tx) error {
		for _, h := range keys {
			e, err := tx.Block(team.TeamID, h)
			if err != nil {
				return err
			}
			e.Refs = 0
			if err := tx.PutBlock(team.TeamID, h, e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := ts.Compact(ctx, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlocksFreed != int64(len(keys)) {
		t.Fatalf("freed %d blocks, want %d", rep.BlocksFreed, len(keys))
	}
	st, _ := ts.Stats(ctx)
	if st.Blocks != 0 || st.PhysicalBytes != 0 {
		t.Fatalf("after compaction: %d blocks, %d physical bytes", st.Blocks, st.PhysicalBytes)
	}
}

// TestRebuildWithoutRefsFreesNothing: an index rebuilt without the file
// records' references must not let compaction free the blocks.
func TestRebuildWithoutRefsFreesNothing(t *testing.T) {
	ts := openTestStore(t, func(c *Config) { c.GCIdle, c.GCGrace = -1, -1 })
	team := chunktest.Team("A")
	data := chunktest.Data(78, 3*testBlockSize)
	blocks := chunktest.Put(t, ts.env(), team, data, len(data))
	ts.Close()
	if err := ts.meta.DropBlockIndex(); err != nil {
		t.Fatal(err)
	}
	if _, err := RebuildIndex(context.Background(), ts.cfg, RebuildMeta{Store: ts.meta}); err != nil {
		t.Fatal(err)
	}
	ts.reopen(t)
	rep, err := ts.Compact(context.Background(), 0.5)
	if err != nil || rep.BlocksFreed != 0 || rep.SegmentsDeleted != 0 {
		t.Fatalf("compaction after a rebuild without references: %+v, %v", rep, err)
	}
	if got := chunktest.Get(t, ts.env(), team, blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("data lost after compaction")
	}
	// A rebuild that has the references clears the mark.
	ts.Close()
	ts.meta.DropBlockIndex()
	refs := func(yield func(string, core.Hash)) error {
		for _, b := range blocks {
			yield(team.TeamID, b.Hash)
		}
		return nil
	}
	if _, err := RebuildIndex(context.Background(), ts.cfg, RebuildMeta{Store: ts.meta, Refs: refs}); err != nil {
		t.Fatal(err)
	}
	ts.reopen(t)
	if ts.refsUnknown() {
		t.Fatal("the mark stayed after a rebuild with references")
	}
}

// TestGCSparesSlowIngest: a pass that runs while an upload is still
// sending must not reclaim the blocks it has written so far.
func TestGCSparesSlowIngest(t *testing.T) {
	ts := openTestStore(t, func(c *Config) { c.GCIdle, c.GCGrace = -1, -1; c.SegmentSize = 64 << 10 })
	team := chunktest.Team("A")
	data := chunktest.Data(79, 6*testBlockSize)
	pr, pw := io.Pipe()
	type result struct {
		in  *core.Ingested
		err error
	}
	done := make(chan result, 1)
	go func() {
		in, err := ts.Ingest(context.Background(), team, 0, pr)
		done <- result{in, err}
	}()
	// Send half, let a compaction pass run while the sender stalls, then
	// send the rest.
	if _, err := pw.Write(data[:3*testBlockSize+100]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := ts.Compact(context.Background(), 0.5); err != nil {
		t.Fatal(err)
	}
	pw.Write(data[3*testBlockSize+100:])
	pw.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := ts.meta.Update(context.Background(), func(tx core.Tx) error { return ts.Commit(tx, team, r.in) }); err != nil {
		t.Fatalf("commit after a compaction pass during the upload: %v", err)
	}
	if got := chunktest.Get(t, ts.env(), team, r.in.Blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("read back differs")
	}
}
