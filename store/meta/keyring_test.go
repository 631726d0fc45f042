package meta

import (
	"testing"
	"time"

	"haul/core"
)

func TestSigningKeys(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	view(t, db, func(tx core.Tx) error {
		keys, err := tx.SigningKeys()
		if err != nil {
			return err
		}
		if len(keys) != 0 {
			t.Errorf("SigningKeys of a new store = %v, want none", keys)
		}
		return nil
	})

	ring := []core.SigningKey{
		{ID: core.NewID(), Secret: []byte("old secret, 32 bytes long......."), CreatedAt: when, RetiredAt: when.Add(time.Hour)},
		{ID: core.NewID(), Secret: []byte{0, 1, 2, 255}, CreatedAt: when.Add(time.Hour)},
	}
	update(t, db, func(tx core.Tx) error { return tx.PutSigningKeys(ring) })
	view(t, db, func(tx core.Tx) error {
		keys, err := tx.SigningKeys()
		if err != nil {
			return err
		}
		wantEqual(t, keys, ring)
		return nil
	})

	update(t, db, func(tx core.Tx) error { return tx.PutSigningKeys(ring[1:]) })
	view(t, db, func(tx core.Tx) error {
		keys, err := tx.SigningKeys()
		if err != nil {
			return err
		}
		wantEqual(t, keys, ring[1:])
		return nil
	})
}
