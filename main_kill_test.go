//go:build !race

// Multi-GB tests: too slow under the race detector. `make test` runs them
// in a second, race-free pass (go test -run 'Kill' .).

package main

import (
	"context"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"haul/client"
	"haul/core"
)

// genData is size bytes of seeded pseudo-random data served by offset
// (an io.ReaderAt, so the client can send parts in parallel), made on the
// fly from a 32 MiB random pool: each 4 KiB page is a slice of the pool
// chosen by its index, its first 8 bytes stamped with the index and the
// seed, so no two pages (and no two blocks) of any two files are equal.
// It writes nothing to disk and reads at memory speed.
type genData struct {
	pool []byte
	size int64
	salt uint64
}

var genDataPool = sync.OnceValue(func() []byte {
	b := make([]byte, 32<<20)
	_, _ = rand.NewChaCha8([32]byte{'h', 'a', 'u', 'l'}).Read(b)
	return b
})

func newGenData(seed uint64, size int64) *genData {
	return &genData{pool: genDataPool(), size: size, salt: seed << 44}
}

func (g *genData) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.size {
		return 0, io.EOF
	}
	n, short := len(p), false
	if int64(n) > g.size-off {
		n, short = int(g.size-off), true
	}
	span := int64(len(g.pool) - 8192)
	for done := 0; done < n; {
		pos := off + int64(done)
		page, in := pos/4096, int(pos%4096)
		src := int(((page + int64(g.salt>>44)*7919) * 4099) % span)
		c := copy(p[done:n], g.pool[src+in:src+4096])
		stamp := uint64(page) ^ g.salt
		for j := in; j < 8 && j-in < c; j++ {
			p[done+j-in] ^= byte(stamp >> (8 * j))
		}
		done += c
	}
	if short {
		return n, io.EOF
	}
	return n, nil
}

