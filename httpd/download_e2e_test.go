package httpd_test

import (
	"archive/zip"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"haul/client"
	"haul/core"
)

// These tests download what was uploaded the way recipients do: a link
// opened with its secret and password, signed URLs fetched by curl (with
// its resume), by parallel range requests, and the package's zip checked
// by unzip and b3sum. Every byte is compared by its BLAKE3 digest against
// the file list's digest field (hex, as b3sum prints it).

// dlFile is one entry of GET /v1/packages/{pid}/files.
type dlFile struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Digest string `json:"digest"`
}

// dlSource is one file to upload: its folder, name and bytes (r and size
// when it is generated rather than held in memory).
type dlSource struct {
	path, name string
	data       []byte
	r          io.ReaderAt
	size       int64
	chunk      int64 // 0: testChunk
}

// dlNeed skips the test unless every tool is installed.
func dlNeed(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
}

// dlRandom returns n bytes of a ChaCha8 stream seeded by seed.
func dlRandom(seed byte, n int) []byte {
	var s [32]byte
	for i := range s {
		s[i] = seed + byte(i)*7
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

func dlHex(b []byte) string {
	h := blake3.Sum256(b)
	return hex.EncodeToString(h[:])
}

// dlPattern is a file that repeats a 1 MiB pattern: generated on demand
// (never held whole, never on disk), and since 1 MiB is 16 blocks of the
// test chunk store, stored as 16 blocks however long it is.
type dlPattern struct {
	pattern []byte
	size    int64
}

func (p *dlPattern) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, fmt.Errorf("read at %d past %d", off, p.size)
	}
	n := 0
	for n < len(b) && off < p.size {
		k := copy(b[n:min(len(b), n+int(p.size-off))], p.pattern[off%int64(len(p.pattern)):])
		n += k
		off += int64(k)
	}
	return n, nil
}

