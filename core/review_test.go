package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"haul/core"
	"haul/store/meta"
)

// clock is a settable time source for Deps.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// spyStore wraps a core.Store: it counts Updates and events added, and
// can run a hook before the next Update.
type spyStore struct {
	core.Store
	updates      atomic.Int64
	events       atomic.Int64
	systemEvents atomic.Int64
	mu           sync.Mutex
	beforeUpdate func()
	// afterFn, when set, runs inside every Update after its function
	// (before the commit).
	afterFn func()
}

func (s *spyStore) Update(ctx context.Context, fn func(core.Tx) error) error {
	s.mu.Lock()
	hook := s.beforeUpdate
	s.beforeUpdate = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	s.updates.Add(1)
	return s.Store.Update(ctx, func(tx core.Tx) error {
		err := fn(spyTx{tx, s})
		s.mu.Lock()
		after := s.afterFn
		s.mu.Unlock()
		if after != nil {
			after()
		}
		return err
	})
}

// barrier returns a function that blocks its first n callers until all n
// have arrived (or a while has passed) and lets later callers through.
func barrier(n int) func() {
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	return func() {
		mu.Lock()
		arrived++
		if arrived == n {
			close(all)
		}
		first := arrived <= n
		mu.Unlock()
		if first {
			select {
			case <-all:
			case <-time.After(5 * time.Second):
			}
		}
	}
}

type spyTx struct {
	core.Tx
	s *spyStore
}

func (t spyTx) AddEvent(e *core.Event) error {
	t.s.events.Add(1)
	if e.TeamID == core.SystemEvents {
		t.s.systemEvents.Add(1)
	}
	return t.Tx.AddEvent(e)
}

// fixture is a Service over a real store with the first team made.
type fixture struct {
	svc    *core.Service
	db     *meta.DB
	spy    *spyStore
	clock  *clock
	hasher *core.Hasher
	teamID string
	owner  core.User
}

const (
	fixOwner    = "owner@studio.example"
	fixPassword = "owner-password-1"
)

func newFixture(t *testing.T, auth core.AuthConfig) *fixture {
	t.Helper()
	ctx := context.Background()
	db := openStore(t)
	ring, err := core.LoadKeyring(ctx, db, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, spy: &spyStore{Store: db}, clock: &clock{t: time.Now().UTC().Truncate(time.Millisecond)},
		hasher: core.NewHasher(core.HashParams{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}, 2)}
	f.svc = core.NewService(core.Deps{Store: f.spy, Keys: ring, Hasher: f.hasher, Now: f.clock.Now, Auth: auth})
	boot, err := f.svc.Bootstrap(ctx, core.BootstrapRequest{TeamName: "Studio", OwnerEmail: fixOwner, OwnerPassword: fixPassword})
	if err != nil {
		t.Fatal(err)
	}
	f.teamID = boot.TeamID
	res, err := f.svc.Login(ctx, core.LoginRequest{Email: fixOwner, Password: fixPassword})
	if err != nil {
		t.Fatal(err)
	}
	f.owner = res.User
	return f
}

func (f *fixture) ownerPrincipal() *core.Principal {
	return &core.Principal{User: f.owner, Via: core.ViaUserToken}
}

// TestHasherWaitIsBounded: with every slot taken by a slow hash, a check
// whose context never ends (as a request's does not) gives up after the
// hasher's max wait with Unavailable and a Retry-After.
func TestHasherWaitIsBounded(t *testing.T) {
	h := core.NewHasher(core.HashParams{MemoryKiB: 64 * 1024, Time: 8, Threads: 1}, 1)
	const maxWait = 100 * time.Millisecond
	h.SetMaxWait(maxWait)
	enc, err := h.Hash(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); h.Check(context.Background(), enc, "x") }()
	defer func() { <-done }()
	for h.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	_, err = h.Check(context.Background(), enc, "x")
	took := time.Since(start)
	if !core.Is(err, core.Unavailable) {
		t.Fatalf("second concurrent check: err = %v after %v, want Unavailable", err, took)
	}
	var ce *core.Error
	if !errors.As(err, &ce) || ce.RetryAfter < 1 {
		t.Fatalf("Unavailable without a Retry-After: %#v", err)
	}
	if took < maxWait-10*time.Millisecond || took > maxWait+2*time.Second {
		t.Fatalf("gave up after %v, want about the max wait %v", took, maxWait)
	}
}

