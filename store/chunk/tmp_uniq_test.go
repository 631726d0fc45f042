package chunk

import (
	"context"
	"testing"

	"haul/store/chunk/chunktest"
)

func BenchmarkTmpUnique(b *testing.B) {
	size := int64(1 << 30)
	b.SetBytes(size)
	for range b.N {
		b.StopTimer()
		ts := openTestStore(b, func(c *Config) { c.BlockSize = 4 << 20; c.SegmentSize = 1 << 30; c.Dirs = []string{b.TempDir()} })
		b.StartTimer()
		if _, err := ts.Ingest(context.Background(), chunktest.Team("x"), 0, newGen(size)); err != nil {
			b.Fatal(err)
		}
	}
}
