package httpd_test

import (
	"context"
	"io/fs"
	"reflect"
	"sync/atomic"
	"testing"

	"haul/core"
	"haul/store/chunk"
)

// readCountFS counts the bytes read from the chunk store's files.
type readCountFS struct {
	chunk.OSFS
	n atomic.Int64
}

func (c *readCountFS) OpenFile(name string, flag int, perm fs.FileMode, direct bool) (chunk.File, bool, error) {
	f, d, err := c.OSFS.OpenFile(name, flag, perm, direct)
	if err != nil {
		return nil, d, err
	}
	return &readCountFile{File: f, n: &c.n}, d, nil
}

type readCountFile struct {
	chunk.File
	n *atomic.Int64
}

func (f *readCountFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.n.Add(int64(n))
	return n, err
}

// fileRecord returns the stored record of file id.
func (e *env) fileRecord(id string) *core.File {
	e.t.Helper()
	var f *core.File
	err := e.Meta.View(context.Background(), func(tx core.Tx) error {
		var err error
		f, err = tx.File(id)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// fileBlocks returns the blocks of finalized file id, read from the parts
// its record names (File.PartsID): the record itself holds none.
func (e *env) fileBlocks(id string) []core.Block {
	e.t.Helper()
	f := e.fileRecord(id)
	if f.PartsID == "" || len(f.Blocks) != 0 {
		e.t.Fatalf("finalized file %s: parts_id %q, %d blocks in the record; want its parts to hold them", id, f.PartsID, len(f.Blocks))
	}
	var blocks []core.Block
	err := e.Meta.View(context.Background(), func(tx core.Tx) error {
		parts, err := tx.UploadParts(f.PartsID)
		for _, pt := range parts {
			blocks = append(blocks, pt.Blocks...)
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return blocks
}

// TestResumeByContentReusesCVs: a file finalized from uploaded parts
// leaves its blocks' chaining values in the metadata store; the same bytes
// sent again by reference, at the same offsets, get them back, so finalize
// assembles the digest without reading the file (only its last block).
// Blocks referenced at another offset get none, and finalize falls back to
// reading the file, with the right digest all the same.
func TestResumeByContentReusesCVs(t *testing.T) {
	cfs := &readCountFS{}
	e := newEnv(t, generousLimits, func(o *envOptions) { o.chunkFS = cfs })
	o := e.owner()
	ctx := context.Background()
	data := randomData(41, 4*testChunk+5000)

	pid1, ptok1 := e.newPackage(apiKey(o.APIKey), "first")
	u1 := e.addFile(pid1, ptok1, "a.bin", data, testChunk)
	var etags []string
	for i, url := range u1.partURLs(0, 5) {
		etags = append(etags, u1.put(url, i+1))
	}
	if f := u1.finalize(etags, len(data)); f.Status != 200 {
		t.Fatalf("finalize: %d %s", f.Status, f.Body)
	}
	b1 := e.fileBlocks(u1.fid)
	withCVs := 0
	err := e.Meta.View(ctx, func(tx core.Tx) error {
		for i, b := range b1 {
			if len(b.CVs) == 0 {
				if _, err := tx.BlockCVs(e.TeamID, b.Hash, b.Off); !core.Is(err, core.NotFound) {
					t.Errorf("block %d has no CVs but some are stored: %v", i, err)
				}
				continue
			}
			withCVs++
			got, err := tx.BlockCVs(e.TeamID, b.Hash, b.Off)
			if err != nil || !reflect.DeepEqual(got, b.CVs) {
				t.Errorf("stored CVs of block %d = %x, %v; want %x", i, got, err, b.CVs)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if withCVs != len(b1)-1 { // the last, 5000 bytes, ends inside a chunk
		t.Fatalf("%d of %d uploaded blocks have CVs, want all but the last", withCVs, len(b1))
	}

	k := e.blockKey(apiKey(o.APIKey))

	// The same bytes at the same offsets, by reference.
	pid2, ptok2 := e.newPackage(apiKey(o.APIKey), "second")
	u2 := e.addFile(pid2, ptok2, "a.bin", data, testChunk)
	both := []cred{u2.tok(), apiKey(o.APIKey)}
	var tags []string
	for n := 1; n <= u2.parts(); n++ {
		r := u2.byRef(n, k.blocks(u2, n), both...)
		if r.Status != 200 {
			t.Fatalf("by_reference part %d: %d %s", n, r.Status, r.Body)
		}
		tags = append(tags, r.Map(t)["etag"].(string))
	}
	before := cfs.n.Load()
	if f := u2.finalize(tags, len(data)); f.Status != 200 || f.Map(t)["digest"] != u2.wantDigest() {
		t.Fatalf("finalize by reference: %d %s, want digest %s", f.Status, f.Body, u2.wantDigest())
	}
	read := cfs.n.Load() - before
	b2 := e.fileBlocks(u2.fid)
	if len(b2) != len(b1) {
		t.Fatalf("%d blocks by reference, %d uploaded", len(b2), len(b1))
	}
	for i, b := range b2 {
		if !reflect.DeepEqual(b, b1[i]) {
			t.Errorf("block %d by reference = %+v, uploaded %+v (CVs included)", i, b, b1[i])
		}
	}
	// Only the last block (5000 bytes, in shards) is read, not the file.
	if read >= int64(len(data))/4 {
		t.Errorf("finalize by reference read %d bytes of a %d-byte file: it read the file back", read, len(data))
	}

	// The same blocks one block further on: stored, but not at these
	// offsets, so no CVs, and finalize reads the file.
	shifted := append(make([]byte, 0, len(data)), data[k.bsize:]...)
	pid3, ptok3 := e.newPackage(apiKey(o.APIKey), "third")
	u3 := e.addFile(pid3, ptok3, "shifted.bin", shifted, testChunk)
	both3 := []cred{u3.tok(), apiKey(o.APIKey)}
	tags = nil
	for n := 1; n <= u3.parts(); n++ {
		r := u3.byRef(n, k.blocks(u3, n), both3...)
		if r.Status != 200 {
			t.Fatalf("shifted by_reference part %d: %d %s", n, r.Status, r.Body)
		}
		tags = append(tags, r.Map(t)["etag"].(string))
	}
	err = e.Meta.View(ctx, func(tx core.Tx) error {
		parts, err := tx.UploadParts(u3.uploadID)
		if err != nil {
			return err
		}
		for _, pt := range parts {
			for _, b := range pt.Blocks {
				if b.CVs != nil {
					t.Errorf("part %d: block at %d has CVs %x, but none were saved at that offset", pt.PartNumber, b.Off, b.CVs)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before = cfs.n.Load()
	if f := u3.finalize(tags, len(shifted)); f.Status != 200 || f.Map(t)["digest"] != u3.wantDigest() {
		t.Fatalf("shifted finalize: %d %s, want digest %s", f.Status, f.Body, u3.wantDigest())
	}
	if read := cfs.n.Load() - before; read < int64(len(shifted)) {
		t.Errorf("shifted finalize read %d bytes of a %d-byte file: without CVs it must read it all", read, len(shifted))
	}
	for i, b := range e.fileBlocks(u3.fid) {
		if b.CVs != nil {
			t.Errorf("shifted file's block %d has CVs", i)
		}
	}
}
