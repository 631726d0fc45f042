package core

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id's cost parameters.
type HashParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultHashParams follow RFC 9106's second recommendation, scaled to a
// two-core appliance.
var DefaultHashParams = HashParams{MemoryKiB: 64 * 1024, Time: 2, Threads: 2}

// Hasher hashes and checks secrets (passwords, access codes, link
// passwords) with argon2id. At most Concurrency checks run at once, so a
// flood of logins cannot exhaust memory.
type Hasher struct {
	params HashParams
	sem    chan struct{}
	// dummy is a hash of a random secret, checked when the account does
	// not exist so both paths cost the same.
	dummy string
	// DummyChecks counts checks against the dummy hash (for tests and metrics).
	DummyChecks atomic.Int64
}

// NewHasher returns a Hasher; concurrency < 1 means 1.
func NewHasher(p HashParams, concurrency int) *Hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	h := &Hasher{params: p, sem: make(chan struct{}, concurrency)}
	h.dummy = h.hash(RandomToken(16))
	return h
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return E("password.check", Unavailable, "the server is busy checking passwords; try again in a moment")
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the PHC string of secret.
func (h *Hasher) Hash(ctx context.Context, secret string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash(secret), nil
}

func (h *Hasher) hash(secret string) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	p := h.params
	key := argon2.IDKey([]byte(secret), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Check reports whether secret matches the PHC string encoded. An empty
// encoded (no such account, or no password set) is checked against a dummy
// hash so that the time taken does not tell whether the account exists.
func (h *Hasher) Check(ctx context.Context, encoded, secret string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	if encoded == "" {
		h.DummyChecks.Add(1)
		verify(h.dummy, secret)
		return false, nil
	}
	return verify(encoded, secret), nil
}

func verify(encoded, secret string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	var p HashParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// RandomToken returns n random bytes as unpadded URL-safe base64.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// RandomPassword returns a generated password of 20 base32 characters
// (100 bits) in groups of five, easy to read off a console and type.
func RandomPassword() string {
	s := rand.Text()
	return s[0:5] + "-" + s[5:10] + "-" + s[10:15] + "-" + s[15:20]
}
