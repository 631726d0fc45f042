package client_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"haul/client"
	"haul/core"
	"haul/httpd"
	"haul/store/chunk"
	"haul/store/meta"
)

// uploadServer starts a real haul with a chunk store (64 KiB blocks) whose
// minimum chunk size is lowered to 64 KiB, and returns its URL, team id
// and an owner API key.
func uploadServer(t *testing.T) (string, string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := meta.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := core.LoadKeyring(ctx, db, time.Now())
	chunks, err := chunk.Open(chunk.Config{Dirs: []string{t.TempDir()}, BlockSize: 64 << 10, DataShards: 4, ParityShards: 2}, db)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	svc := core.NewService(core.Deps{Store: db, Chunks: chunks, Keys: keys, PublicURL: url, Uploads: core.UploadConfig{MinChunkSize: 64 << 10},
		Hasher: core.NewHasher(core.HashParams{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}, 2)})
	boot, err := svc.Bootstrap(ctx, core.BootstrapRequest{TeamName: "Studio", OwnerEmail: "owner@studio.example", OwnerPassword: "owner-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- httpd.New(httpd.Deps{Service: svc, Config: httpd.Config{PublicURL: url}}).Serve(ctx, ln, 5*time.Second)
	}()
	t.Cleanup(func() { cancel(); <-done; chunks.Close(); db.Close() })
	c := client.New(url)
	if _, err := c.Login(ctx, "owner@studio.example", "owner-password-1"); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateAPIKey(ctx, boot.TeamID, "uploads", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return url, boot.TeamID, k.Key
}

// flaky fails the first attempt of every other part PUT with a network
// error, after sending part of the body, to exercise the client's retries.
type flaky struct {
	next  http.RoundTripper
	mu    sync.Mutex
	seen  map[string]bool
	fails atomic.Int32
}

func (f *flaky) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == "PUT" && strings.Contains(req.URL.RawQuery, "partNumber=") {
		key := req.URL.Query().Get("partNumber")
		f.mu.Lock()
		first := !f.seen[key]
		f.seen[key] = true
		f.mu.Unlock()
		if first && key[len(key)-1]%2 == 0 {
			f.fails.Add(1)
			return nil, &net.OpError{Op: "write", Net: "tcp", Err: errors.New("connection reset by peer (injected)")}
		}
	}
	return f.next.RoundTrip(req)
}

func TestClientUpload(t *testing.T) {
	ctx := context.Background()
	url, teamID, key := uploadServer(t)
	c := client.New(url)
	c.APIKey = key
	pkg, err := c.CreatePackage(ctx, teamID, client.CreatePackageRequest{Name: "from the client", Recipients: []string{"editor@post.example"}})
	if err != nil || pkg.AccessToken == "" || pkg.State != "new" {
		t.Fatalf("CreatePackage = %+v, %v", pkg, err)
	}
	data := make([]byte, 5*(256<<10)+12345)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	ft := &flaky{next: http.DefaultTransport, seen: map[string]bool{}}
	c.HTTP = &http.Client{Transport: ft}
	f, err := c.UploadFileWith(ctx, pkg.AccessToken, pkg.ID, "clip.mov", "reel 1", bytes.NewReader(data), int64(len(data)), 256<<10, 3,
		client.UploadOptions{RetryWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := blake3.Sum256(data)
	if f.Digest != hex.EncodeToString(want[:]) || f.Size != int64(len(data)) || f.State != "finalized" {
		t.Errorf("uploaded file = %+v, want digest %x", f, want)
	}
	if ft.fails.Load() == 0 {
		t.Error("no failure was injected")
	}
	// An empty file takes one empty part.
	if e, err := c.UploadFile(ctx, pkg.AccessToken, pkg.ID, "empty.txt", "", bytes.NewReader(nil), 0, 0, 2); err != nil ||
		e.Digest != "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" {
		t.Errorf("empty file = %+v, %v", e, err)
	}
	done, err := c.FinalizePackage(ctx, pkg.AccessToken, pkg.ID)
	if err != nil || done.State != "finalized" || done.TotalFiles != 2 || done.Size != int64(len(data)) {
		t.Fatalf("FinalizePackage = %+v, %v", done, err)
	}
	files, err := c.Files(ctx, pkg.AccessToken, pkg.ID)
	if err != nil || len(files) != 3 || files[0].Path != "reel 1" || files[0].Digest != f.Digest || files[2].Kind != "zip_windows" {
		t.Errorf("Files = %+v, %v", files, err)
	}
	// A finalized package takes no more files: a 409 is not retried
	// forever, and the message says why.
	_, err = c.UploadFile(ctx, pkg.AccessToken, pkg.ID, "late.mov", "", bytes.NewReader(data[:10]), 10, 0, 1)
	if client.StatusOf(err) != 409 || !strings.Contains(err.Error(), "finalized") {
		t.Errorf("upload to a finalized package: %v", err)
	}
	if err := c.DeletePackage(ctx, pkg.AccessToken, pkg.ID); err != nil {
		t.Fatal(err)
	}
}

// broken fails every PUT of the given part numbers, and counts the parts
// stored.
type broken struct {
	next  http.RoundTripper
	parts map[string]bool
	puts  atomic.Int32
}

func (b *broken) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == "PUT" {
		if b.parts[req.URL.Query().Get("partNumber")] {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("network unreachable (injected)")}
		}
		res, err := b.next.RoundTrip(req)
		if err == nil && res.StatusCode == 200 {
			b.puts.Add(1) // a part the server stored
		}
		return res, err
	}
	return b.next.RoundTrip(req)
}

func TestClientResumeUpload(t *testing.T) {
	ctx := context.Background()
	url, teamID, key := uploadServer(t)
	c := client.New(url)
	c.APIKey = key
	pkg, err := c.CreatePackage(ctx, teamID, client.CreatePackageRequest{Name: "resumed"})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 6*(64<<10)+999)
	r := rand.New(rand.NewPCG(8, 8))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	var up client.Upload
	bt := &broken{next: http.DefaultTransport, parts: map[string]bool{"3": true, "6": true}}
	c.HTTP = &http.Client{Transport: bt}
	_, err = c.UploadFileWith(ctx, pkg.AccessToken, pkg.ID, "resumed.bin", "", bytes.NewReader(data), int64(len(data)), 64<<10, 1,
		client.UploadOptions{Retries: 1, RetryWait: time.Millisecond, OnStart: func(u client.Upload) { up = u }})
	if err == nil || up.UploadID == "" {
		t.Fatalf("upload with parts 3 and 6 unreachable: err %v, upload %+v", err, up)
	}
	// A new process resumes: only the parts the server lacks travel.
	ok := &broken{next: http.DefaultTransport}
	c.HTTP = &http.Client{Transport: ok}
	f, err := c.ResumeUpload(ctx, pkg.AccessToken, up, bytes.NewReader(data), int64(len(data)), 2, client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := blake3.Sum256(data)
	if f.Digest != hex.EncodeToString(want[:]) {
		t.Errorf("resumed digest %s, want %x", f.Digest, want)
	}
	stored := int32(7) - bt.puts.Load() // 7 parts; the first run stored some before it stopped
	if got := ok.puts.Load(); got != stored {
		t.Errorf("resume sent %d parts, want the %d missing ones", got, stored)
	}
}

// stalling is a transport whose first part PUT takes a little of the body
// and then stops reading it (a server that hangs mid-upload) until the
// request is given up.
type stalling struct {
	next   http.RoundTripper
	once   sync.Once
	stalls atomic.Int32
}

func (s *stalling) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == "PUT" && strings.Contains(req.URL.RawQuery, "partNumber=") {
		first := false
		s.once.Do(func() { first = true })
		if first {
			s.stalls.Add(1)
			buf := make([]byte, 4096)
			req.Body.Read(buf)
			<-req.Context().Done()
			return nil, req.Context().Err()
		}
	}
	return s.next.RoundTrip(req)
}

// TestClientUploadStall: a part whose body the server stops taking is
// given up after StallTimeout and sent again; the file arrives whole. A
// slow server that answers after the whole body is not a stall.
func TestClientUploadStall(t *testing.T) {
	ctx := context.Background()
	url, teamID, key := uploadServer(t)
	c := client.New(url)
	c.APIKey = key
	pkg, err := c.CreatePackage(ctx, teamID, client.CreatePackageRequest{Name: "stalled"})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3*(256<<10))
	r := rand.New(rand.NewPCG(9, 9))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	st := &stalling{next: http.DefaultTransport}
	c.HTTP = &http.Client{Transport: st}
	start := time.Now()
	f, err := c.UploadFileWith(ctx, pkg.AccessToken, pkg.ID, "take.mov", "", bytes.NewReader(data), int64(len(data)), 256<<10, 2,
		client.UploadOptions{RetryWait: 10 * time.Millisecond, StallTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := blake3.Sum256(data)
	if f.Digest != hex.EncodeToString(want[:]) || st.stalls.Load() != 1 {
		t.Fatalf("digest %s (want %x), %d stalls", f.Digest, want, st.stalls.Load())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the stalled part took %v to be retried", d)
	}
}