// digest is the hex BLAKE3 of the whole stream.
func (p *dlPattern) digest() string {
	h := blake3.New()
	for off := int64(0); off < p.size; off += int64(len(p.pattern)) {
		h.Write(p.pattern[:min(int64(len(p.pattern)), p.size-off)])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// dlPackage creates a package as the owner, uploads srcs with the Go
// client (parallel parts), finalizes it and returns its id and full token.
func dlPackage(t *testing.T, e *env, name string, srcs []dlSource, parallel int) (pid, ptok string) {
	t.Helper()
	o := e.owner()
	c := client.New(e.URL)
	c.APIKey = o.APIKey
	ctx := t.Context()
	pkg, err := c.CreatePackage(ctx, e.TeamID, client.CreatePackageRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		r, size := s.r, s.size
		if r == nil {
			r, size = bytes.NewReader(s.data), int64(len(s.data))
		}
		chunk := s.chunk
		if chunk == 0 {
			chunk = testChunk
		}
		f, err := c.UploadFile(ctx, pkg.AccessToken, pkg.ID, s.name, s.path, r, size, chunk, parallel)
		if err != nil {
			t.Fatalf("uploading %s/%s: %v", s.path, s.name, err)
		}
		if s.r == nil && f.Digest != dlHex(s.data) {
			t.Fatalf("uploaded %s/%s: digest %s, want %s", s.path, s.name, f.Digest, dlHex(s.data))
		}
	}
	if _, err := c.FinalizePackage(ctx, pkg.AccessToken, pkg.ID); err != nil {
		t.Fatal(err)
	}
	return pkg.ID, pkg.AccessToken
}

// dlLink creates a link (with password if not empty) with the full token.
func dlLink(t *testing.T, e *env, pid, ptok, password string) map[string]any {
	t.Helper()
	body := map[string]any{}
	if password != "" {
		body["password"] = password
	}
	l := e.must(201, "POST", "/v1/packages/"+pid+"/links", body, header("X-Package-Token", ptok)).Map(t)
	if l["id"] == "" || l["download_secret"] == "" || l["active"] != true {
		t.Fatalf("link = %v", l)
	}
	if password != "" && l["password"] != "****" {
		t.Errorf("link's password = %v, want ****", l["password"])
	}
	return l
}

// dlOpen opens a link and returns its download-level package token.
func dlOpen(t *testing.T, e *env, link map[string]any, password string, pid string) string {
	t.Helper()
	p := "/v1/links/" + link["id"].(string) + "?secret=" + url.QueryEscape(link["download_secret"].(string))
	var creds []cred
	if password != "" {
		creds = append(creds, header("X-Link-Password", password))
	}
	o := e.must(200, "GET", p, nil, creds...).Map(t)
	tok, _ := o["package_token"].(string)
	if tok == "" || o["package_id"] != pid {
		t.Fatalf("opened link = %v", o)
	}
	return tok
}

// dlList returns a package's file list (any token).
func dlList(t *testing.T, e *env, pid, tok string) []dlFile {
	t.Helper()
	var out []dlFile
	e.must(200, "GET", "/v1/packages/"+pid+"/files", nil, header("X-Package-Token", tok)).JSON(t, &out)
	return out
}

// dlURL returns the signed download URL of a file (or "zip").
func dlURL(t *testing.T, e *env, pid, fid, tok string) string {
	t.Helper()
	var bp core.Blueprint
	e.must(200, "GET", "/v1/packages/"+pid+"/files/"+fid+"/download", nil, header("X-Package-Token", tok)).JSON(t, &bp)
	if bp.Method != "GET" || !strings.HasPrefix(bp.URL, e.URL+"/dl/"+pid+"/"+fid+"?") {
		t.Fatalf("download blueprint of %s = %+v", fid, bp)
	}
	return bp.URL
}

// dlRun runs a tool and returns its exit code and output; it fails the
// test only when the tool cannot be started.
func dlRun(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("running %s %v: %v", name, args, err)
	return -1, "", ""
}

// dlCurl runs curl -sS with args, failing the test unless it exits with
// want; it returns curl's stdout (e.g. -w output).
func dlCurl(t *testing.T, want int, args ...string) string {
	t.Helper()
	code, out, errOut := dlRun(t, "curl", append([]string{"-sS"}, args...)...)
	if code != want {
		t.Fatalf("curl %v: exit %d, want %d: %s %s", args, code, want, out, errOut)
	}
	return out
}

// dlB3sum returns b3sum's hex digest of a file.
func dlB3sum(t *testing.T, path string) string {
	t.Helper()
	code, out, errOut := dlRun(t, "b3sum", "--no-names", path)
	if code != 0 {
		t.Fatalf("b3sum %s: exit %d: %s", path, code, errOut)
	}
	return strings.TrimSpace(out)
}

// dlGet sends a GET (or HEAD) with headers (name, value pairs) and
// returns the answer with its whole body.
func dlGet(t *testing.T, hc *http.Client, method, u string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return res, b
}

// dlRange fetches bytes [a, b] (inclusive) of u and checks the 206 answer.
func dlRange(t *testing.T, hc *http.Client, u string, a, b, size int64) []byte {
	t.Helper()
	res, body := dlGet(t, hc, "GET", u, "Range", fmt.Sprintf("bytes=%d-%d", a, b))
	want := fmt.Sprintf("bytes %d-%d/%d", a, b, size)
	if res.StatusCode != 206 || res.Header.Get("Content-Range") != want || int64(len(body)) != b-a+1 {
		t.Fatalf("range %d-%d: %d, Content-Range %q (want %q), %d bytes", a, b, res.StatusCode, res.Header.Get("Content-Range"), want, len(body))
	}
	return body
}

// dlParallel fetches u as n ranges at once and returns them joined.
func dlParallel(t *testing.T, hc *http.Client, u string, size int64, n int) []byte {
	t.Helper()
	parts := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		a, b := size*int64(i)/int64(n), size*int64(i+1)/int64(n)-1
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", u, nil)
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", a, b))
			res, err := hc.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			want := fmt.Sprintf("bytes %d-%d/%d", a, b, size)
			switch {
			case err != nil:
				errs[i] = err
			case res.StatusCode != 206 || res.Header.Get("Content-Range") != want || int64(len(body)) != b-a+1:
				errs[i] = fmt.Errorf("range %d-%d: %d, Content-Range %q (want %q), %d bytes", a, b, res.StatusCode, res.Header.Get("Content-Range"), want, len(body))
			}
			parts[i] = body
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return bytes.Join(parts, nil)
}

func dlFind(t *testing.T, files []dlFile, path, name string) dlFile {
	t.Helper()
	for _, f := range files {
		if f.Kind == "file" && f.Path == path && f.Name == name {
			return f
		}
	}
	t.Fatalf("file %q in %q not listed: %+v", name, path, files)
	return dlFile{}
}

// dlCutProxy is a TCP proxy on loopback to the server at base that
// passes every request but hangs up each answer after limit bytes (its
// headers included), as a dropped connection would. It returns its base
// URL.
func dlCutProxy(t *testing.T, base string, limit int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upstream := strings.TrimPrefix(base, "http://")
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				u, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				_, _ = io.CopyN(c, u, limit)
			})
		}
	})
	return "http://" + ln.Addr().String()
}