// TestLimiterHardCap: ten times the cap of distinct keys leave at most
// cap buckets, quickly (no scan of the whole map per new key).
func TestLimiterHardCap(t *testing.T) {
	const maxKeys = 5000
	l := core.NewLimiterSize(3, 1, maxKeys)
	now := time.Unix(1000, 0)
	start := time.Now()
	for i := range 10 * maxKeys {
		if ok, _ := l.Allow(fmt.Sprintf("ip:198.51.%d.%d", i/256, i%256), now); !ok {
			t.Fatalf("a new key was refused at %d", i)
		}
		if n := l.Len(); n > maxKeys {
			t.Fatalf("after %d keys the limiter holds %d buckets, over its cap of %d", i+1, n, maxKeys)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("%d new keys took %v", 10*maxKeys, took)
	}
	// Buckets that refilled go first: a key still limited survives a wave
	// of new keys when refilled ones are there to evict.
	l = core.NewLimiterSize(1, 1, 100)
	l.Allow("hot", now)
	for i := range 99 {
		l.Allow(fmt.Sprintf("idle-%d", i), now.Add(-time.Hour))
	}
	for i := range 50 {
		l.Allow(fmt.Sprintf("new-%d", i), now)
	}
	if ok, _ := l.Allow("hot", now); ok {
		t.Fatal("the limited key was evicted while refilled buckets were there")
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                "ip:192.0.2.7",
		"::ffff:192.0.2.7":         "ip:192.0.2.7",
		"2001:db8:1:2:3:4:5:6":     "ip:2001:db8:1:2::/64",
		"2001:db8:1:2::ffff":       "ip:2001:db8:1:2::/64",
		"fe80::1%eth0":             "ip:fe80::/64",
		"not an address":           "ip:not an address",
		"2001:db8:1:3:0:0:0:1":     "ip:2001:db8:1:3::/64",
		"2001:0db8:0001:0002::abc": "ip:2001:db8:1:2::/64",
	} {
		if got := core.ClientKey(in); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLoginLimitPerIPv6Slash64: addresses of one /64 share the login
// limit; another /64 has its own.
func TestLoginLimitPerIPv6Slash64(t *testing.T) {
	f := newFixture(t, core.AuthConfig{LoginIPBurst: 2, LoginIPPerMinute: 1, LoginAccountBurst: 100, LoginAccountPerMinute: 100})
	ctx := context.Background()
	try := func(ip string) error {
		_, err := f.svc.Login(ctx, core.LoginRequest{Email: "nobody@studio.example", Password: "wrong-password", ClientIP: ip})
		return err
	}
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if err := try(ip); !core.Is(err, core.Unauthenticated) {
			t.Fatalf("%s: %v, want Unauthenticated", ip, err)
		}
	}
	if err := try("2001:db8:1:2:ffff::3"); !core.Is(err, core.RateLimited) {
		t.Fatalf("third address of the /64: %v, want RateLimited", err)
	}
	if err := try("2001:db8:1:3::1"); !core.Is(err, core.Unauthenticated) {
		t.Fatalf("another /64: %v, want Unauthenticated", err)
	}
}

// TestFailedLoginSameWork: a failed login writes to the store, once,
// whether the email has an account or not, so timing does not tell.
func TestFailedLoginSameWork(t *testing.T) {
	f := newFixture(t, core.AuthConfig{})
	ctx := context.Background()
	for _, email := range []string{fixOwner, "nobody@studio.example"} {
		u, e, sys := f.spy.updates.Load(), f.spy.events.Load(), f.spy.systemEvents.Load()
		_, err := f.svc.Login(ctx, core.LoginRequest{Email: email, Password: "wrong-password-1", ClientIP: "192.0.2.1"})
		if !core.Is(err, core.Unauthenticated) {
			t.Fatalf("%s: %v", email, err)
		}
		if got := f.spy.updates.Load() - u; got != 1 {
			t.Errorf("%s: %d store updates, want 1", email, got)
		}
		if got := f.spy.systemEvents.Load() - sys; got != 1 {
			t.Errorf("%s: %d system events, want 1", email, got)
		}
		if got := f.spy.events.Load() - e; got < 1 {
			t.Errorf("%s: no event written", email)
		}
	}
	err := f.db.View(ctx, func(tx core.Tx) error {
		evs, total, err := tx.Events(core.EventQuery{TeamID: core.SystemEvents})
		if err != nil {
			return err
		}
		if total != 2 || evs[0].ActorEmail != "nobody@studio.example" || evs[1].ActorEmail != fixOwner || evs[0].Type != core.EvLoginFailed {
			t.Errorf("system events = %d: %+v", total, evs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestChangePasswordStaleCheck: when the stored password changes between
// the check of the current password and the update, the change is refused
// with Conflict and the other change stays.
func TestChangePasswordStaleCheck(t *testing.T) {
	f := newFixture(t, core.AuthConfig{})
	ctx := context.Background()
	if _, err := f.svc.ResetPassword(ctx, fixOwner, "reset-by-admin-1"); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Login(ctx, core.LoginRequest{Email: fixOwner, Password: "reset-by-admin-1"})
	if err != nil {
		t.Fatal(err)
	}
	p := &core.Principal{User: res.User, Via: core.ViaUserToken}
	f.spy.mu.Lock()
	f.spy.beforeUpdate = func() {
		// Someone else changes the password after ChangePassword checked
		// the current one.
		if _, err := f.svc.ResetPassword(ctx, fixOwner, "changed-meanwhile-1"); err != nil {
			t.Error(err)
		}
	}
	f.spy.mu.Unlock()
	err = f.svc.ChangePassword(ctx, p, "reset-by-admin-1", "my-new-password-1")
	if !core.Is(err, core.Conflict) || !strings.Contains(err.Error(), "password changed meanwhile; try again") {
		t.Fatalf("ChangePassword = %v, want Conflict", err)
	}
	if _, err := f.svc.Login(ctx, core.LoginRequest{Email: fixOwner, Password: "changed-meanwhile-1"}); err != nil {
		t.Fatalf("the other change was lost: %v", err)
	}
	if _, err := f.svc.Login(ctx, core.LoginRequest{Email: fixOwner, Password: "my-new-password-1"}); !core.Is(err, core.Unauthenticated) {
		t.Fatalf("the refused change took effect: %v", err)
	}
}

func sessionExists(t *testing.T, db *meta.DB, id string) bool {
	t.Helper()
	found := false
	err := db.View(context.Background(), func(tx core.Tx) error {
		_, err := tx.Session(id)
		if core.Is(err, core.NotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func sessionID(t *testing.T, f *fixture, token string, at time.Time) string {
	t.Helper()
	c, err := f.svc.Keys().ParseToken(token, "user", at)
	if err != nil {
		t.Fatal(err)
	}
	return c.Sid
}

// TestExpiredSessionDeletedOnLookup: presenting the token of an expired
// session fails and deletes the session.
func TestExpiredSessionDeletedOnLookup(t *testing.T) {
	f := newFixture(t, core.AuthConfig{TokenTTL: time.Hour})
	ctx := context.Background()
	res, err := f.svc.Login(ctx, core.LoginRequest{Email: fixOwner, Password: fixPassword})
	if err != nil {
		t.Fatal(err)
	}
	sid := sessionID(t, f, res.Token, f.clock.Now())
	if _, err := f.svc.Authenticate(ctx, core.Credentials{UserToken: res.Token}); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Hour + 2*time.Second)
	_, err = f.svc.Authenticate(ctx, core.Credentials{UserToken: res.Token})
	if !core.Is(err, core.Unauthenticated) || !strings.Contains(err.Error(), "log in again") {
		t.Fatalf("expired token: %v", err)
	}
	if sessionExists(t, f.db, sid) {
		t.Fatal("the expired session is still stored after its token was refused")
	}
}

// TestPurgeSessions deletes expired sessions only; the sweeper does it at
// once when started and stops with its context.
func TestPurgeSessions(t *testing.T) {
	f := newFixture(t, core.AuthConfig{TokenTTL: time.Hour, SessionTTL: 3 * time.Hour})
	ctx := context.Background()
	login := func(kind core.SessionKind) string {
		t.Helper()
		res, err := f.svc.Login(ctx, core.LoginRequest{Email: fixOwner, Password: fixPassword, Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		typ := "user"
		if kind == core.SessionCookie {
			typ = "session"
		}
		c, err := f.svc.Keys().ParseToken(res.Token, typ, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c.Sid
	}
	early := login(core.SessionToken) // expires at +1h
	cookie := login(core.SessionCookie)
	f.clock.Add(30 * time.Minute)
	later := login(core.SessionToken) // expires at +1h30
	// The fixture's own login, made at the start, expires at +1h too.
	n, err := f.svc.PurgeSessions(ctx, f.clock.Now().Add(45*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("PurgeSessions = %d, %v; want 2 (the fixture's login and early)", n, err)
	}
	if sessionExists(t, f.db, early) || !sessionExists(t, f.db, later) || !sessionExists(t, f.db, cookie) {
		t.Fatal("PurgeSessions deleted the wrong sessions")
	}
	if n, err := f.svc.PurgeSessions(ctx, f.clock.Now()); err != nil || n != 0 {
		t.Fatalf("nothing expired: PurgeSessions = %d, %v", n, err)
	}

	f.clock.Add(2 * time.Hour) // later has expired, cookie not
	sweepCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); f.svc.RunSessionSweeper(sweepCtx, time.Hour) }()
	deadline := time.Now().Add(10 * time.Second)
	for sessionExists(t, f.db, later) {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not purge at start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the sweeper did not stop with its context")
	}
	if !sessionExists(t, f.db, cookie) {
		t.Fatal("the sweeper deleted a live session")
	}
}

// TestConcurrentTeamspaceCreates: of concurrent creates of one name in one
// team, exactly one succeeds; the others are told the name exists.
func TestConcurrentTeamspaceCreates(t *testing.T) {
	f := newFixture(t, core.AuthConfig{})
	ctx := context.Background()
	p := f.ownerPrincipal()
	const n = 8
	// Every create reads and writes before any commits: the race is
	// certain, not left to the scheduler.
	f.spy.mu.Lock()
	f.spy.afterFn = barrier(n)
	f.spy.mu.Unlock()
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			name := "Dailies"
			if i%2 == 1 {
				name = "DAILIES"
			}
			_, err := f.svc.CreateTeamspace(ctx, p, f.teamID, name, nil)
			errs <- err
		}()
	}
	close(start)
	ok := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case !core.Is(err, core.Exists):
			t.Errorf("err = %v, want nil or Exists", err)
		}
	}
	f.spy.mu.Lock()
	f.spy.afterFn = nil
	f.spy.mu.Unlock()
	spaces, total, err := f.svc.Teamspaces(ctx, p, f.teamID, core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || total != 1 {
		t.Fatalf("%d creates succeeded and %d teamspaces exist (%+v), want 1 and 1", ok, total, spaces)
	}
}

// TestNegativePage: a page that overflowed to a negative offset is
// refused, not sliced.
func TestNegativePage(t *testing.T) {
	f := newFixture(t, core.AuthConfig{})
	ctx := context.Background()
	p := f.ownerPrincipal()
	if _, err := f.svc.CreateTeamspace(ctx, p, f.teamID, "Color", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Teamspaces(ctx, p, f.teamID, core.Page{Offset: -20, Limit: 20}); !core.Is(err, core.Invalid) {
		t.Fatalf("teamspaces at a negative offset: %v, want Invalid", err)
	}
	if _, _, err := f.svc.Events(ctx, p, f.teamID, nil, core.Page{Offset: -20, Limit: 20}); !core.Is(err, core.Invalid) {
		t.Fatalf("events at a negative offset: %v, want Invalid", err)
	}
}

// TestMustChangePasswordEnforced: a user with a generated password may
// read their profile, change the password and log out; everything else is
// refused until they do.
func TestMustChangePasswordEnforced(t *testing.T) {
	f := newFixture(t, core.AuthConfig{})
	ctx := context.Background()
	generated, err := f.svc.ResetPassword(ctx, fixOwner, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Login(ctx, core.LoginRequest{Email: fixOwner, Password: generated})
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Authenticate(ctx, core.Credentials{UserToken: res.Token})
	if err != nil {
		t.Fatal(err)
	}
	const msg = "you must change the generated password first: PUT /v1/users/me/password"
	refused := func(what string, err error) {
		t.Helper()
		if !core.Is(err, core.Forbidden) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want Forbidden %q", what, err, msg)
		}
	}
	_, err = f.svc.Teams(ctx, p)
	refused("Teams", err)
	_, err = f.svc.Team(ctx, p, f.teamID)
	refused("Team", err)
	_, err = f.svc.CreateTeamspace(ctx, p, f.teamID, "Nope", nil)
	refused("CreateTeamspace", err)
	_, err = f.svc.CreateAPIKey(ctx, p, f.teamID, core.APIKeyRequest{Name: "k"})
	refused("CreateAPIKey", err)
	name := "Changed"
	_, err = f.svc.UpdateProfile(ctx, p, core.ProfileUpdate{Name: &name})
	refused("UpdateProfile", err)
	if pr, err := f.svc.GetProfile(ctx, p); err != nil || !pr.User.MustChangePassword {
		t.Fatalf("GetProfile = %+v, %v", pr, err)
	}

	if err := f.svc.ChangePassword(ctx, p, generated, "my-own-password-1"); err != nil {
		t.Fatal(err)
	}
	p, err = f.svc.Authenticate(ctx, core.Credentials{UserToken: res.Token})
	if err != nil {
		t.Fatalf("the session that changed the password ended: %v", err)
	}
	if teams, err := f.svc.Teams(ctx, p); err != nil || len(teams) != 1 {
		t.Fatalf("after the change: Teams = %v, %v", teams, err)
	}
	if err := f.svc.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
}
