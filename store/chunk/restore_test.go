package chunk

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/zeebo/blake3"

	"haul/core"
	"haul/store/chunk/chunktest"
	"haul/store/meta"
)

// TestRestoreOntoFreshDirectory backs up the metadata of a store (the
// block index), restores it into a fresh metadata directory and opens a
// chunk store over the same data directories with it: every file digests
// as before and reads back byte for byte, and the index is the same.
func TestRestoreOntoFreshDirectory(t *testing.T) {
	ctx := context.Background()
	ts := openTestStore(t, func(c *Config) { c.Dirs = []string{t.TempDir(), t.TempDir()} })
	a, b := chunktest.Team("A"), chunktest.Team("B")
	files := []testFile{
		putFile(t, ts, a, 1, 0, 1),
		putFile(t, ts, a, 2, 1, 1),
		putFile(t, ts, a, 3, 1023, 1023),
		putFile(t, ts, a, 4, 4*testBlockSize, testBlockSize),                     // whole blocks: digest from chaining values
		putFile(t, ts, a, 5, 3*testBlockSize+777, 3*testBlockSize/2+1),           // parts not 1 KiB aligned: digest reads the file
		putFile(t, ts, b, 5, 3*testBlockSize+777, 3*testBlockSize/2+1),           // the same bytes in another team
		putFile(t, ts, a, 6, 2*testBlockSize+5000, testBlockSize/2+3),            // many short blocks
		putFile(t, ts, a, 4, 4*testBlockSize, testBlockSize),                     // a duplicate: two references
		putFile(t, ts, b, 7, testBlockSize+1, testBlockSize+1),                   // last block of one byte
		putFile(t, ts, a, 8, 5*cvChunk+17, 2*cvChunk),                            // small parts on chunk edges
		putFile(t, ts, b, 9, 2*testBlockSize+3*cvChunk, testBlockSize+3*cvChunk), // aligned, not block-aligned parts
	}
	digests := make([]core.Hash, len(files))
	for i, f := range files {
		digests[i] = blake3.Sum256(f.data)
		d, err := ts.Digest(ctx, f.team, f.blocks)
		if err != nil || d != digests[i] {
			t.Fatalf("file %d before the backup: digest %x, %v; want %x", i, d, err, digests[i])
		}
	}
	before := ts.indexed(t)

	var bak bytes.Buffer
	if err := ts.meta.Backup(&bak); err != nil {
		t.Fatal(err)
	}
	if err := ts.Store.Close(); err != nil {
		t.Fatal(err)
	}
	dbB, err := meta.Restore(filepath.Join(t.TempDir(), "meta"), &bak, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dbB.Close() })
	sB, err := Open(ts.cfg, dbB)
	if err != nil {
		t.Fatalf("opening the chunk store over the restored metadata: %v", err)
	}
	t.Cleanup(func() { sB.Close() })
	rs := &testStore{Store: sB, meta: dbB, dirs: ts.dirs, cfg: ts.cfg}

	if after := rs.indexed(t); !reflect.DeepEqual(after, before) {
		t.Fatalf("the restored block index differs: %d entries, %d before", len(after), len(before))
	}
	for i, f := range files {
		d, err := rs.Digest(ctx, f.team, f.blocks)
		if err != nil || d != digests[i] {
			t.Fatalf("file %d after the restore: digest %x, %v; want %x", i, d, err, digests[i])
		}
	}
	rs.checkFiles(t, files)
	if rep := rs.fsck(t, false); !rep.OK() || rep.Blocks != int64(len(before)) || rep.Orphans != 0 {
		t.Fatalf("fsck over the restored metadata: %+v", rep)
	}
	// The restored store goes on: known data deduplicates, new data is
	// stored beside the old segments.
	in, err := rs.Ingest(ctx, a, 0, bytes.NewReader(files[3].data))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range in.New {
		if e != nil {
			t.Fatalf("block %d of a restored file was written again", i)
		}
	}
	more := putFile(t, rs, a, 10, 2*testBlockSize+9, testBlockSize)
	rs.checkFiles(t, append(files, more))
}
