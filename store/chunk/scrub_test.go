package chunk

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"haul/core"
	"haul/store/chunk/chunktest"
)

// indexed lists every block index entry.
func (ts *testStore) indexed(t testing.TB) []listedBlock {
	t.Helper()
	var out []listedBlock
	err := ts.meta.View(context.Background(), func(tx core.Tx) error {
		return tx.Blocks(func(team string, h core.Hash, e *core.BlockEntry) bool {
			out = append(out, listedBlock{team, h, e})
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// badShards counts the shards of indexed blocks that fail their checks.
func (ts *testStore) badShards(t testing.TB) int {
	t.Helper()
	n := 0
	for _, b := range ts.indexed(t) {
		for i := range b.e.Shards {
			if _, err := ts.readShard(&reader{}, b.team, b.hash, b.e, i); err != nil {
				n++
			}
		}
	}
	return n
}

func TestScrubRepairsDamagedShards(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	data := chunktest.Data(21, 12*testBlockSize)
	blocks := chunktest.Put(t, ts.env(), team, data, 4*testBlockSize)
	other := chunktest.Data(22, 3*testBlockSize+100)
	otherBlocks := chunktest.Put(t, ts.env(), chunktest.Team("B"), other, len(other))

	all := ts.indexed(t)
	// Every stream has one segment: deleting stream 2's costs every block
	// shard 2; halving stream 5's costs shard 5 of the blocks written to
	// its second half; flips hit four blocks of the first half (so no
	// block has more than two bad shards, its parity).
	offs := make([]int64, len(all))
	for i, b := range all {
		offs[i] = b.e.Shards[5].Off
	}
	slices.Sort(offs)
	cut := offs[len(offs)/2]
	if err := os.Remove(ts.segPath(all[0].e.Shards[2], 2)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(ts.segPath(all[0].e.Shards[5], 5), cut+100); err != nil {
		t.Fatal(err)
	}
	want := len(all) + (len(all) - len(all)/2)
	var flipped int
	for _, b := range all {
		if b.e.Shards[5].Off >= cut || flipped == 4 {
			continue
		}
		switch flipped {
		case 0:
			flip(t, ts, b.e, 0, headerSize+7) // data
		case 1:
			flip(t, ts, b.e, 9, headerSize+99) // parity
		case 2:
			flip(t, ts, b.e, 4, 60) // header
		case 3:
			flip(t, ts, b.e, 7, headerSize) // last data shard
		}
		flipped++
	}
	want += flipped
	n := ts.badShards(t)
	if n != want || flipped != 4 {
		t.Fatalf("%d bad shards before the scrub, want %d", n, want)
	}

	rep, err := ts.Scrub(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(len(blocks) + len(otherBlocks))
	if rep.Blocks != total || rep.Shards != 10*total || rep.Bad != int64(n) || rep.Repaired != int64(n) || rep.Unrecoverable != 0 {
		t.Fatalf("scrub report %+v, want %d blocks, %d bad and repaired", rep, total, n)
	}
	if got := ts.repairs.Load(); got != int64(n) {
		t.Fatalf("repair counter %d, want %d damaged shards", got, n)
	}
	if st, err := ts.Stats(context.Background()); err != nil || st.Repairs != int64(n) || st.ScrubProgress != 1 {
		t.Fatalf("stats after a pass: repairs %d, progress %v, %v", st.Repairs, st.ScrubProgress, err)
	}
	if bad := ts.badShards(t); bad != 0 {
		t.Fatalf("%d shards still bad after the scrub", bad)
	}
	// A second pass finds nothing and repairs nothing.
	rep, err = ts.Scrub(context.Background(), 0)
	if err != nil || rep.Bad != 0 || rep.Repaired != 0 || rep.Blocks != total {
		t.Fatalf("second pass: %+v, %v", rep, err)
	}
	if ts.repairs.Load() != int64(n) {
		t.Fatal("the second pass repaired again")
	}
	if got := chunktest.Get(t, ts.env(), team, blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("data differs after the scrub")
	}
	if got := chunktest.Get(t, ts.env(), chunktest.Team("B"), otherBlocks, 0, int64(len(other))); !bytes.Equal(got, other) {
		t.Fatal("team B's data differs after the scrub")
	}
	if ts.repairs.Load() != int64(n) {
		t.Fatal("reads after the scrub had to repair")
	}
}

func TestScrubReportsUnrecoverable(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	blocks := chunktest.Put(t, ts.env(), team, chunktest.Data(23, 3*testBlockSize), 3*testBlockSize)
	e := ts.entryOf(t, team, blocks[1])
	for _, i := range []int{1, 3, 8} {
		flip(t, ts, e, i, headerSize+11)
	}
	flip(t, ts, ts.entryOf(t, team, blocks[2]), 6, headerSize+1)
	rep, err := ts.Scrub(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blocks != 3 || rep.Unrecoverable != 1 || len(rep.Damaged) != 1 || rep.Damaged[0] != blocks[1].Hash.Short() ||
		rep.Bad != 4 || rep.Repaired != 1 {
		t.Fatalf("report %+v: want block %s unrecoverable and one shard of another repaired", rep, blocks[1].Hash.Short())
	}
}

func TestScrubPacing(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	const nblocks = 10
	chunktest.Put(t, ts.env(), team, chunktest.Data(24, nblocks*testBlockSize), nblocks*testBlockSize)
	perBlock := int64(10 * shardLen(testBlockSize, 8))
	// The pass reads nblocks*perBlock bytes: at this rate it takes 250 ms.
	rate := nblocks * perBlock * 4

	var seen struct {
		sync.Mutex
		mid bool
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			st, _ := ts.Stats(context.Background())
			if p := st.ScrubProgress; p > 0 && p < 1 {
				seen.Lock()
				seen.mid = true
				seen.Unlock()
				return
			}
		}
	}()
	start := time.Now()
	rep, err := ts.Scrub(context.Background(), rate)
	took := time.Since(start)
	<-done
	if err != nil || rep.Blocks != nblocks || rep.Bytes != nblocks*perBlock {
		t.Fatalf("paced pass: %+v, %v", rep, err)
	}
	if took < 150*time.Millisecond {
		t.Fatalf("a pass of %d bytes at %d bytes/s took %v", rep.Bytes, rate, took)
	}
	if took > 5*time.Second {
		t.Fatalf("a paced pass that should take 250 ms took %v", took)
	}
	seen.Lock()
	defer seen.Unlock()
	if !seen.mid {
		t.Error("ScrubProgress never showed a pass in progress")
	}

	// Unpaced, the same pass is quick; cancelled, a slow one stops.
	start = time.Now()
	if _, err := ts.Scrub(context.Background(), 0); err != nil || time.Since(start) > 2*time.Second {
		t.Fatalf("unpaced pass: %v in %v", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := ts.Scrub(ctx, 1000); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("cancelled pass: %v after %v", err, time.Since(start))
	}
}

func TestRunScrubLoopsUntilCancelled(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	blocks := chunktest.Put(t, ts.env(), team, chunktest.Data(25, 2*testBlockSize), 2*testBlockSize)
	flip(t, ts, ts.entryOf(t, team, blocks[0]), 2, headerSize+3)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ts.RunScrub(ctx, 0, time.Hour)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for ts.repairs.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("RunScrub did not stop when its context ended")
	}
	if ts.repairs.Load() != 1 {
		t.Fatalf("repairs %d, want 1", ts.repairs.Load())
	}
}

// TestScrubWithTraffic runs passes while other goroutines ingest, read and
// release (for the race detector, and to see that a pass tolerates blocks
// coming and going).
func TestScrubWithTraffic(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	base := chunktest.Data(26, 6*testBlockSize)
	baseBlocks := chunktest.Put(t, ts.env(), team, base, len(base))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 20; i++ {
				d := chunktest.Data(uint64(1000+g*100+i), 2*testBlockSize+i)
				bl, err := chunktest.PutErr(ts.env(), team, d, len(d))
				if err != nil {
					errs <- err
					return
				}
				var buf bytes.Buffer
				if err := ts.ReadRange(ctx, team, bl, 0, int64(len(d)), &buf); err != nil || !bytes.Equal(buf.Bytes(), d) {
					errs <- errors.Join(errors.New("read back differs"), err)
					return
				}
				if err := ts.meta.Update(ctx, func(tx core.Tx) error { return ts.Release(tx, team, bl) }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 3 {
		rep, err := ts.Scrub(ctx, 0)
		if err != nil || rep.Bad != 0 || rep.Unrecoverable != 0 {
			t.Fatalf("pass under traffic: %+v, %v", rep, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := chunktest.Get(t, ts.env(), team, baseBlocks, 0, int64(len(base))); !bytes.Equal(got, base) {
		t.Fatal("data differs")
	}
}

// TestPassesInSmallBatches runs scrub, fsck and an index rebuild with
// batches smaller than the index, so every batch boundary is crossed.
func TestPassesInSmallBatches(t *testing.T) {
	defer func(n int) { scrubBatch = n }(scrubBatch)
	scrubBatch = 3
	ts := openTestStore(t)
	ctx := context.Background()
	team := chunktest.Team("A")
	files := []testFile{putFile(t, ts, team, 27, 10*testBlockSize+1, 10*testBlockSize+1), putFile(t, ts, chunktest.Team("B"), 28, 1, 1)}
	if _, err := ts.Ingest(ctx, team, 0, bytes.NewReader(chunktest.Data(29, 2*testBlockSize))); err != nil {
		t.Fatal(err)
	}
	all := ts.indexed(t)
	for i, b := range all {
		if i%2 == 0 {
			flip(t, ts, b.e, i%10, headerSize)
		}
	}
	rep, err := ts.Scrub(ctx, 0)
	if err != nil || rep.Blocks != int64(len(all)) || rep.Bad != int64((len(all)+1)/2) || rep.Repaired != rep.Bad {
		t.Fatalf("scrub in batches of 3 over %d blocks: %+v, %v", len(all), rep, err)
	}
	fr := ts.fsck(t, false)
	if !fr.OK() || fr.Blocks != int64(len(all)) || fr.Orphans != 2*10 || fr.Records != int64(len(all)+2)*10 {
		t.Fatalf("fsck: %+v", fr)
	}
	ts.Close()
	if err := ts.meta.DropBlockIndex(); err != nil {
		t.Fatal(err)
	}
	refs := func(yield func(string, core.Hash)) error {
		for _, f := range files {
			for _, bl := range f.blocks {
				yield(f.team.TeamID, bl.Hash)
			}
		}
		return nil
	}
	rr, err := RebuildIndex(ctx, ts.cfg, RebuildMeta{Store: ts.meta, Refs: refs})
	if err != nil || rr.Blocks != int64(len(all))+2 || rr.Unreferenced != 2 || rr.References != int64(len(all)) || rr.Degraded != 0 {
		t.Fatalf("rebuild: %+v, %v", rr, err)
	}
	if err := ts.reopenWith(t, func(*Config) {}); err != nil {
		t.Fatal(err)
	}
	ts.checkFiles(t, files)
	for _, b := range all {
		if e := ts.entryOf(t, core.TeamKey{TeamID: b.team}, core.Block{Hash: b.hash}); e.Refs != b.e.Refs {
			t.Fatalf("block %s: %d references after the rebuild, %d before", b.hash.Short(), e.Refs, b.e.Refs)
		}
	}
}