// TestE2EDownloadResumeWithCurl downloads every file of a package through
// a password-protected link with curl, resumes a cut and a partial
// transfer with curl -C -, and fetches the big file as parallel ranges;
// b3sum of each result must be the listed digest.
func TestE2EDownloadResumeWithCurl(t *testing.T) { e2eDownloadResumeWithCurl(t, newEnv(t)) }

func e2eDownloadResumeWithCurl(t *testing.T, e *env) {
	dlNeed(t, "curl", "b3sum")
	big := dlRandom(1, 3<<20+12_345) // 13 parts of 256 KiB, the last short
	srcs := []dlSource{
		{name: "big.bin", data: big},
		{path: "Überblick", name: "día 1.mov", data: dlRandom(2, 300_001)},
		{name: "empty.txt", data: []byte{}},
		{path: "Überblick/notes", name: "read me.txt", data: []byte("hello, recipient\n")},
	}
	pid, ptok := dlPackage(t, e, "Curl resume", srcs, 4)

	const pw = "correct horse battery"
	link := dlLink(t, e, pid, ptok, pw)
	// No password, a wrong one: refused; the right one opens the link.
	lp := "/v1/links/" + link["id"].(string) + "?secret=" + url.QueryEscape(link["download_secret"].(string))
	e.must(401, "GET", lp, nil)
	e.must(401, "GET", lp, nil, header("X-Link-Password", "wrong"))
	e.must(404, "GET", "/v1/links/"+link["id"].(string)+"?secret=nope", nil, header("X-Link-Password", pw))
	dtok := dlOpen(t, e, link, pw, pid)

	files := dlList(t, e, pid, dtok)
	if len(files) != len(srcs)+1 || files[len(files)-1].Kind != "zip_windows" || files[len(files)-1].ID != "zip" ||
		files[len(files)-1].Name != "Curl resume.zip" {
		t.Fatalf("files = %+v", files)
	}
	for _, s := range srcs {
		f := dlFind(t, files, s.path, s.name)
		if f.Size != int64(len(s.data)) || f.Digest != dlHex(s.data) {
			t.Errorf("listed %+v, want size %d digest %s", f, len(s.data), dlHex(s.data))
		}
	}
	bigF := dlFind(t, files, "", "big.bin")
	bigURL := dlURL(t, e, pid, bigF.ID, dtok)
	dir := t.TempDir()

	// 1. A transfer cut by the network (a proxy that hangs up after about
	// 1 MiB: curl exits 18, partial file), resumed with -C -.
	cut := filepath.Join(dir, "cut.bin")
	proxy := dlCutProxy(t, e.URL, 1<<20+333)
	code, _, errOut := dlRun(t, "curl", "-sS", "-o", cut, strings.Replace(bigURL, e.URL, proxy, 1))
	st, err := os.Stat(cut)
	if code != 18 || err != nil || st.Size() == 0 || st.Size() >= bigF.Size {
		t.Fatalf("cut transfer: curl exit %d (want 18, partial file) %s; file %v %v", code, errOut, st, err)
	}
	t.Logf("cut after %d of %d bytes", st.Size(), bigF.Size)
	if !bytes.Equal(dlMust(os.ReadFile(cut)), big[:st.Size()]) {
		t.Fatalf("the cut transfer's %d bytes are not the file's first bytes", st.Size())
	}
	if status := dlCurl(t, 0, "-C", "-", "-w", "%{http_code}", "-o", cut, bigURL); status != "206" {
		t.Errorf("resumed transfer answered %s, want 206", status)
	}
	if got := dlB3sum(t, cut); got != bigF.Digest {
		t.Errorf("b3sum of the resumed cut transfer = %s, want %s", got, bigF.Digest)
	}

	// 2. A partial file made of an exact range (not on a block or part
	// edge), then resumed.
	half := filepath.Join(dir, "half.bin")
	dlCurl(t, 0, "-r", "0-1000000", "-o", half, bigURL)
	if b := dlMust(os.ReadFile(half)); !bytes.Equal(b, big[:1_000_001]) {
		t.Fatalf("range 0-1000000 gave %d bytes, not the file's first 1000001", len(b))
	}
	if status := dlCurl(t, 0, "-C", "-", "-w", "%{http_code}", "-o", half, bigURL); status != "206" {
		t.Errorf("resumed transfer answered %s, want 206", status)
	}
	if got := dlB3sum(t, half); got != bigF.Digest {
		t.Errorf("b3sum of the resumed partial transfer = %s, want %s", got, bigF.Digest)
	}

	// 3. Every file with curl, each checked with b3sum.
	for i, f := range files[:len(files)-1] {
		out := filepath.Join(dir, fmt.Sprintf("file-%d", i))
		u := dlURL(t, e, pid, f.ID, dtok)
		if status := dlCurl(t, 0, "-f", "-w", "%{http_code} %{size_download}", "-o", out, u); status != fmt.Sprintf("200 %d", f.Size) {
			t.Errorf("%s/%s: curl says %q, want 200 %d", f.Path, f.Name, status, f.Size)
		}
		if got := dlB3sum(t, out); got != f.Digest {
			t.Errorf("%s/%s: b3sum %s, want %s", f.Path, f.Name, got, f.Digest)
		}
	}

	// 4. The big file as 4 concurrent ranges.
	hc := &http.Client{Timeout: 60 * time.Second}
	joined := dlParallel(t, hc, bigURL, bigF.Size, 4)
	pj := filepath.Join(dir, "parallel.bin")
	if err := os.WriteFile(pj, joined, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := dlB3sum(t, pj); got != bigF.Digest {
		t.Errorf("b3sum of 4 joined ranges = %s, want %s", got, bigF.Digest)
	}

	// 5. The headers a resuming client relies on.
	res, body := dlGet(t, hc, "HEAD", bigURL)
	if res.StatusCode != 200 || res.ContentLength != bigF.Size || len(body) != 0 || res.Header.Get("ETag") != `"`+bigF.Digest+`"` ||
		res.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("HEAD: %d, length %d, ETag %q, Accept-Ranges %q", res.StatusCode, res.ContentLength, res.Header.Get("ETag"), res.Header.Get("Accept-Ranges"))
	}
	etag := res.Header.Get("ETag")
	if res, body := dlGet(t, hc, "GET", bigURL, "Range", "bytes=100-", "If-Range", etag); res.StatusCode != 206 || !bytes.Equal(body, big[100:]) {
		t.Errorf("Range with a matching If-Range: %d, %d bytes", res.StatusCode, len(body))
	}
	if res, body := dlGet(t, hc, "GET", bigURL, "Range", "bytes=100-", "If-Range", `"stale"`); res.StatusCode != 200 || !bytes.Equal(body, big) {
		t.Errorf("Range with a stale If-Range: %d, %d bytes; want 200 and the whole file", res.StatusCode, len(body))
	}
	if res, body := dlGet(t, hc, "GET", bigURL, "Range", "bytes=-10"); res.StatusCode != 206 || !bytes.Equal(body, big[len(big)-10:]) {
		t.Errorf("suffix range: %d, %d bytes", res.StatusCode, len(body))
	}
	if res, _ := dlGet(t, hc, "GET", bigURL, "Range", fmt.Sprintf("bytes=%d-", bigF.Size)); res.StatusCode != 416 ||
		res.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", bigF.Size) {
		t.Errorf("range past the end: %d, Content-Range %q", res.StatusCode, res.Header.Get("Content-Range"))
	}
	if res, _ := dlGet(t, hc, "GET", bigURL, "If-None-Match", etag); res.StatusCode != 304 {
		t.Errorf("If-None-Match with the ETag: %d, want 304", res.StatusCode)
	}
	nested := dlFind(t, files, "Überblick", "día 1.mov")
	res, _ = dlGet(t, hc, "HEAD", dlURL(t, e, pid, nested.ID, dtok))
	if cd := res.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename*=UTF-8''d%C3%ADa%201.mov`) || !strings.Contains(cd, `filename="d_a 1.mov"`) {
		t.Errorf("Content-Disposition of día 1.mov = %q", cd)
	}
	// An altered signed URL is refused.
	if res, _ := dlGet(t, hc, "GET", strings.Replace(bigURL, "/dl/"+pid+"/"+bigF.ID, "/dl/"+pid+"/"+nested.ID, 1)); res.StatusCode != 403 {
		t.Errorf("a URL signed for another file: %d, want 403", res.StatusCode)
	}

	// Everything was served whole: the download completes.
	e.must(204, "POST", "/v1/packages/"+pid+"/download_complete", nil, header("X-Package-Token", dtok))
}

func dlMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// dlZipEntries reads a zip's central directory: its file entries (not
// directories) in order.
func dlZipEntries(t *testing.T, path string) []*zip.File {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	t.Cleanup(func() { zr.Close() })
	var out []*zip.File
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, "/") {
			out = append(out, f)
		}
	}
	return out
}

// dlUnzipTest runs unzip -t on a zip and fails unless it reports no errors.
func dlUnzipTest(t *testing.T, path string) {
	t.Helper()
	code, out, errOut := dlRun(t, "unzip", "-t", path)
	if code != 0 || !strings.Contains(out, "No errors detected") {
		t.Fatalf("unzip -t: exit %d:\n%s\n%s", code, out, errOut)
	}
}

// TestE2EZipRangesUnzip downloads a package's zip as out-of-order ranges
// and whole, checks it with unzip -t, extracts it and compares every file
// with b3sum; and completes a link's download only once the zip was
// served whole.
func TestE2EZipRangesUnzip(t *testing.T) { e2eZipRangesUnzip(t, newEnv(t)) }

func e2eZipRangesUnzip(t *testing.T, e *env) {
	dlNeed(t, "curl", "unzip", "b3sum")
	loop := &dlPattern{pattern: dlRandom(14, 1<<20), size: 40<<20 + 4321}
	srcs := []dlSource{
		{path: "Reel A", name: "clip 1.mov", data: dlRandom(10, 700_000)},
		{path: "Reel A", name: "notes.txt", data: []byte("lower case\n")},
		{path: "Reel A", name: "Notes.txt", data: []byte("Upper Case\n")},
		{path: "Reel A/sub/deeper", name: "deep.bin", data: dlRandom(11, 65_536)},
		{name: "aux.txt", data: []byte("a reserved device name on Windows\n")},
		{name: "what?.mov", data: dlRandom(12, 123_457)},
		{path: "Überblick", name: "día 2.mov", data: dlRandom(13, 70_000)},
		{name: "empty", data: []byte{}},
		// Bigger than the kernel's socket buffers, so that a transfer cut
		// early cannot have been written whole; cheap to store (16 blocks).
		{path: "Reel A", name: "loop.mov", r: loop, size: loop.size, chunk: 8 << 20},
	}
	pid, ptok := dlPackage(t, e, "Zip: ranges", srcs, 3)
	if f := dlFind(t, dlList(t, e, pid, ptok), "Reel A", "loop.mov"); f.Digest != loop.digest() {
		t.Errorf("loop.mov listed with digest %s, want %s", f.Digest, loop.digest())
	}
	link := dlLink(t, e, pid, ptok, "")
	dtok := dlOpen(t, e, link, "", pid)
	files := dlList(t, e, pid, dtok)
	if len(files) != len(srcs)+1 {
		t.Fatalf("files = %+v", files)
	}
	z := files[len(files)-1]
	var sum int64
	for _, f := range files[:len(files)-1] {
		sum += f.Size
	}
	if z.ID != "zip" || z.Kind != "zip_windows" || z.Name != "Zip_ ranges.zip" || z.Size <= sum {
		t.Fatalf("zip entry = %+v (files total %d bytes)", z, sum)
	}
	zipURL := dlURL(t, e, pid, "zip", dtok)
	hc := &http.Client{Timeout: 60 * time.Second}

	// HEAD gives the listed size.
	res, _ := dlGet(t, hc, "HEAD", zipURL)
	if res.StatusCode != 200 || res.ContentLength != z.Size || res.Header.Get("Content-Type") != "application/zip" ||
		res.Header.Get("Content-Length") != strconv.FormatInt(z.Size, 10) {
		t.Fatalf("HEAD zip: %d, Content-Length %q, Content-Type %q; listed size %d", res.StatusCode, res.Header.Get("Content-Length"),
			res.Header.Get("Content-Type"), z.Size)
	}

	// Three ranges, last third first, joined in order, equal one full GET.
	a, b := z.Size/3, 2*z.Size/3
	last := dlRange(t, hc, zipURL, b, z.Size-1, z.Size)
	first := dlRange(t, hc, zipURL, 0, a-1, z.Size)
	middle := dlRange(t, hc, zipURL, a, b-1, z.Size)
	res, whole := dlGet(t, hc, "GET", zipURL)
	if res.StatusCode != 200 || int64(len(whole)) != z.Size {
		t.Fatalf("GET zip: %d, %d bytes, want %d", res.StatusCode, len(whole), z.Size)
	}
	if joined := slices.Concat(first, middle, last); !bytes.Equal(joined, whole) {
		t.Fatalf("three ranges joined (%d bytes) differ from the whole zip (%d bytes)", len(joined), len(whole))
	}
	// The layout is deterministic: a second full GET is the same bytes.
	if _, again := dlGet(t, hc, "GET", zipURL); !bytes.Equal(again, whole) {
		t.Fatal("two GETs of the zip differ")
	}

	dir := t.TempDir()
	zp := filepath.Join(dir, "package.zip")
	if err := os.WriteFile(zp, whole, 0o644); err != nil {
		t.Fatal(err)
	}
	dlUnzipTest(t, zp)
	// curl's copy is the same bytes.
	cz := filepath.Join(dir, "curl.zip")
	dlCurl(t, 0, "-f", "-o", cz, zipURL)
	if got, want := dlB3sum(t, cz), dlHex(whole); got != want {
		t.Errorf("curl's zip b3sum %s, want %s", got, want)
	}

	// Entries are in (path, name) order, so they pair with the files
	// sorted the same way; each name is the file's, made safe.
	entries := dlZipEntries(t, zp)
	sorted := slices.Clone(files[:len(files)-1])
	slices.SortStableFunc(sorted, func(x, y dlFile) int {
		if c := strings.Compare(x.Path, y.Path); c != 0 {
			return c
		}
		return strings.Compare(x.Name, y.Name)
	})
	if len(entries) != len(sorted) {
		t.Fatalf("zip has %d file entries, package %d files", len(entries), len(sorted))
	}
	wantNames := map[string]string{ // file (path/name) → its name in the zip
		"Reel A/Notes.txt": "Reel A/Notes.txt", "Reel A/notes.txt": "Reel A/notes (2).txt",
		"/aux.txt": "_aux.txt", "/what?.mov": "what_.mov", "Überblick/día 2.mov": "Überblick/día 2.mov",
		"Reel A/sub/deeper/deep.bin": "Reel A/sub/deeper/deep.bin", "/empty": "empty", "Reel A/clip 1.mov": "Reel A/clip 1.mov",
		"Reel A/loop.mov": "Reel A/loop.mov",
	}
	out := filepath.Join(dir, "out")
	code, stdout, stderr := dlRun(t, "unzip", "-o", "-d", out, zp)
	if code != 0 {
		t.Fatalf("unzip -o -d: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for i, f := range sorted {
		en := entries[i]
		if w := wantNames[f.Path+"/"+f.Name]; en.Name != w {
			t.Errorf("zip entry %d is %q, want %q (file %s/%s)", i, en.Name, w, f.Path, f.Name)
		}
		if int64(en.UncompressedSize64) != f.Size || en.Method != zip.Store {
			t.Errorf("zip entry %q: size %d method %d, want %d stored", en.Name, en.UncompressedSize64, en.Method, f.Size)
		}
		if got := dlB3sum(t, filepath.Join(out, filepath.FromSlash(en.Name))); got != f.Digest {
			t.Errorf("extracted %q: b3sum %s, want %s (file %s/%s)", en.Name, got, f.Digest, f.Path, f.Name)
		}
	}
	n := 0
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if n != len(sorted) {
		t.Errorf("unzip extracted %d files, want %d", n, len(sorted))
	}

	// download_complete: a fresh download (a second open of the link) has
	// been served nothing: 409; after the zip whole with its token: 204.
	dtok2 := dlOpen(t, e, link, "", pid)
	r := e.must(409, "POST", "/v1/packages/"+pid+"/download_complete", nil, header("X-Package-Token", dtok2))
	if msg := r.ErrMsg(t); !strings.Contains(msg, "not downloaded whole") {
		t.Errorf("409 message = %q", msg)
	}
	zipURL2 := dlURL(t, e, pid, "zip", dtok2)
	e.must(409, "POST", "/v1/packages/"+pid+"/download_complete", nil, header("X-Package-Token", dtok2))
	dlRange(t, hc, zipURL2, 0, 99, z.Size) // a piece is not the whole
	e.must(409, "POST", "/v1/packages/"+pid+"/download_complete", nil, header("X-Package-Token", dtok2))
	if res, body := dlGet(t, hc, "GET", zipURL2); res.StatusCode != 200 || !bytes.Equal(body, whole) {
		t.Fatalf("GET zip with the second token: %d, %d bytes", res.StatusCode, len(body))
	}
	e.must(204, "POST", "/v1/packages/"+pid+"/download_complete", nil, header("X-Package-Token", dtok2))
	e.must(204, "POST", "/v1/packages/"+pid+"/download_complete", nil, header("X-Package-Token", dtok2))
	// The package's own (full) token does not report downloads.
	e.must(403, "POST", "/v1/packages/"+pid+"/download_complete", nil, header("X-Package-Token", ptok))
	// A download cut by the network is not served whole: the server must
	// count what reached the client, not what it meant to send.
	dtok3 := dlOpen(t, e, link, "", pid)
	cutURL := strings.Replace(dlURL(t, e, pid, "zip", dtok3), e.URL, dlCutProxy(t, e.URL, 64<<10), 1)
	if code, _, errOut := dlRun(t, "curl", "-sS", "-o", filepath.Join(dir, "cut.zip"), cutURL); code != 18 {
		t.Errorf("cut zip transfer: curl exit %d, want 18 (partial file): %s", code, errOut)
	}
	time.Sleep(200 * time.Millisecond) // the server notices the hang-up
	if r := e.do("POST", "/v1/packages/"+pid+"/download_complete", nil, header("X-Package-Token", dtok3)); r.Status != 409 {
		t.Errorf("download_complete after a zip transfer cut at 64 KiB of %d: %d %s, want 409", z.Size, r.Status, r.Body)
	}
	// The first download (ranges, then the whole zip) completes too.
	e.must(204, "POST", "/v1/packages/"+pid+"/download_complete", nil, header("X-Package-Token", dtok))
}
