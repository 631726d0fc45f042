package meta

import "haul/core"

var keyringKey = key("sys", "keys")

func (t *tx) SigningKeys() ([]core.SigningKey, error) {
	var keys []core.SigningKey
	if _, err := t.read("meta.SigningKeys", keyringKey, &keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// PutSigningKeys replaces the whole keyring.
func (t *tx) PutSigningKeys(keys []core.SigningKey) error {
	if keys == nil {
		keys = []core.SigningKey{}
	}
	return t.put("meta.PutSigningKeys", keyringKey, keys, "", nil, nil)
}
