package httpd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"haul/core"
	"haul/httpd"
	"haul/store/chunk"
	"haul/store/meta"
	"haul/store/s3chunk"
	"haul/store/s3chunk/s3test"
)

// Test owner of the bootstrap team.
const (
	ownerEmail    = "owner@studio.example"
	ownerPassword = "owner-password-1"
)

// cheapHash keeps argon2id but at a cost that lets tests log in often.
var cheapHash = core.HashParams{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a real haul server on loopback over a real Badger in a temp dir.
type env struct {
	t      testing.TB
	URL    string
	TeamID string
	Svc    *core.Service
	Meta   core.Store
	Chunks *chunk.Store
	Hasher *core.Hasher
	Logs   *syncBuffer
	client *http.Client
}

type envOptions struct {
	hash            core.HashParams
	hashConcurrency int           // 0 = 4
	hashMaxWait     time.Duration // 0 = the hasher's default
	auth            core.AuthConfig
	config          httpd.Config
	// uploads are the data plane's limits; newEnv lowers min_chunk_size to
	// 64 KiB (one block of the test chunk store) so tests use small parts,
	// and releases 5 blocks per transaction so deletions take many.
	uploads core.UploadConfig
	// space replaces the chunk store's free-space check (nil: the real
	// one); now is the service's clock (nil: time.Now).
	space core.SpaceChecker
	now   func() time.Time
	// chunkFS is the chunk store's file layer (nil: the real one), for
	// tests that hold or fail its operations.
	chunkFS chunk.FS
	// serveOn, when set, turns the test listener into the one served
	// (HTTPS) and gives the public URL; client then talks to it.
	serveOn func(ln net.Listener) (net.Listener, string)
	client  *http.Client
	// svcHook is given the Service once it exists (HTTPS decisions).
	svcHook func(*core.Service)
	// mailer sends mail (nil: mail off); outbox tunes retries.
	mailer     core.Mailer
	outbox     core.OutboxConfig
	hookClient *http.Client
	// s3, when set, keeps blocks in this S3 server (storage.backend =
	// "s3") instead of a local chunk store; env.Chunks is then nil.
	s3 *s3test.Server
}

func newEnv(t testing.TB, opts ...func(*envOptions)) *env {
	t.Helper()
	o := envOptions{hash: cheapHash, uploads: core.UploadConfig{MinChunkSize: 64 << 10, ReleaseBatch: 5}}
	for _, f := range opts {
		f(&o)
	}
	logs := &syncBuffer{}
	log := slog.New(httpd.LogHandler(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	db, err := meta.Open(t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	keys, err := core.LoadKeyring(ctx, db, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if o.hashConcurrency == 0 {
		o.hashConcurrency = 4
	}
	hasher := core.NewHasher(o.hash, o.hashConcurrency)
	hasher.SetMaxWait(o.hashMaxWait)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	var served net.Listener = ln
	if o.serveOn != nil {
		served, url = o.serveOn(ln)
	}
	var chunks *chunk.Store
	var store core.ChunkStore
	if o.s3 != nil {
		bucket := "env-" + strings.ToLower(core.NewID()[16:])
		objects, err := s3chunk.Open(ctx, s3chunk.Config{Endpoint: o.s3.Endpoint, Region: "us-east-1", Bucket: bucket, AccessKey: o.s3.AccessKey,
			SecretKey: o.s3.SecretKey, PathStyle: true, BlockSize: 64 << 10, Logger: log}, db)
		if err != nil {
			t.Fatal(err)
		}
		store = objects
	} else {
		chunks, err = chunk.Open(chunk.Config{Dirs: []string{t.TempDir()}, BlockSize: 64 << 10, DataShards: 4, ParityShards: 2, Logger: log, FS: o.chunkFS}, db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { chunks.Close() })
		store = chunks
	}
	svc := core.NewService(core.Deps{Store: db, Chunks: store, Keys: keys, Hasher: hasher, Logger: log, PublicURL: url, Auth: o.auth, Uploads: o.uploads,
		Space: o.space, Now: o.now, Mailer: o.mailer, Outbox: o.outbox, HookClient: o.hookClient, PortalDomain: o.config.PortalDomain})

	if o.svcHook != nil {
		o.svcHook(svc)
	}
	boot, err := svc.Bootstrap(ctx, core.BootstrapRequest{TeamName: "Studio", OwnerEmail: ownerEmail, OwnerPassword: ownerPassword})
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.config
	cfg.PublicURL = url
	cfg.Version = "test"
	srv := httpd.New(httpd.Deps{Config: cfg, Service: svc, Logger: log})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, served, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("closing db: %v", err)
		}
	})
	// The outbox (mail, webhooks) runs as under serve; it stops before the
	// store closes (cleanups run last-first).
	client := o.client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	outboxDone := make(chan struct{})
	go func() { defer close(outboxDone); svc.RunOutbox(ctx, 50*time.Millisecond) }()
	t.Cleanup(func() {
		// Idle keep-alive connections go first, so the server's graceful
		// shutdown has only real requests to wait for.
		client.CloseIdleConnections()
		cancel()
		<-outboxDone
	})
	return &env{t: t, URL: url, TeamID: boot.TeamID, Svc: svc, Meta: db, Chunks: chunks, Hasher: hasher, Logs: logs, client: client}
}

// resp is a decoded answer.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r resp) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// Map decodes an object body.
func (r resp) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// ErrMsg returns the first error message of a MASV error body.
func (r resp) ErrMsg(t testing.TB) string {
	t.Helper()
	var b struct {
		Code   int
		Errors []struct{ Code, Msg, Type string }
	}
	r.JSON(t, &b)
	if b.Code != r.Status || len(b.Errors) != 1 || b.Errors[0].Msg == "" {
		t.Fatalf("not a MASV error body for status %d: %s", r.Status, r.Body)
	}
	return b.Errors[0].Msg
}

// cred is one way to authenticate a request.
type cred struct {
	header, value string
}

func apiKey(k string) cred    { return cred{"X-API-KEY", k} }
func userToken(t string) cred { return cred{"X-User-Token", t} }
func header(k, v string) cred { return cred{k, v} }
func noCred() cred            { return cred{} }
func (c cred) set(h http.Header) {
	if c.header != "" {
		h.Set(c.header, c.value)
	}
}

// do sends a request; body is JSON-encoded unless it is a string or nil.
func (e *env) do(method, path string, body any, creds ...cred) resp {
	e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for _, c := range creds {
		c.set(req.Header)
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// must sends a request and fails unless the status is want.
func (e *env) must(want int, method, path string, body any, creds ...cred) resp {
	e.t.Helper()
	r := e.do(method, path, body, creds...)
	if r.Status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// login returns a user token.
func (e *env) login(email, password string) string {
	e.t.Helper()
	r := e.must(200, "POST", "/v1/auth", map[string]string{"email": email, "password": password})
	return r.Map(e.t)["token"].(string)
}

// person is a user of the bootstrap team with a role and every kind of
// credential.
type person struct {
	Email, Password string
	MemberID        string
	UserID          string
	Token           string
	APIKey          string // only for roles allowed to make keys
	Role            core.Role
}

// addPerson invites email with role (as the owner), accepts the
// invitation with a password and logs in.
func (e *env) addPerson(ownerToken, email string, role core.Role) *person {
	e.t.Helper()
	r := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/members", map[string]string{"email": email, "role": string(role), "name": string(role) + " person"}, userToken(ownerToken))
	inv := r.Map(e.t)
	url := inv["invitation_url"].(string)
	token := url[strings.LastIndex(url, "/")+1:]
	pw := "pw-" + email + "-long"
	e.must(200, "POST", "/v1/invitations/"+token+"/accept", map[string]string{"password": pw})
	p := &person{Email: email, Password: pw, MemberID: inv["id"].(string), UserID: inv["user_id"].(string), Role: role}
	p.Token = e.login(email, pw)
	if core.Allowed(role, core.ActAPIKeyOwn) {
		k := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/api_keys", map[string]string{"name": string(role) + " key", "state": "active"}, userToken(p.Token))
		p.APIKey = k.Map(e.t)["key"].(string)
	}
	return p
}

// owner returns the bootstrap owner as a person.
func (e *env) owner() *person {
	e.t.Helper()
	tok := e.login(ownerEmail, ownerPassword)
	r := e.must(200, "GET", "/v1/users/me", nil, userToken(tok))
	var me struct {
		ID    string `json:"id"`
		Teams []struct {
			MemberID string `json:"member_id"`
		} `json:"teams"`
	}
	r.JSON(e.t, &me)
	k := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/api_keys", map[string]string{"name": "owner key"}, userToken(tok))
	return &person{Email: ownerEmail, Password: ownerPassword, Token: tok, UserID: me.ID, MemberID: me.Teams[0].MemberID,
		APIKey: k.Map(e.t)["key"].(string), Role: core.RoleOwner}
}
