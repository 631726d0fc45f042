package meta

import (
	"context"
	"reflect"
	"testing"

	"haul/core"
)

func TestBlockCVs(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	var h1, h2, cv1, cv2, cv3 core.Hash
	h1[0], h2[0] = 1, 2
	cv1[0], cv2[31], cv3[5] = 0xa1, 0xb2, 0xc3
	const off = 4 << 20
	err := db.Update(ctx, func(tx core.Tx) error {
		if err := tx.PutBlock("TEAMA", h1, sampleEntry()); err != nil {
			return err
		}
		if err := tx.PutBlockCVs("TEAMA", h1, off, []core.Hash{cv1}); err != nil {
			return err
		}
		if err := tx.PutBlockCVs("TEAMA", h1, 0, []core.Hash{cv2, cv3}); err != nil {
			return err
		}
		return tx.PutBlockCVs("TEAMB", h2, off, []core.Hash{cv3})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(tx core.Tx) error {
		for _, c := range []struct {
			team string
			h    core.Hash
			off  int64
			want []core.Hash
		}{
			{"TEAMA", h1, off, []core.Hash{cv1}},
			{"TEAMA", h1, 0, []core.Hash{cv2, cv3}},
			{"TEAMB", h2, off, []core.Hash{cv3}},
		} {
			got, err := tx.BlockCVs(c.team, c.h, c.off)
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("BlockCVs(%s, %s, %d) = %x, %v; want %x", c.team, c.h.Short(), c.off, got, err, c.want)
			}
		}
		for _, c := range []struct {
			team string
			h    core.Hash
			off  int64
		}{
			{"TEAMA", h1, 1024}, // another offset
			{"TEAMB", h1, off},  // another team
			{"TEAMA", h2, off},  // another block
			{"TEAMA", h1, -1},
		} {
			if got, err := tx.BlockCVs(c.team, c.h, c.off); !core.Is(err, core.NotFound) {
				t.Errorf("BlockCVs(%s, %s, %d) = %x, %v; want NotFound", c.team, c.h.Short(), c.off, got, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Refusals.
	err = db.Update(ctx, func(tx core.Tx) error {
		if err := tx.PutBlockCVs("", h1, 0, []core.Hash{cv1}); !core.Is(err, core.Invalid) {
			t.Errorf("empty team id: %v", err)
		}
		if err := tx.PutBlockCVs("A/B", h1, 0, []core.Hash{cv1}); !core.Is(err, core.Invalid) {
			t.Errorf("team id with a slash: %v", err)
		}
		if err := tx.PutBlockCVs("TEAMA", h1, -1, []core.Hash{cv1}); !core.Is(err, core.Invalid) {
			t.Errorf("negative offset: %v", err)
		}
		if err := tx.PutBlockCVs("TEAMA", h1, 0, nil); !core.Is(err, core.Invalid) {
			t.Errorf("no CVs: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The block's CVs (at every offset) go with its index entry, and no
	// other block's.
	if err := db.Update(ctx, func(tx core.Tx) error { return tx.DeleteBlock("TEAMA", h1) }); err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx core.Tx) error {
		for _, o := range []int64{0, off} {
			if _, err := tx.BlockCVs("TEAMA", h1, o); !core.Is(err, core.NotFound) {
				t.Errorf("after DeleteBlock, CVs at %d: %v, want NotFound", o, err)
			}
		}
		if _, err := tx.BlockCVs("TEAMB", h2, off); err != nil {
			t.Errorf("another block's CVs after DeleteBlock: %v", err)
		}
		// The block index does not see CV entries.
		n := 0
		if err := tx.Blocks(func(string, core.Hash, *core.BlockEntry) bool { n++; return true }); err != nil {
			t.Error(err)
		}
		if n != 0 {
			t.Errorf("Blocks lists %d entries, want 0", n)
		}
		return nil
	})
}
