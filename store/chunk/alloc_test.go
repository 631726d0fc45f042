package chunk

import (
	"bytes"
	"context"
	"testing"

	"haul/store/chunk/chunktest"
)

// allocsPerBlock measures the allocations one ingest makes per block, as
// the difference between ingesting 2n and n blocks (so per-ingest costs
// cancel out).
func allocsPerBlock(t *testing.T, ts *testStore, unique bool) float64 {
	team := chunktest.Team("A")
	ctx := context.Background()
	const n = 64
	data1 := chunktest.Data(1, n*testBlockSize)
	data2 := chunktest.Data(2, 2*n*testBlockSize)
	if !unique {
		chunktest.Put(t, ts.env(), team, data1, len(data1))
		chunktest.Put(t, ts.env(), team, data2, len(data2))
	}
	seed := uint64(100)
	measure := func(size int, fixed []byte) float64 {
		return testing.AllocsPerRun(5, func() {
			d := fixed
			if unique {
				seed++
				d = chunktest.Data(seed, size)
			}
			if _, err := ts.Ingest(ctx, team, 0, bytes.NewReader(d)); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Data generation allocates one buffer per run in both measurements.
	return (measure(2*n*testBlockSize, data2) - measure(n*testBlockSize, data1)) / n
}

func TestAllocationsPerBlock(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	ts := openTestStore(t)
	known := allocsPerBlock(t, ts, false)
	unique := allocsPerBlock(t, ts, true)
	t.Logf("allocations per block: known %.1f, unique %.1f", known, unique)
	// The data path (buffers, hashing, encoding, record writes) allocates
	// nothing per block. What remains is the block's result entry and
	// chaining values, its index entry when new, and the metadata store's
	// read transaction for the dedup lookup (about eight of Badger's own;
	// a known block also looks up its CVs at its offset, one more read).
	// The bounds catch a regression, such as a goroutine or a buffer per
	// block or per shard.
	if known > 20 {
		t.Errorf("%.1f allocations per known block", known)
	}
	if unique > 20 {
		t.Errorf("%.1f allocations per unique block", unique)
	}
}
