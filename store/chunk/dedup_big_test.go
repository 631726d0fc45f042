package chunk

import (
	"context"
	"io"
	"testing"

	"haul/core"
	"haul/store/chunk/chunktest"
)

// TestDedupOneGiB: the same 1 GiB ingested twice by one team grows
// physical bytes by at most one block; by two teams, it is stored twice.
func TestDedupOneGiB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2.5 GiB")
	}
	ts := openTestStore(t, func(c *Config) { c.BlockSize = 4 << 20; c.SegmentSize = 1 << 30 })
	ctx := context.Background()
	const size = 1 << 30
	put := func(team core.TeamKey) {
		t.Helper()
		for off := int64(0); off < size; off += 256 << 20 {
			in, err := ts.Ingest(ctx, team, off, io.LimitReader(newGenAt(size, off), 256<<20))
			if err != nil {
				t.Fatal(err)
			}
			if err := ts.meta.Update(ctx, func(tx core.Tx) error { return ts.Commit(tx, team, in) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	phys := func() int64 {
		st, err := ts.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.PhysicalBytes
	}
	a, b := chunktest.Team("A"), chunktest.Team("B")
	put(a)
	first := phys()
	put(a)
	if grew := phys() - first; grew > 4<<20 {
		t.Fatalf("the same GiB again grew physical bytes by %d (more than one block)", grew)
	}
	put(b)
	if second := phys(); second < 2*first-(4<<20) {
		t.Fatalf("a second team's copy: physical %d, want about %d (stored twice)", second, 2*first)
	}
}
