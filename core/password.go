package core

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

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

// DefaultHashMaxWait is how long a hash or check waits for a free slot
// before the caller is told to come back later.
const DefaultHashMaxWait = 3 * time.Second

// Hasher hashes and checks secrets (passwords, access codes, link
// passwords) with argon2id. At most Concurrency checks run at once, so a
// flood of logins cannot exhaust memory, and none waits for a slot longer
// than its max wait (SetMaxWait), so a flood cannot pile up waiters either.
type Hasher struct {
	params  HashParams
	sem     chan struct{}
	maxWait atomic.Int64 // a time.Duration
	// dummy is a hash of a random secret, checked when the account does
	// not exist so both paths cost the same.
	dummy string
	// DummyChecks counts checks against the dummy hash (for tests and metrics).
	DummyChecks atomic.Int64
	// Checks counts every call of Check, whether it got to hash or not
	// (for tests and metrics).
	Checks atomic.Int64
}

// NewHasher returns a Hasher; concurrency < 1 means 1. Its max wait is
// DefaultHashMaxWait.
func NewHasher(p HashParams, concurrency int) *Hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	h := &Hasher{params: p, sem: make(chan struct{}, concurrency)}
	h.maxWait.Store(int64(DefaultHashMaxWait))
	h.dummy = h.hash(RandomToken(16))
	return h
}

// SetMaxWait sets how long Hash and Check wait for a free slot before they
// fail with Unavailable; d <= 0 means DefaultHashMaxWait.
func (h *Hasher) SetMaxWait(d time.Duration) {
	if d <= 0 {
		d = DefaultHashMaxWait
	}
	h.maxWait.Store(int64(d))
}

// InFlight returns how many hashes or checks hold a slot now.
func (h *Hasher) InFlight() int { return len(h.sem) }

// acquire takes a slot, waiting at most the max wait and never past ctx.
// A caller that gets none is told to retry: Unavailable with RetryAfter.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	wait := time.Duration(h.maxWait.Load())
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	return &Error{Op: "password.check", Kind: Unavailable, RetryAfter: max(1, int((wait+time.Second-1)/time.Second)),
		Msg: "the server is busy checking passwords; try again in a moment"}
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
	h.Checks.Add(1)
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
