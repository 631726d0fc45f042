package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"haul/core"
	"haul/store/meta"
)

func openStore(t *testing.T) *meta.DB {
	t.Helper()
	db, err := meta.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLimiter(t *testing.T) {
	l := core.NewLimiter(3, 60) // 3 at once, then one a second
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	ok, wait := l.Allow("a", now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("4th attempt: ok=%v wait=%v, want refused with a wait of at most 1s", ok, wait)
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _ := l.Allow("a", now.Add(time.Second)); !ok {
		t.Fatal("a token did not come back after a second")
	}
}

func TestHasher(t *testing.T) {
	ctx := context.Background()
	h := core.NewHasher(core.HashParams{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}, 1)
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("not an argon2id PHC string: %s", enc)
	}
	enc2, _ := h.Hash(ctx, "correct horse")
	if enc == enc2 {
		t.Fatal("two hashes of one secret are equal: salt missing")
	}
	for _, tc := range []struct {
		name, enc, secret string
		want              bool
	}{
		{"right", enc, "correct horse", true},
		{"wrong", enc, "correct horse!", false},
		{"garbage hash", "$argon2id$junk", "x", false},
		{"other algorithm", "$2a$10$abcdefghijklmnopqrstuv", "x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.Check(ctx, tc.enc, tc.secret)
			if err != nil || ok != tc.want {
				t.Fatalf("Check = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
	before, checks := h.DummyChecks.Load(), h.Checks.Load()
	if ok, _ := h.Check(ctx, "", "anything"); ok {
		t.Fatal("empty hash matched")
	}
	if h.DummyChecks.Load() != before+1 {
		t.Fatal("an empty hash did not run the dummy check")
	}
	if h.Checks.Load() != checks+1 {
		t.Fatal("Checks did not count the check")
	}
}

// TestHasherConcurrencyCap: while the only slot is taken, a check whose
// context ends gives up then, long before the max wait, with Unavailable
// and a Retry-After. (TestHasherWaitIsBounded covers a context that never
// ends.)
func TestHasherConcurrencyCap(t *testing.T) {
	h := core.NewHasher(core.HashParams{MemoryKiB: 64 * 1024, Time: 3, Threads: 1}, 1)
	h.SetMaxWait(time.Minute)
	ctx := context.Background()
	enc, _ := h.Hash(ctx, "x")
	done := make(chan struct{})
	go func() { defer close(done); h.Check(ctx, enc, "x") }() // holds the only slot for a while
	defer func() { <-done }()
	for h.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Check(short, enc, "x")
	if !core.Is(err, core.Unavailable) {
		t.Fatalf("second concurrent check: err = %v, want Unavailable", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the check waited %v past its context", took)
	}
	var ce *core.Error
	if !errors.As(err, &ce) || ce.RetryAfter < 1 {
		t.Fatalf("Unavailable without a Retry-After: %#v", err)
	}
}

func TestTokensAndRotation(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Now()
	ring, err := core.LoadKeyring(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	c := core.Claims{Sub: "u1", Typ: "user", Sid: "s1", Exp: now.Add(time.Hour).Unix()}
	tok := ring.SignToken(c)

	if got, err := ring.ParseToken(tok, "user", now); err != nil || got.Sub != "u1" || got.Sid != "s1" {
		t.Fatalf("ParseToken = %+v, %v", got, err)
	}
	for name, bad := range map[string]string{
		"wrong type": "", "tampered": tok[:len(tok)-2] + "AA", "truncated": tok[:20], "empty": "",
	} {
		typ := "user"
		if name == "wrong type" {
			typ, bad = "session", tok
		}
		if _, err := ring.ParseToken(bad, typ, now); !core.Is(err, core.Unauthenticated) {
			t.Errorf("%s: err = %v, want Unauthenticated", name, err)
		}
	}
	if _, err := ring.ParseToken(tok, "user", now.Add(2*time.Hour)); !core.Is(err, core.Unauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: err = %v", err)
	}

	// Keys survive a restart: a new keyring from the same store verifies.
	again, _ := core.LoadKeyring(ctx, db, now)
	if _, err := again.ParseToken(tok, "user", now); err != nil {
		t.Fatalf("token rejected after reload: %v", err)
	}
	// After rotation the new key signs and the old token still verifies.
	if _, err := core.RotateKeys(ctx, db, now); err != nil {
		t.Fatal(err)
	}
	rotated, _ := core.LoadKeyring(ctx, db, now)
	if _, err := rotated.ParseToken(tok, "user", now); err != nil {
		t.Fatalf("old token rejected after rotation: %v", err)
	}
	fresh := rotated.SignToken(c)
	if fresh == tok || kid(fresh) == kid(tok) {
		t.Fatal("rotation did not change the signing key")
	}
	if _, err := ring.ParseToken(fresh, "user", now); err == nil {
		t.Fatal("the pre-rotation ring accepted a token of a key it never had")
	}
	// Once every signature of the retired key has expired, it is dropped.
	late := now.Add(core.MaxSignatureLifetime + time.Hour)
	pruned, _ := core.LoadKeyring(ctx, db, late)
	long := c
	long.Exp = late.Add(time.Hour).Unix()
	if _, err := pruned.ParseToken(ring.SignToken(long), "user", late); err == nil {
		t.Fatal("retired key still verifies after MaxSignatureLifetime")
	}
	if _, err := pruned.ParseToken(rotated.SignToken(long), "user", late); err != nil {
		t.Fatalf("current key dropped: %v", err)
	}
}

func kid(tok string) string { return strings.SplitN(tok, ".", 2)[0] }

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{" Ana@Example.COM ", "ana@example.com", true},
		{"owner@haul.localhost", "owner@haul.localhost", true},
		{"root@localhost", "root@localhost", true},
		{"no-at-sign", "", false},
		{"a@b", "", false},
		{"Ana <ana@example.com>", "", false},
		{"", "", false},
		{strings.Repeat("a", 250) + "@example.com", "", false},
	} {
		got, err := core.NormalizeEmail("test", "email", tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v", tc.in, got, err)
		}
		if err != nil && !core.Is(err, core.Invalid) {
			t.Errorf("NormalizeEmail(%q): kind %v, want Invalid", tc.in, core.KindOf(err))
		}
	}
}

func TestBootstrapOnce(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	ring, _ := core.LoadKeyring(ctx, db, time.Now())
	svc := core.NewService(core.Deps{Store: db, Keys: ring, Hasher: core.NewHasher(core.HashParams{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}, 1)})
	first, err := svc.Bootstrap(ctx, core.BootstrapRequest{TeamName: "Studio"})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.Email != core.GeneratedOwnerEmail || len(first.Password) < 20 {
		t.Fatalf("first bootstrap = %+v", first)
	}
	res, err := svc.Login(ctx, core.LoginRequest{Email: first.Email, Password: first.Password})
	if err != nil {
		t.Fatalf("generated login does not work: %v", err)
	}
	if !res.User.MustChangePassword || len(res.Teams) != 1 || res.Teams[0].Name != "Studio" {
		t.Fatalf("login = %+v", res)
	}
	second, err := svc.Bootstrap(ctx, core.BootstrapRequest{TeamName: "Other"})
	if err != nil || second.Created {
		t.Fatalf("second bootstrap = %+v, %v; want nothing done", second, err)
	}
}

func TestEveryActionHasWordsAndRoles(t *testing.T) {
	for _, a := range core.Actions() {
		if a.String() == string(a) {
			t.Errorf("action %s has no description for error messages", string(a))
		}
		if !core.Allowed(core.RoleOwner, a) {
			t.Errorf("the owner may not %s", a)
		}
	}
}
