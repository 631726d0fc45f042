package core_test

import (
	"context"
	"reflect"
	"testing"

	"haul/core"
)

// TestSaveBlockCVs: a finalized file's CVs are saved once per (block,
// offset), at most limit writes per transaction, the rest handed back for
// the next one; blocks without CVs and CVs already stored cost no write.
func TestSaveBlockCVs(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	const team = "TEAM"
	var blocks []core.Block
	for i := range 6 {
		b := core.Block{Off: int64(i) << 16, Len: 1 << 16}
		b.Hash[0] = byte(i + 1)
		if i != 2 && i != 5 { // no CVs: block 2 (unaligned, say) and the last
			var cv core.Hash
			cv[0], cv[1] = 0xcc, byte(i)
			b.CVs = []core.Hash{cv}
		}
		blocks = append(blocks, b)
	}
	// One already stored: skipped without counting against the limit.
	if err := db.Update(ctx, func(tx core.Tx) error {
		return tx.PutBlockCVs(team, blocks[0].Hash, blocks[0].Off, blocks[0].CVs)
	}); err != nil {
		t.Fatal(err)
	}
	rest := blocks
	var rounds []int
	for len(rest) > 0 {
		if len(rounds) > 5 {
			t.Fatal("saveBlockCVs makes no progress")
		}
		var next []core.Block
		err := db.Update(ctx, func(tx core.Tx) error {
			var err error
			next, err = core.SaveBlockCVs(tx, team, rest, 2)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		rounds = append(rounds, len(next))
		rest = next
	}
	// Blocks 1 and 3 in the first transaction, 4 in the second.
	if !reflect.DeepEqual(rounds, []int{2, 0}) {
		t.Errorf("blocks left after each transaction: %v, want [2 0]", rounds)
	}
	_ = db.View(ctx, func(tx core.Tx) error {
		for i, b := range blocks {
			got, err := tx.BlockCVs(team, b.Hash, b.Off)
			if b.CVs == nil {
				if !core.Is(err, core.NotFound) {
					t.Errorf("block %d without CVs: %x, %v; want NotFound", i, got, err)
				}
				continue
			}
			if err != nil || !reflect.DeepEqual(got, b.CVs) {
				t.Errorf("block %d: %x, %v; want %x", i, got, err, b.CVs)
			}
		}
		return nil
	})
}
