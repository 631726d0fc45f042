package core

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// MaxSignatureLifetime bounds how long anything haul signs (tokens, URLs)
// may stay valid. A retired signing key keeps verifying for this long after
// its retirement, then it is dropped, so rotation never cuts off a
// signature before it expires.
const MaxSignatureLifetime = 400 * 24 * time.Hour

// Keyring holds the HMAC keys that sign tokens and URLs. The newest key
// signs; every key still in the ring verifies. It is loaded from the store
// once at start and is safe for concurrent use.
type Keyring struct {
	mu   sync.RWMutex
	keys []SigningKey // oldest first; the last one signs
}

// LoadKeyring reads the keyring, creating the first key on an empty data
// directory and dropping retired keys whose signatures have all expired.
func LoadKeyring(ctx context.Context, st Store, now time.Time) (*Keyring, error) {
	var keys []SigningKey
	err := st.Update(ctx, func(tx Tx) error {
		ks, err := tx.SigningKeys()
		if err != nil {
			return err
		}
		live := ks[:0:0]
		for _, k := range ks {
			if k.RetiredAt.IsZero() || now.Before(k.RetiredAt.Add(MaxSignatureLifetime)) {
				live = append(live, k)
			}
		}
		if len(live) == 0 {
			live = append(live, newSigningKey(now))
		}
		keys = live
		if len(live) != len(ks) {
			return tx.PutSigningKeys(live)
		}
		return nil
	})
	if err != nil {
		return nil, Wrap("keyring.load", err)
	}
	return &Keyring{keys: keys}, nil
}

// RotateKeys retires the signing key and adds a new one, in the store. A
// running server picks the new key up at its next start.
func RotateKeys(ctx context.Context, st Store, now time.Time) (string, error) {
	var id string
	err := st.Update(ctx, func(tx Tx) error {
		ks, err := tx.SigningKeys()
		if err != nil {
			return err
		}
		for i := range ks {
			if ks[i].RetiredAt.IsZero() {
				ks[i].RetiredAt = now
			}
		}
		k := newSigningKey(now)
		id = k.ID
		return tx.PutSigningKeys(append(ks, k))
	})
	return id, Wrap("keyring.rotate", err)
}

func newSigningKey(now time.Time) SigningKey {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		panic(err)
	}
	return SigningKey{ID: NewID(), Secret: secret, CreatedAt: now}
}

// mac returns the HMAC-SHA256 of msg under the key kid ("" = the signing
// key) and the id of the key used.
func (k *Keyring) mac(kid string, msg []byte) ([]byte, string, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var key *SigningKey
	if kid == "" {
		key = &k.keys[len(k.keys)-1]
	} else {
		for i := range k.keys {
			if k.keys[i].ID == kid {
				key = &k.keys[i]
				break
			}
		}
	}
	if key == nil {
		return nil, "", false
	}
	m := hmac.New(sha256.New, key.Secret)
	m.Write(msg)
	return m.Sum(nil), key.ID, true
}

// Claims are the fields of haul's tokens, in MASV's JWT shape (HS256):
// user tokens carry sub = user id; package tokens (later) lvl, lid, uid.
type Claims struct {
	Exp int64  `json:"exp"`
	Iat int64  `json:"iat,omitempty"`
	Sub string `json:"sub"`
	Typ string `json:"typ"`
	Sid string `json:"sid,omitempty"`
	Lvl string `json:"lvl,omitempty"`
	Lid string `json:"lid,omitempty"`
	// Jti names a download token's download (its activity), so that the
	// access it makes is counted once however many URLs it obtains.
	Jti string         `json:"jti,omitempty"`
	UID string         `json:"uid,omitempty"`
	Ext map[string]any `json:"ext"`
	Imp bool           `json:"imp"`
}

// b64url decodes strictly, so a token whose unused trailing bits were
// altered is not accepted as the same token.
var b64url = base64.RawURLEncoding.Strict()

// SignToken returns an HS256 JWT of c signed with the newest key.
func (k *Keyring) SignToken(c Claims) string {
	if c.Ext == nil {
		c.Ext = map[string]any{}
	}
	_, kid, _ := k.mac("", nil)
	head, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT", "kid": kid})
	body, _ := json.Marshal(c)
	signing := b64url.EncodeToString(head) + "." + b64url.EncodeToString(body)
	sig, _, _ := k.mac(kid, []byte(signing))
	return signing + "." + b64url.EncodeToString(sig)
}

// ParseToken verifies a JWT made by SignToken and returns its claims. It
// fails with Unauthenticated when the token is malformed, signed by an
// unknown key, tampered with, of another type than typ, or expired at now.
func (k *Keyring) ParseToken(token, typ string, now time.Time) (*Claims, error) {
	c, err := k.verifyToken(token, typ)
	if err != nil {
		return nil, err
	}
	if now.Unix() >= c.Exp {
		return nil, errTokenExpired()
	}
	return c, nil
}

func errTokenExpired() error {
	return E("token.parse", Unauthenticated, "the token expired; log in again to get a new one")
}

// verifyToken is ParseToken without the expiry check.
func (k *Keyring) verifyToken(token, typ string) (*Claims, error) {
	const op = "token.parse"
	bad := E(op, Unauthenticated, "the token is not valid; log in again to get a new one")
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, bad
	}
	headJSON, err := b64url.DecodeString(parts[0])
	if err != nil {
		return nil, bad
	}
	var head struct{ Alg, Kid string }
	if json.Unmarshal(headJSON, &head) != nil || head.Alg != "HS256" || head.Kid == "" {
		return nil, bad
	}
	want, _, ok := k.mac(head.Kid, []byte(parts[0]+"."+parts[1]))
	if !ok {
		return nil, bad
	}
	got, err := b64url.DecodeString(parts[2])
	if err != nil || !hmac.Equal(got, want) {
		return nil, bad
	}
	body, err := b64url.DecodeString(parts[1])
	if err != nil {
		return nil, bad
	}
	var c Claims
	if json.Unmarshal(body, &c) != nil || c.Typ != typ {
		return nil, bad
	}
	return &c, nil
}
