package chunk

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"haul/core"
	"haul/store/chunk/chunktest"
)

// spaceFS reports a chosen amount of free space; everything else is real.
type spaceFS struct {
	OSFS
	free    atomic.Int64
	metaDir string
	meta    atomic.Int64
}

func (f *spaceFS) Space(name string) (int64, int64, error) {
	if name == f.metaDir {
		return f.meta.Load(), 100 << 30, nil
	}
	return f.free.Load(), 10 << 30, nil
}

func TestFreeSpaceChecks(t *testing.T) {
	fsys := &spaceFS{metaDir: t.TempDir()}
	fsys.free.Store(1 << 30)
	fsys.meta.Store(10 << 30)
	ts := openTestStore(t, func(c *Config) { c.FS = fsys; c.MetaDir = fsys.metaDir })
	// Reserve defaults to max(256 MiB, 1 % of 10 GiB) = 256 MiB.
	if err := ts.CanFit(300 << 20); err != nil {
		t.Fatalf("300 MiB into 1 GiB free: %v", err)
	}
	err := ts.CanFit(900 << 20)
	if !core.Is(err, core.NoSpace) || !strings.Contains(err.Error(), "insufficient storage") {
		t.Fatalf("900 MiB with parity into 1 GiB free: %v, want NoSpace", err)
	}
	team := chunktest.Team("A")
	fsys.free.Store(100 << 20) // under the reserve
	_, err = ts.Ingest(context.Background(), team, 0, bytes.NewReader(chunktest.Data(1, 1000)))
	if !core.Is(err, core.NoSpace) {
		t.Fatalf("ingest under the reserve: %v, want NoSpace", err)
	}
	if n := len(ts.segFiles(t)); n != 0 {
		t.Fatalf("a refused ingest wrote %d segment files", n)
	}
	fsys.free.Store(1 << 30)
	fsys.meta.Store(100 << 20) // metadata disk under its floor
	_, err = ts.Ingest(context.Background(), team, 0, bytes.NewReader(chunktest.Data(1, 1000)))
	if !core.Is(err, core.NoSpace) || !strings.Contains(err.Error(), "metadata") {
		t.Fatalf("metadata disk under its floor: %v", err)
	}
	fsys.meta.Store(10 << 30) // space freed: works again
	blocks := chunktest.Put(t, ts.env(), team, chunktest.Data(1, 1000), 1000)
	if got := chunktest.Get(t, ts.env(), team, blocks, 0, 1000); !bytes.Equal(got, chunktest.Data(1, 1000)) {
		t.Fatal("read back differs")
	}
}
