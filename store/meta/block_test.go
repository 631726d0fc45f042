package meta

import (
	"context"
	"reflect"
	"testing"

	"haul/core"
)

func loc(d uint8, seg uint32, off int64) core.ShardLoc {
	return core.ShardLoc{Dir: d, Seg: seg, Off: off}
}

func sampleEntry() *core.BlockEntry {
	return &core.BlockEntry{Len: 4 << 20, Data: 8, Parity: 2, Refs: 3, Shards: []core.ShardLoc{
		loc(0, 1, 0), loc(0, 1, 528384), loc(1, 7, 1<<30), loc(1, 2, 4096), loc(0, 9, 12288),
		loc(1, 1, 0), loc(0, 1, 8192), loc(1, 3, 99<<20), loc(0, 4, 4096), loc(1, 4096, 1<<40),
	}}
}

func TestBlockEntryCodec(t *testing.T) {
	e := sampleEntry()
	b := EncodeBlockEntry(e)
	if len(b) > 120 {
		t.Errorf("an 8+2 entry takes %d bytes; the index budget is 200 per block with its key", len(b))
	}
	got, err := DecodeBlockEntry(b)
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for i := range b {
		if _, err := DecodeBlockEntry(b[:i]); err == nil {
			t.Fatalf("truncated to %d bytes decoded without error", i)
		}
	}
}

// TestBlockEntryCodecCRC: an entry with its CRC-32 round-trips in codec
// version 2, one without it stays version 1 (so it reads as before).
func TestBlockEntryCodecCRC(t *testing.T) {
	e := sampleEntry()
	v1 := EncodeBlockEntry(e)
	e.CRC, e.HasCRC = 0xdeadbeef, true
	v2 := EncodeBlockEntry(e)
	if v1[0] != 1 || v2[0] != 2 || len(v2) != len(v1)+4 {
		t.Fatalf("versions %d/%d, lengths %d/%d", v1[0], v2[0], len(v1), len(v2))
	}
	got, err := DecodeBlockEntry(v2)
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if got, err := DecodeBlockEntry(v1); err != nil || got.HasCRC {
		t.Fatalf("version 1: %+v, %v", got, err)
	}
	for i := range v2 {
		if _, err := DecodeBlockEntry(v2[:i]); err == nil {
			t.Fatalf("truncated to %d bytes decoded without error", i)
		}
	}
}

func FuzzDecodeBlockEntry(f *testing.F) {
	f.Add(EncodeBlockEntry(sampleEntry()))
	f.Add([]byte{1, 0, 1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeBlockEntry(b)
		if err != nil {
			return
		}
		again, err := DecodeBlockEntry(EncodeBlockEntry(e))
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("re-encoding a decoded entry changed it: %+v vs %+v (%v)", e, again, err)
		}
	})
}

func TestBlockIndex(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	var h1, h2 core.Hash
	h1[0], h2[0] = 1, 2
	e := sampleEntry()
	err := db.Update(ctx, func(tx core.Tx) error {
		if err := tx.PutBlock("TEAMA", h1, e); err != nil {
			return err
		}
		return tx.PutBlock("TEAMB", h2, e)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(tx core.Tx) error {
		got, err := tx.Block("TEAMA", h1)
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("Block = %+v, %v", got, err)
		}
		if _, err := tx.Block("TEAMB", h1); !core.Is(err, core.NotFound) {
			t.Errorf("another team's block: %v, want NotFound", err)
		}
		var seen []string
		err = tx.Blocks(func(team string, h core.Hash, _ *core.BlockEntry) bool {
			seen = append(seen, team+":"+h.Short())
			return true
		})
		if len(seen) != 2 || seen[0] != "TEAMA:"+h1.Short() {
			t.Errorf("Blocks = %v", seen)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DropBlockIndex(); err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx core.Tx) error {
		if _, err := tx.Block("TEAMA", h1); !core.Is(err, core.NotFound) {
			t.Errorf("after drop: %v", err)
		}
		return nil
	})
	err = db.Update(ctx, func(tx core.Tx) error { return tx.DeleteBlock("TEAMA", h1) })
	if !core.Is(err, core.NotFound) {
		t.Errorf("delete of a missing block: %v", err)
	}
}