// digest is the BLAKE3-256 of the whole data.
func (g *genData) digest() [32]byte {
	h := blake3.New()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < g.size; off += int64(len(buf)) {
		n, _ := g.ReadAt(buf[:min(int64(len(buf)), g.size-off)], off)
		h.Write(buf[:n])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// b3sum returns what the b3sum command prints for the data, or "" when it
// is not installed.
func (g *genData) b3sum(t *testing.T) string {
	t.Helper()
	exe, err := exec.LookPath("b3sum")
	if err != nil {
		return ""
	}
	cmd := exec.Command(exe, "--no-names")
	cmd.Stdin = io.NewSectionReader(g, 0, g.size)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("b3sum: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// partWatch is a transport that records the parts the server answered
// 200 to (durable, by the data plane's contract) with their ETags.
type partWatch struct {
	next http.RoundTripper

	mu    sync.Mutex
	acked map[int]string
	puts  int
}

func newPartWatch() *partWatch {
	return &partWatch{next: http.DefaultTransport.(*http.Transport).Clone(), acked: map[int]string{}}
}

func (w *partWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	n, perr := strconv.Atoi(req.URL.Query().Get("partNumber"))
	res, err := w.next.RoundTrip(req)
	if req.Method == "PUT" && perr == nil && err == nil && res.StatusCode == 200 {
		w.mu.Lock()
		w.acked[n] = res.Header.Get("ETag")
		w.puts++
		w.mu.Unlock()
	}
	return res, err
}

// snapshot returns the parts acknowledged so far and how many PUTs were.
func (w *partWatch) snapshot() (map[int]string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[int]string, len(w.acked))
	for k, v := range w.acked {
		out[k] = v
	}
	return out, w.puts
}

// listParts asks a server for an upload's durable parts (S3 ListParts on
// the signed URL haul hands out) and returns their ETags by part number.
func listParts(t *testing.T, base, packageToken string, up client.Upload) map[int]string {
	t.Helper()
	var urls struct {
		ListParts struct{ URL, Method string } `json:"list_parts"`
	}
	if st := do(t, "GET", base+"/v1/packages/"+up.PackageID+"/files/"+up.FileID+"/uploads/"+up.UploadID, "X-Package-Token", packageToken, "", &urls); st != 200 {
		t.Fatalf("upload URLs: status %d", st)
	}
	req, _ := http.NewRequest(urls.ListParts.Method, urls.ListParts.URL, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var x struct {
		Parts []struct {
			PartNumber int
			ETag       string
		} `xml:"Part"`
	}
	if res.StatusCode != 200 || xml.Unmarshal(body, &x) != nil {
		t.Fatalf("ListParts: status %d: %s", res.StatusCode, body)
	}
	out := map[int]string{}
	for _, p := range x.Parts {
		out[p.PartNumber] = p.ETag
	}
	return out
}

// TestKillDuringUploadResumes is the packages issue's "done when": a
// multi-GB upload through the real binary is cut by SIGKILL with some
// parts durable and others in flight; after a restart on the same data
// directory every part the server had acknowledged is still listed, the
// client resumes by sending only the others, and the finalized file's
// digest equals the BLAKE3 (b3sum) of the source. The bytes are then read
// back from the stopped server's store and hashed again.
//
// HAUL_KILL_MIB sets the file's size (default 2048).
func TestKillDuringUploadResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-GB upload through child processes")
	}
	size := int64(2 << 30)
	if v, err := strconv.ParseInt(os.Getenv("HAUL_KILL_MIB"), 10, 64); err == nil && v > 0 {
		size = v << 20
	}
	const chunkSize = 64 << 20
	nParts := int((size + chunkSize - 1) / chunkSize)
	src := newGenData(1, size)
	wantC := make(chan [32]byte, 1)
	go func() { wantC <- src.digest() }()

	const email, password = "boss@studio.example", "boss-password-1"
	owner := []string{"HAUL_BOOTSTRAP_OWNER_EMAIL=" + email, "HAUL_BOOTSTRAP_OWNER_PASSWORD=" + password}
	data := filepath.Join(t.TempDir(), "data")
	p := startServe(t, data, owner...)
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Minute)
	defer stop()
	c := client.New(p.url)
	if _, err := c.Login(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	teams, err := c.Teams(ctx)
	if err != nil || len(teams) != 1 {
		t.Fatalf("teams: %v, %v", teams, err)
	}
	pkg, err := c.CreatePackage(ctx, teams[0].ID, client.CreatePackageRequest{Name: "killed mid-upload"})
	if err != nil {
		t.Fatal(err)
	}

	// Upload with 4 parts in flight until a third of the parts are
	// acknowledged, then SIGKILL the server.
	began := time.Now()
	watch := newPartWatch()
	c.HTTP = &http.Client{Transport: watch}
	upCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var up client.Upload
	done := make(chan error, 1)
	go func() {
		_, err := c.UploadFileWith(upCtx, pkg.AccessToken, pkg.ID, "reel.mov", "dailies", src, size, chunkSize, 4,
			client.UploadOptions{RetryWait: 50 * time.Millisecond, OnStart: func(u client.Upload) { up = u }})
		done <- err
	}()
	killAt := max(1, nParts/3)
	giveUp := time.After(2 * time.Minute)
	for {
		acked, _ := watch.snapshot()
		if len(acked) >= killAt {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the upload ended before the kill (%d parts acknowledged): %v", len(acked), err)
		case <-giveUp:
			t.Fatalf("only %d of %d parts acknowledged after 2 minutes; server log:\n%s", len(acked), nParts, p.stderr.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	killed := time.Now()
	acked, _ := watch.snapshot()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the upload succeeded although the server was killed")
	}
	if up.UploadID == "" {
		t.Fatal("the client never reported the upload")
	}
	if len(acked) >= nParts {
		t.Fatalf("every part was acknowledged before the kill; nothing left to resume")
	}
	t.Logf("SIGKILL after %v with %d of %d parts of %d MiB acknowledged", killed.Sub(began).Round(time.Millisecond), len(acked), nParts, chunkSize>>20)

	// Restart on the same data directory: what was acknowledged is there.
	p2 := startServe(t, data, owner...)
	restarted := time.Since(killed)
	listed := listParts(t, p2.url, pkg.AccessToken, up)
	for n, et := range acked {
		if got, ok := listed[n]; !ok || strings.Trim(got, `"`) != strings.Trim(et, `"`) {
			t.Errorf("part %d was acknowledged (ETag %s) before the kill; after the restart ListParts shows %q", n, et, got)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Resume: only the parts ListParts lacks travel.
	c2 := client.New(p2.url)
	c2.UserToken = c.UserToken
	watch2 := newPartWatch()
	c2.HTTP = &http.Client{Transport: watch2}
	resumed := time.Now()
	f, err := c2.ResumeUpload(ctx, pkg.AccessToken, up, src, size, 4, client.UploadOptions{RetryWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("resuming: %v\nserver log:\n%s", err, p2.stderr.String())
	}
	resumeTook := time.Since(resumed)
	if _, puts := watch2.snapshot(); puts != nParts-len(listed) {
		t.Errorf("the resume sent %d parts; %d of %d were listed, so %d should have travelled", puts, len(listed), nParts, nParts-len(listed))
	}
	want := <-wantC
	wantHex := hex.EncodeToString(want[:])
	switch b3 := src.b3sum(t); b3 {
	case "":
		t.Log("b3sum is not installed: the source's digest is zeebo BLAKE3's alone")
	case wantHex:
		t.Log("b3sum of the source agrees with zeebo BLAKE3")
	default:
		t.Fatalf("b3sum of the source %s, zeebo BLAKE3 %s", b3, wantHex)
	}
	if f.Digest != wantHex || f.Size != size || f.State != "finalized" {
		t.Fatalf("finalized file %+v; want digest %s, size %d", f, wantHex, size)
	}
	if pk, err := c2.FinalizePackage(ctx, pkg.AccessToken, pkg.ID); err != nil || pk.State != "finalized" || pk.Size != size {
		t.Fatalf("finalizing the package: %+v, %v", pk, err)
	}
	files, err := c2.Files(ctx, pkg.AccessToken, pkg.ID)
	if err != nil || len(files) != 2 || files[0].Digest != wantHex || files[0].Path != "dailies" || files[1].Kind != "zip_windows" {
		t.Fatalf("files of the package: %+v, %v", files, err)
	}
	p2.stop(t)

	// The digest above is assembled from the blocks' chaining values;
	// read the bytes themselves back from the store and hash them too.
	app, _ := openData(t, data)
	defer app.close()
	var (
		tk     core.TeamKey
		blocks []core.Block
	)
	err = app.db.View(ctx, func(tx core.Tx) error {
		rec, err := tx.File(f.ID)
		if err != nil {
			return err
		}
		team, err := tx.Team(rec.TeamID)
		if err != nil {
			return err
		}
		tk = core.TeamKeyOf(team)
		// The finalized file's blocks are its kept parts' (File.PartsID).
		parts, err := tx.UploadParts(rec.PartsID)
		if err != nil {
			return err
		}
		if rec.PartsID == "" || len(rec.Blocks) != 0 || len(parts) == 0 {
			t.Errorf("finalized record: parts_id %q, %d blocks, %d parts", rec.PartsID, len(rec.Blocks), len(parts))
		}
		for _, pt := range parts {
			blocks = append(blocks, pt.Blocks...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h := blake3.New()
	readBack := time.Now()
	if err := app.chunks.ReadRange(ctx, tk, blocks, 0, size, h); err != nil {
		t.Fatalf("reading the file back: %v", err)
	}
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != wantHex {
		t.Fatalf("the stored bytes hash to %s, want %s", got, wantHex)
	}
	t.Logf("restart %v, %d parts listed after it, resume of %d parts %v, read back %v; digest %s", restarted.Round(time.Millisecond), len(listed),
		nParts-len(listed), resumeTook.Round(time.Millisecond), time.Since(readBack).Round(time.Millisecond), wantHex)
}
