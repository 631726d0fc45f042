package httpd_test

import (
	"context"
	"testing"

	"haul/core"
)

// TestBlockRefsMatchIndex: the references the records hold (what haul fsck
// --rebuild-index recounts from) equal the block index's counts, for
// finalized files, unfinished uploads and files sharing blocks.
func TestBlockRefsMatchIndex(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "refs")
	data := randomData(5, 5*(256<<10)+77)
	for _, name := range []string{"a.bin", "b.bin"} { // b shares every block with a
		u := e.addFile(pid, ptok, name, data, 256<<10)
		var etags []string
		for i, url := range u.partURLs(0, u.parts()) {
			etags = append(etags, u.put(url, i+1))
		}
		e.must(200, "POST", "/v1/packages/"+pid+"/files/"+u.fid+"/finalize", map[string]any{
			"chunk_extras": chunkExtras(etags), "file_extras": map[string]string{"upload_id": u.uploadID}, "size": len(data)}, u.tok())
	}
	half := e.addFile(pid, ptok, "c.bin", randomData(6, 3*(256<<10)), 256<<10)
	for i, url := range half.partURLs(0, 2) { // two of three parts
		half.put(url, i+1)
	}

	yielded := map[core.Hash]int64{}
	if err := e.Svc.BlockRefs(context.Background(), func(_ string, h core.Hash) { yielded[h]++ }); err != nil {
		t.Fatal(err)
	}
	indexed := map[core.Hash]int64{}
	err := e.Meta.View(context.Background(), func(tx core.Tx) error {
		return tx.Blocks(func(_ string, h core.Hash, be *core.BlockEntry) bool {
			if be.Refs > 0 {
				indexed[h] = be.Refs
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(yielded) == 0 || len(yielded) != len(indexed) {
		t.Fatalf("records name %d blocks, the index counts %d referenced", len(yielded), len(indexed))
	}
	for h, n := range yielded {
		if indexed[h] != n {
			t.Fatalf("block %s: records hold %d references, the index counts %d", h.Short(), n, indexed[h])
		}
	}
}

func chunkExtras(etags []string) []map[string]any {
	out := make([]map[string]any, len(etags))
	for i, et := range etags {
		out[i] = map[string]any{"partNumber": i + 1, "etag": et}
	}
	return out
}
