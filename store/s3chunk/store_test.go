package s3chunk_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"haul/core"
	"haul/store/chunk/chunktest"
	"haul/store/meta"
	"haul/store/s3chunk"
	"haul/store/s3chunk/s3test"
)

// open starts a fresh store (its own bucket) over a real S3 server; geo,
// when given, is its data and parity shards.
func open(t *testing.T, srv *s3test.Server, bucket string, geo ...int) (*s3chunk.Store, *meta.DB) {
	t.Helper()
	db, err := meta.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := s3chunk.Open(context.Background(), s3chunk.Config{Endpoint: srv.Endpoint, Region: "us-east-1", Bucket: bucket, Prefix: "haul",
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true, BlockSize: 64 << 10, DataShards: geoAt(geo, 0), ParityShards: geoAt(geo, 1)}, db)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func geoAt(g []int, i int) int {
	if i < len(g) {
		return g[i]
	}
	return 0
}

// TestConformanceParity: the suite again with blocks kept as 4 data and 2
// parity objects.
func TestConformanceParity(t *testing.T) {
	srv := s3test.Start(t)
	n := 0
	chunktest.Run(t, func(t *testing.T) chunktest.Env {
		n++
		s, db := open(t, srv, fmt.Sprintf("parity-%d-%s", n, strings.ToLower(core.NewID()[20:])), 4, 2)
		return chunktest.Env{Store: s, Meta: db, BlockSize: s.BlockSize()}
	})
}

// TestParityRebuilds: with 4+2 parity, a block with one shard object
// deleted and another damaged reads back right (rebuilt, and the shards
// written back: fsck then finds nothing wrong); three bad shards are more
// than parity covers: Corrupt.
func TestParityRebuilds(t *testing.T) {
	srv := s3test.Start(t)
	s, db := open(t, srv, "rebuild-"+strings.ToLower(core.NewID()[20:]), 4, 2)
	ctx := context.Background()
	team := chunktest.Team("A")
	env := chunktest.Env{Store: s, Meta: db, BlockSize: s.BlockSize()}
	data := chunktest.Data(9, int(s.BlockSize()))
	blocks := chunktest.Put(t, env, team, data, len(data))
	shardFiles := func() []string {
		var out []string
		filepath.WalkDir(srv.Dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(p, "blocks") {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
	files := shardFiles()
	if len(files) != 6 {
		t.Fatalf("%d shard objects, want 6", len(files))
	}
	os.Remove(files[1])
	b, _ := os.ReadFile(files[4])
	b[3] ^= 0x40
	os.WriteFile(files[4], b, 0o644)
	if got := chunktest.Get(t, env, team, blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("the block reads back wrong with a shard missing and one damaged")
	}
	if st, _ := s.Stats(ctx); st.Repairs != 2 || st.DataShards != 4 || st.ParityShards != 2 {
		t.Fatalf("stats after the rebuild: %+v", st)
	}
	if rep, err := s.Fsck(ctx, false); err != nil || rep.Missing+rep.Damaged != 0 {
		t.Fatalf("fsck after the write-back: %+v %v", rep, err)
	}
	files = shardFiles()
	for _, i := range []int{0, 2, 5} {
		os.Remove(files[i])
	}
	var buf bytes.Buffer
	if err := s.ReadRange(ctx, team, blocks, 0, int64(len(data)), &buf); !core.Is(err, core.Corrupt) {
		t.Fatalf("three shards gone of 4+2: %v, want Corrupt", err)
	}
}

// TestConformance: the chunk store's conformance suite against versitygw.
func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	n := 0
	chunktest.Run(t, func(t *testing.T) chunktest.Env {
		n++
		s, db := open(t, srv, fmt.Sprintf("conformance-%d-%s", n, strings.ToLower(core.NewID()[20:])))
		return chunktest.Env{Store: s, Meta: db, BlockSize: s.BlockSize()}
	})
}

// TestServerGoneMidIngest: with the S3 server stopped, an ingest fails
// with a retryable (Unavailable) error and references nothing; once it is
// back, the same part ingests, commits and reads back.
func TestServerGoneMidIngest(t *testing.T) {
	srv := s3test.Start(t)
	s, db := open(t, srv, "gone-"+strings.ToLower(core.NewID()[20:]))
	team := chunktest.Team("A")
	data := chunktest.Data(5, 10*int(s.BlockSize())+123)
	srv.Stop()
	_, err := s.Ingest(context.Background(), team, 0, bytes.NewReader(data))
	if !core.Is(err, core.Unavailable) {
		t.Fatalf("ingest with the server down: %v, want Unavailable", err)
	}
	var n int64
	db.View(context.Background(), func(tx core.Tx) error {
		return tx.Blocks(func(string, core.Hash, *core.BlockEntry) bool { n++; return true })
	})
	if n != 0 {
		t.Fatalf("%d blocks indexed after a failed ingest", n)
	}
	srv.Restart(t)
	env := chunktest.Env{Store: s, Meta: db, BlockSize: s.BlockSize()}
	blocks := chunktest.Put(t, env, team, data, 3*int(s.BlockSize()))
	if got := chunktest.Get(t, env, team, blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("read back wrong after the server returned")
	}
}

// TestSweepAndFsck: Sweep deletes the objects of released blocks and
// objects nothing indexes; Fsck finds a damaged and a missing object.
func TestSweepAndFsck(t *testing.T) {
	srv := s3test.Start(t)
	bucket := "sweep-" + strings.ToLower(core.NewID()[20:])
	s, db := open(t, srv, bucket)
	ctx := context.Background()
	team := chunktest.Team("A")
	env := chunktest.Env{Store: s, Meta: db, BlockSize: s.BlockSize()}
	bs := int(s.BlockSize())
	kept := chunktest.Put(t, env, team, chunktest.Data(1, 3*bs), bs)
	gone := chunktest.Put(t, env, team, chunktest.Data(2, 2*bs), bs)
	if err := db.Update(ctx, func(tx core.Tx) error { return s.Release(tx, team, gone) }); err != nil {
		t.Fatal(err)
	}
	// An ingest never committed: its object is garbage.
	if _, err := s.Ingest(ctx, team, 0, bytes.NewReader(chunktest.Data(3, bs))); err != nil {
		t.Fatal(err)
	}
	objects := func() int { st, _ := s.Stats(ctx); return st.Segments }
	if n := objects(); n != 6 {
		t.Fatalf("%d objects before the sweep, want 6", n)
	}
	n, err := s.Sweep(ctx, 0)
	if err != nil || n != 3 {
		t.Fatalf("sweep deleted %d (%v), want 3", n, err)
	}
	if n := objects(); n != 3 {
		t.Fatalf("%d objects after the sweep, want 3", n)
	}
	if got := chunktest.Get(t, env, team, kept, 0, int64(3*bs)); !bytes.Equal(got, chunktest.Data(1, 3*bs)) {
		t.Fatal("the kept file reads back wrong after the sweep")
	}
	rep, err := s.Fsck(ctx, false)
	if err != nil || rep.Blocks != 3 || rep.Missing+rep.Damaged+rep.Orphans != 0 {
		t.Fatalf("fsck of a sound store: %+v %v", rep, err)
	}
	// Damage one object on the server's disk, delete another.
	var paths []string
	filepath.WalkDir(srv.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "blocks") {
			paths = append(paths, p)
		}
		return nil
	})
	if len(paths) != 3 {
		t.Fatalf("found %d block files under the server's directory", len(paths))
	}
	b, _ := os.ReadFile(paths[0])
	b[10] ^= 0xff
	os.WriteFile(paths[0], b, 0o644)
	os.Remove(paths[1])
	rep, err = s.Fsck(ctx, false)
	if err != nil || rep.Damaged != 1 || rep.Missing != 1 {
		t.Fatalf("fsck after damage: %+v %v", rep, err)
	}
}

// TestSweepRacesIngest: an ingest whose objects the orphan pass deletes
// before the part is committed (a part slower than the grace period, or a
// resumed one) is refused at commit (Conflict: send the part again), never
// committed over missing objects; an ingest still running keeps its
// objects.
func TestSweepRacesIngest(t *testing.T) {
	srv := s3test.Start(t)
	s, db := open(t, srv, "race-"+strings.ToLower(core.NewID()[20:]))
	ctx := context.Background()
	team := chunktest.Team("A")
	data := chunktest.Data(4, 3*int(s.BlockSize()))
	in, err := s.Ingest(ctx, team, 0, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(ctx, 0); err != nil || n != 3 {
		t.Fatalf("sweep took %d objects (%v), want the 3 uncommitted", n, err)
	}
	err = db.Update(ctx, func(tx core.Tx) error { return s.Commit(tx, team, in) })
	if !core.Is(err, core.Conflict) {
		t.Fatalf("commit after its objects were swept: %v, want Conflict", err)
	}
	// Sent again, it commits and reads back.
	env := chunktest.Env{Store: s, Meta: db, BlockSize: s.BlockSize()}
	blocks := chunktest.Put(t, env, team, data, len(data))
	if got := chunktest.Get(t, env, team, blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("the part sent again reads back wrong")
	}
}

// TestFsckRepairsParity: a lost parity shard is reported (degraded), and
// written anew with repair.
func TestFsckRepairsParity(t *testing.T) {
	srv := s3test.Start(t)
	s, db := open(t, srv, "fsckparity-"+strings.ToLower(core.NewID()[20:]), 4, 2)
	ctx := context.Background()
	team := chunktest.Team("A")
	env := chunktest.Env{Store: s, Meta: db, BlockSize: s.BlockSize()}
	chunktest.Put(t, env, team, chunktest.Data(6, int(s.BlockSize())), int(s.BlockSize()))
	var files []string
	filepath.WalkDir(srv.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".5") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 {
		t.Fatalf("parity shard files: %v", files)
	}
	os.Remove(files[0])
	if rep, err := s.Fsck(ctx, false); err != nil || rep.Degraded != 1 || rep.Damaged+rep.Missing != 0 {
		t.Fatalf("fsck with a parity shard gone: %+v %v", rep, err)
	}
	if rep, err := s.Fsck(ctx, true); err != nil || rep.Repaired != 1 {
		t.Fatalf("fsck --repair: %+v %v", rep, err)
	}
	if rep, err := s.Fsck(ctx, false); err != nil || rep.Degraded != 0 {
		t.Fatalf("fsck after the repair: %+v %v", rep, err)
	}
}

// blockedWriter takes the first write, then waits for release.
type blockedWriter struct {
	buf     bytes.Buffer
	first   chan struct{}
	release chan struct{}
	once    bool
}

func (w *blockedWriter) Write(p []byte) (int, error) {
	if !w.once {
		w.once = true
		close(w.first)
		<-w.release
	}
	return w.buf.Write(p)
}

// TestSweepSparesReads: the blocks of a file released (its package
// deleted) while it is being read are not swept from under the reader;
// the next sweep takes them.
func TestSweepSparesReads(t *testing.T) {
	srv := s3test.Start(t)
	s, db := open(t, srv, "reading-"+strings.ToLower(core.NewID()[20:]))
	ctx := context.Background()
	team := chunktest.Team("A")
	env := chunktest.Env{Store: s, Meta: db, BlockSize: s.BlockSize()}
	data := chunktest.Data(8, 12*int(s.BlockSize()))
	blocks := chunktest.Put(t, env, team, data, len(data))
	w := &blockedWriter{first: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- s.ReadRange(ctx, team, blocks, 0, int64(len(data)), w) }()
	<-w.first
	if err := db.Update(ctx, func(tx core.Tx) error { return s.Release(tx, team, blocks) }); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(ctx, 0); err != nil || n != 0 {
		t.Fatalf("sweep during the read deleted %d objects (%v)", n, err)
	}
	close(w.release)
	if err := <-done; err != nil || !bytes.Equal(w.buf.Bytes(), data) {
		t.Fatalf("the read: %v, %d bytes", err, w.buf.Len())
	}
	if n, err := s.Sweep(ctx, 0); err != nil || n != 12 {
		t.Fatalf("sweep after the read deleted %d objects (%v), want 12", n, err)
	}
}
