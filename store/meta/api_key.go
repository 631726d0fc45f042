package meta

import "haul/core"

func (t *tx) APIKey(id string) (*core.APIKey, error) {
	return get[core.APIKey](t, "meta.APIKey", "API key", key("key", id))
}

// APIKeyByHash finds an API key by the hash of its secret. The zero hash
// finds nothing.
func (t *tx) APIKeyByHash(h core.Hash) (*core.APIKey, error) {
	const op = "meta.APIKeyByHash"
	if h.IsZero() {
		return nil, notFound(op, "API key")
	}
	return byIndex[core.APIKey](t, op, "API key", key("key_hash", h.String()), "key")
}

func (t *tx) PutAPIKey(k *core.APIKey) error {
	const op = "meta.PutAPIKey"
	if err := checkID(op, "id", k.ID); err != nil {
		return err
	}
	if err := checkID(op, "team_id", k.TeamID); err != nil {
		return err
	}
	old, err := prev[core.APIKey](t, op, key("key", k.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("key", k.ID), k, k.ID, apiKeyEntries(old), apiKeyEntries(k))
}

func (t *tx) DeleteAPIKey(id string) error {
	const op = "meta.DeleteAPIKey"
	k, err := get[core.APIKey](t, op, "API key", key("key", id))
	if err != nil {
		return err
	}
	return t.remove(op, key("key", id), apiKeyEntries(k))
}

func (t *tx) TeamAPIKeys(teamID string) ([]*core.APIKey, error) {
	ids := t.listed(prefix("key_team", teamID))
	return records[core.APIKey](t, "meta.TeamAPIKeys", "API key", "key", ids)
}

func apiKeyEntries(k *core.APIKey) []entry {
	if k == nil {
		return nil
	}
	es := []entry{{key: key("key_team", k.TeamID, k.ID)}}
	if !k.Hash.IsZero() {
		es = append(es, entry{key: key("key_hash", k.Hash.String()), val: k.ID,
			taken: "API key hash is already in use"})
	}
	return es
}
