package httpd_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"haul/core"
)

// checkRefsMatchIndex fails t unless the references the records hold
// (Service.BlockRefs) equal the block index's counts; it returns how many
// references the records hold.
func (e *env) checkRefsMatchIndex(when string) int64 {
	e.t.Helper()
	ctx := context.Background()
	yielded := map[core.Hash]int64{}
	var total int64
	if err := e.Svc.BlockRefs(ctx, func(_ string, h core.Hash) { yielded[h]++; total++ }); err != nil {
		e.t.Fatal(err)
	}
	indexed := map[core.Hash]int64{}
	err := e.Meta.View(ctx, func(tx core.Tx) error {
		return tx.Blocks(func(_ string, h core.Hash, be *core.BlockEntry) bool {
			if be.Refs > 0 {
				indexed[h] = be.Refs
			}
			return true
		})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(yielded) != len(indexed) {
		e.t.Fatalf("%s: records name %d blocks, the index counts %d referenced", when, len(yielded), len(indexed))
	}
	for h, n := range yielded {
		if indexed[h] != n {
			e.t.Fatalf("%s: block %s: records hold %d references, the index counts %d", when, h.Short(), n, indexed[h])
		}
	}
	return total
}

// uploadParts returns the stored parts of upload id.
func (e *env) uploadParts(id string) []*core.Part {
	e.t.Helper()
	var parts []*core.Part
	err := e.Meta.View(context.Background(), func(tx core.Tx) error {
		var err error
		parts, err = tx.UploadParts(id)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return parts
}

// TestFinalizedFileKeepsParts: finalize keeps the listed parts as the
// file's block lists (File.PartsID) instead of copying every block into
// the file record, so the record does not grow with the file. The block
// references stay counted once (BlockRefs equals the index), a file
// finalized the old way (blocks in its record) still counts and releases,
// and deleting a file, then the package, releases everything.
func TestFinalizedFileKeepsParts(t *testing.T) {
	e := newEnv(t) // ReleaseBatch 5: the releases below take several batches
	o := e.owner()
	ctx := context.Background()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "kept parts")
	data := randomData(7, 5*(256<<10)+77) // 6 parts of 4 64 KiB blocks (the last 1)
	var ups []*upload
	for _, name := range []string{"a.bin", "b.bin", "legacy.bin"} { // sharing every block
		u := e.addFile(pid, ptok, name, data, 256<<10)
		var etags []string
		for i, url := range u.partURLs(0, u.parts()) {
			etags = append(etags, u.put(url, i+1))
		}
		e.must(200, "POST", "/v1/packages/"+pid+"/files/"+u.fid+"/finalize", map[string]any{
			"chunk_extras": chunkExtras(etags), "file_extras": map[string]string{"upload_id": u.uploadID}, "size": len(data)}, u.tok())
		ups = append(ups, u)
	}
	half := e.addFile(pid, ptok, "half.bin", randomData(8, 3*(256<<10)), 256<<10)
	for i, url := range half.partURLs(0, 2) { // two of three parts
		half.put(url, i+1)
	}

	nBlocks := 0
	for _, u := range ups {
		f := e.fileRecord(u.fid)
		raw, err := json.Marshal(f) // what the metadata store holds
		if err != nil {
			t.Fatal(err)
		}
		if f.State != core.FileFinalized || f.PartsID != u.uploadID || f.UploadID != "" || len(f.Blocks) != 0 ||
			strings.Contains(string(raw), `"blocks"`) || !strings.Contains(string(raw), `"parts_id":"`+u.uploadID+`"`) {
			t.Fatalf("finalized record %s", raw)
		}
		if len(raw) > 1024 {
			t.Errorf("finalized record of %d bytes: it grows with the file", len(raw))
		}
		parts := e.uploadParts(f.PartsID)
		if len(parts) != u.parts() {
			t.Fatalf("%d parts kept, %d uploaded", len(parts), u.parts())
		}
		blocks := e.fileBlocks(u.fid)
		var pos int64
		for i, b := range blocks {
			if b.Off != pos {
				t.Fatalf("block %d at %d, want %d", i, b.Off, pos)
			}
			pos += b.Len
		}
		if pos != int64(len(data)) {
			t.Fatalf("the kept parts cover %d bytes, the file has %d", pos, len(data))
		}
		nBlocks = len(blocks)
	}
	if nBlocks <= 5 {
		t.Fatalf("%d blocks a file: the releases would take one batch", nBlocks)
	}

	// A record finalized before parts were kept: its blocks in the record.
	legacy := ups[2]
	err := e.Meta.Update(ctx, func(tx core.Tx) error {
		f, err := tx.File(legacy.fid)
		if err != nil {
			return err
		}
		parts, err := tx.UploadParts(f.PartsID)
		if err != nil {
			return err
		}
		for _, pt := range parts {
			f.Blocks = append(f.Blocks, pt.Blocks...)
			if err := tx.DeletePart(pt.UploadID, pt.PartNumber); err != nil {
				return err
			}
		}
		f.PartsID = ""
		return tx.PutFile(f)
	})
	if err != nil {
		t.Fatal(err)
	}

	wantRefs := int64(3*nBlocks + 2*4) // three files and half's two parts
	if n := e.checkRefsMatchIndex("finalized"); n != wantRefs {
		t.Fatalf("records hold %d references, want %d", n, wantRefs)
	}

	// Deleting a finalized file releases its kept parts.
	e.must(204, "DELETE", "/v1/packages/"+pid+"/files/"+ups[0].fid, nil, ups[0].tok())
	if parts := e.uploadParts(ups[0].uploadID); len(parts) != 0 {
		t.Fatalf("%d parts of the deleted file are left", len(parts))
	}
	if n := e.checkRefsMatchIndex("file deleted"); n != wantRefs-int64(nBlocks) {
		t.Fatalf("after deleting a file the records hold %d references, want %d", n, wantRefs-int64(nBlocks))
	}
	if st, err := e.Svc.ChunkStats(ctx); err != nil || st.LogicalBytes == 0 {
		t.Fatalf("after deleting one file: %+v (%v)", st, err)
	}

	// Deleting the package releases the rest: kept parts, the legacy
	// record's blocks and the open upload's parts.
	e.must(204, "DELETE", "/v1/packages/"+pid, nil, header("X-Package-Token", ptok))
	for _, id := range []string{ups[1].uploadID, half.uploadID} {
		if parts := e.uploadParts(id); len(parts) != 0 {
			t.Fatalf("%d parts of upload %s are left", len(parts), id)
		}
	}
	if f := e.fileRecord(legacy.fid); len(f.Blocks) != 0 {
		t.Fatalf("the legacy record still holds %d blocks", len(f.Blocks))
	}
	if n := e.checkRefsMatchIndex("package deleted"); n != 0 {
		t.Fatalf("after deleting the package the records hold %d references", n)
	}
	st, err := e.Svc.ChunkStats(ctx)
	if err != nil || st.LogicalBytes != 0 || st.UniqueBytes != 0 {
		t.Fatalf("after deleting the package: %+v (%v); want nothing referenced", st, err)
	}
}
