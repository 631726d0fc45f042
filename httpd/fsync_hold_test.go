package httpd_test

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"sync"
	"testing"
	"time"

	"haul/store/chunk"
)

// holdFS is the real file layer whose fsyncs (File.Sync and SyncDir),
// once armed, wait until released: a disk that takes its time.
type holdFS struct {
	chunk.OSFS
	mu      sync.Mutex
	armed   bool
	held    chan string   // told the name of each fsync being held
	release chan struct{} // closed to let every held fsync go
	once    sync.Once
}

func newHoldFS() *holdFS {
	return &holdFS{held: make(chan string, 64), release: make(chan struct{})}
}

func (h *holdFS) arm() {
	h.mu.Lock()
	h.armed = true
	h.mu.Unlock()
}

func (h *holdFS) let() { h.once.Do(func() { close(h.release) }) }

func (h *holdFS) hold(name string) {
	h.mu.Lock()
	armed := h.armed
	h.mu.Unlock()
	if !armed {
		return
	}
	select {
	case h.held <- name:
	default:
	}
	<-h.release
}

func (h *holdFS) OpenFile(name string, flag int, perm fs.FileMode, direct bool) (chunk.File, bool, error) {
	f, d, err := h.OSFS.OpenFile(name, flag, perm, direct)
	if err != nil {
		return nil, d, err
	}
	return &holdFile{File: f, fs: h, name: name}, d, nil
}

func (h *holdFS) SyncDir(name string) error {
	h.hold(name)
	return h.OSFS.SyncDir(name)
}

type holdFile struct {
	chunk.File
	fs   *holdFS
	name string
}

func (f *holdFile) Sync() error {
	f.fs.hold(f.name)
	return f.File.Sync()
}

// WriteVAt keeps the store's vectored writes (O_DIRECT needs the aligned
// buffers it passes, not a joined copy).
func (f *holdFile) WriteVAt(bufs [][]byte, off int64) (int, error) {
	if vw, ok := f.File.(interface {
		WriteVAt([][]byte, int64) (int, error)
	}); ok {
		return vw.WriteVAt(bufs, off)
	}
	return f.File.WriteAt(bytes.Join(bufs, nil), off)
}

// TestControlPlaneDoesNotWaitOnFsync: while a part's upload is stuck in
// the chunk store's fsync, creating a package (and adding a file to it,
// and reading the teams) answers within a second; the part answers only
// once its fsync completes, and the file then finalizes with the right
// digest.
func TestControlPlaneDoesNotWaitOnFsync(t *testing.T) {
	hfs := newHoldFS()
	e := newEnv(t, func(o *envOptions) { o.chunkFS = hfs })
	t.Cleanup(hfs.let) // before the server's shutdown (cleanups run last first)
	o := e.owner()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "being uploaded")
	data := randomData(41, 2*testChunk)
	u := e.addFile(pid, ptok, "held.bin", data, testChunk)
	urls := u.partURLs(0, 2)
	// Part 1 goes through unheld (the segment files now exist); part 2's
	// fsync is the one held.
	etag1 := u.put(urls[0], 1)
	url := urls[1]

	hfs.arm()
	type answer struct {
		status int
		etag   string
		err    error
		at     time.Time
	}
	partDone := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("PUT", url, bytes.NewReader(u.part(2)))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			partDone <- answer{err: err}
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		partDone <- answer{status: res.StatusCode, etag: res.Header.Get("ETag"), at: time.Now()}
	}()
	select {
	case name := <-hfs.held:
		t.Logf("holding the fsync of %s", name)
	case a := <-partDone:
		t.Fatalf("the part answered (%+v) without an fsync", a)
	case <-time.After(10 * time.Second):
		t.Fatal("the part's upload never reached an fsync")
	}

	timed := func(what string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %v while a part's fsync was held, want < 1s", what, d)
		} else {
			t.Logf("%s: %v", what, d.Round(time.Microsecond))
		}
	}
	var pid2, ptok2 string
	timed("POST /v1/teams/{id}/packages", func() { pid2, ptok2 = e.newPackage(apiKey(o.APIKey), "created meanwhile") })
	timed("POST /v1/packages/{id}/files", func() {
		e.must(201, "POST", "/v1/packages/"+pid2+"/files", map[string]any{"kind": "file", "name": "later.bin", "size": 1 << 20},
			header("X-Package-Token", ptok2))
	})
	timed("GET /v1/teams", func() { e.must(200, "GET", "/v1/teams", nil, apiKey(o.APIKey)) })
	select {
	case a := <-partDone:
		t.Fatalf("the part answered (%+v) while its fsync was still held: not durable when acknowledged", a)
	default:
	}

	released := time.Now()
	hfs.let()
	var a answer
	select {
	case a = <-partDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the part did not answer after its fsync was released")
	}
	if a.err != nil || a.status != 200 || a.etag == "" || a.at.Before(released) {
		t.Fatalf("the part after the release: %+v", a)
	}
	if r := u.finalize([]string{etag1, a.etag}, len(data)); r.Status != 200 || r.Map(t)["digest"] != u.wantDigest() {
		t.Fatalf("finalize: %d %s; want digest %s", r.Status, r.Body, u.wantDigest())
	}
}
