package meta

import (
	"testing"

	"haul/core"
)

func newAPIKey(teamID, secret string) *core.APIKey {
	return &core.APIKey{ID: core.NewID(), TeamID: teamID, UserID: core.NewID(), Name: "ci",
		Hint: secret[:4], Hash: core.SHA256(secret), State: core.KeyActive, CreatedAt: when, UpdatedAt: when}
}

func TestAPIKeyCRUD(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	team := core.NewID()
	a, b, other := newAPIKey(team, "secret-a"), newAPIKey(team, "secret-b"), newAPIKey(core.NewID(), "secret-c")
	update(t, db, func(tx core.Tx) error {
		for _, k := range []*core.APIKey{b, other, a} {
			if err := tx.PutAPIKey(k); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx core.Tx) error {
		got, err := tx.APIKey(a.ID)
		if err != nil {
			return err
		}
		wantEqual(t, got, a)
		got, err = tx.APIKeyByHash(core.SHA256("secret-b"))
		if err != nil {
			return err
		}
		wantEqual(t, got, b)
		list, err := tx.TeamAPIKeys(team)
		if err != nil {
			return err
		}
		wantEqual(t, list, []*core.APIKey{a, b})
		return nil
	})

	// A new secret moves the hash index.
	a.Hash, a.State = core.SHA256("secret-a2"), core.KeyInactive
	update(t, db, func(tx core.Tx) error { return tx.PutAPIKey(a) })
	view(t, db, func(tx core.Tx) error {
		_, err := tx.APIKeyByHash(core.SHA256("secret-a"))
		wantKind(t, err, core.NotFound)
		got, err := tx.APIKeyByHash(core.SHA256("secret-a2"))
		if err != nil {
			return err
		}
		wantEqual(t, got, a)
		return nil
	})

	dup := newAPIKey(team, "secret-b")
	wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.PutAPIKey(dup) }), core.Exists)

	update(t, db, func(tx core.Tx) error { return tx.DeleteAPIKey(b.ID) })
	view(t, db, func(tx core.Tx) error {
		_, err := tx.APIKey(b.ID)
		wantKind(t, err, core.NotFound)
		_, err = tx.APIKeyByHash(b.Hash)
		wantKind(t, err, core.NotFound)
		list, err := tx.TeamAPIKeys(team)
		if err != nil {
			return err
		}
		wantEqual(t, list, []*core.APIKey{a})
		return nil
	})
	wantKind(t, tryUpdate(db, func(tx core.Tx) error { return tx.DeleteAPIKey(b.ID) }), core.NotFound)
}
