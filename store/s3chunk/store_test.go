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

// open starts a fresh store (its own bucket) over a real S3 server.
func open(t *testing.T, srv *s3test.Server, bucket string) (*s3chunk.Store, *meta.DB) {
	t.Helper()
	db, err := meta.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := s3chunk.Open(context.Background(), s3chunk.Config{Endpoint: srv.Endpoint, Region: "us-east-1", Bucket: bucket, Prefix: "haul",
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true, BlockSize: 64 << 10}, db)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
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
	rep, err := s.Fsck(ctx)
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
	rep, err = s.Fsck(ctx)
	if err != nil || rep.Damaged != 1 || rep.Missing != 1 {
		t.Fatalf("fsck after damage: %+v %v", rep, err)
	}
}
