//go:build !race

package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"haul/client"
	"haul/store/chunk/chunktest"
)

// The download figures, measured by `make bench` (HAUL_BENCH=1) against
// haul serve in a child process with the default storage geometry (4 MiB
// blocks, 8+2), over loopback HTTP, the page cache dropped before every
// timed run (echo 3 > /proc/sys/vm/drop_caches; root only):
//
//	raw cold read  HAUL_BENCH_MIB (default 4096) MiB of the same data read back from a plain
//	               file on the data directory's filesystem with 4 MiB reads
//	download       the same bytes as one file: one GET on its signed URL (the package's
//	               full token), read with 1 MiB buffers and dropped
//	16 ranges      sixteen GETs at once, each a different sixteenth of that file (Range),
//	               through a link's download token, checked byte for byte, on a freshly
//	               started server: its peak resident memory (VmHWM)
//	zip            a package of 1,000 small files (64 KiB–1 MiB, seeded) and two large
//	               ones (HAUL_BENCH_MIB/4 each) as one GET of its STORE zip (file id zip)
//	per file       the same files one by one, each through its own URL (the URL request
//	               included, as the zip's one)
//
// raw and download alternate three times, as do zip and per file; medians
// and spreads are printed, and the ratios against the targets.

// dlClient speaks the download API over a plain net/http client.
type dlClient struct {
	base string
	hc   *http.Client
}

func newDLClient(base string) *dlClient {
	return &dlClient{base: base, hc: &http.Client{Transport: &http.Transport{
		DisableCompression: true, MaxIdleConnsPerHost: 64, ReadBufferSize: 64 << 10}}}
}

// api sends a JSON request with a package token (none when token is "")
// and decodes the answer into out.
func (d *dlClient) api(ctx context.Context, method, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("X-Package-Token", token)
	}
	res, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, msg)
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// downloadURL asks for the signed URL of a file's bytes (fid "zip": the
// package's zip).
func (d *dlClient) downloadURL(ctx context.Context, token, pid, fid string) (string, error) {
	var bp struct {
		URL    string `json:"url"`
		Method string `json:"method"`
	}
	if err := d.api(ctx, "GET", "/v1/packages/"+url.PathEscape(pid)+"/files/"+url.PathEscape(fid)+"/download", token, nil, &bp); err != nil {
		return "", err
	}
	if bp.URL == "" || bp.Method != "GET" {
		return "", fmt.Errorf("download blueprint %+v", bp)
	}
	return bp.URL, nil
}

// linkToken makes a direct link of a package and opens it: a download
// token.
func (d *dlClient) linkToken(ctx context.Context, token, pid string) (string, error) {
	var l struct {
		ID     string `json:"id"`
		Secret string `json:"download_secret"`
	}
	if err := d.api(ctx, "POST", "/v1/packages/"+url.PathEscape(pid)+"/links", token, map[string]any{}, &l); err != nil {
		return "", err
	}
	var o struct {
		Token string `json:"package_token"`
	}
	if err := d.api(ctx, "GET", "/v1/links/"+url.PathEscape(l.ID)+"?secret="+url.QueryEscape(l.Secret), "", nil, &o); err != nil {
		return "", err
	}
	if o.Token == "" {
		return "", errors.New("opening the link gave no package_token")
	}
	return o.Token, nil
}

// get streams u (with a Range header unless rng is "") through buf into
// sink (nil: dropped) and returns the bytes read and the response.
func (d *dlClient) get(ctx context.Context, u, rng string, buf []byte, sink func(off int64, p []byte) error) (int64, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return 0, nil, err
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	res, err := d.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusPartialContent {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return 0, res, fmt.Errorf("GET %s: %d %s", u, res.StatusCode, msg)
	}
	// A plain read loop: io.CopyBuffer into io.Discard would take
	// io.Discard's ReadFrom and its 8 KiB buffers instead of buf.
	var n int64
	for {
		m, err := res.Body.Read(buf)
		if m > 0 {
			if sink != nil {
				if err := sink(n, buf[:m]); err != nil {
					return n, res, err
				}
			}
			n += int64(m)
		}
		if err == io.EOF {
			return n, res, nil
		}
		if err != nil {
			return n, res, err
		}
	}
}

// rangeReaderAt reads a download URL with one Range request per ReadAt
// (for archive/zip to check the zip's structure without fetching it all).
type rangeReaderAt struct {
	d   *dlClient
	u   string
	buf []byte
}

func (r *rangeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	got := 0
	_, _, err := r.d.get(context.Background(), r.u, fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1), r.buf, func(_ int64, b []byte) error {
		got += copy(p[got:], b)
		return nil
	})
	if err == nil && got < len(p) {
		err = io.EOF
	}
	return got, err
}

// writeRawFile writes the generator's bytes to name (buffered, 4 MiB
// writes) and fsyncs it: the cold-read baseline's file.
func writeRawFile(t *testing.T, name string, src *genData) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	for off := int64(0); off < src.size; off += int64(len(buf)) {
		n, _ := src.ReadAt(buf, off)
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// rawColdRead reads name whole with 4 MiB reads and returns GB/s (the
// caller drops the caches first).
func rawColdRead(t *testing.T, name string, want int64) float64 {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	start := time.Now()
	var total int64
	for {
		n, err := f.Read(buf)
		total += int64(n)
		if err != nil {
			break
		}
	}
	secs := time.Since(start).Seconds()
	if total != want {
		t.Fatalf("raw read %d bytes, want %d", total, want)
	}
	return float64(total) / secs / 1e9
}

// dropPageCache syncs and drops the page cache, dentries and inodes.
func dropPageCache() bool {
	_ = exec.Command("sync").Run()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0) == nil
}

func targetMark(ok bool, bad string) string {
	if ok {
		return "ok"
	}
	return bad
}

func TestDownloadPerformance(t *testing.T) {
	if os.Getenv("HAUL_BENCH") == "" {
		t.Skip("set HAUL_BENCH=1 (make bench) to measure downloads")
	}
	size := chunktest.BenchSize()
	base := t.TempDir()
	data := filepath.Join(base, "data")
	const k, m = 8, 2 // the default geometry
	ctx := context.Background()
	var out strings.Builder
	began := time.Now()
	buf := make([]byte, 1<<20)
	dropped := true

	// (a) One file, one GET, cold, against a raw cold read of the same
	// bytes from a plain file on the same filesystem; alternating.
	s := startBenchServer(t, data)
	dl := newDLClient(s.p.url)
	src := newGenData(31, size)
	want := hexDigest(src)
	pkg, err := s.c.CreatePackage(ctx, s.teamID, client.CreatePackageRequest{Name: "download bench"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.c.UploadFile(ctx, pkg.AccessToken, pkg.ID, "big.bin", "", src, size, 0, 4)
	if err != nil {
		t.Fatalf("upload: %v\nserver log:\n%s", err, s.p.stderr.String())
	}
	if f.Digest != want {
		t.Fatalf("upload: digest %s, want %s", f.Digest, want)
	}
	if _, err := s.c.FinalizePackage(ctx, pkg.AccessToken, pkg.ID); err != nil {
		t.Fatal(err)
	}
	rawName := filepath.Join(base, "raw.bin")
	writeRawFile(t, rawName, src)
	raw, down := &chunktest.Figure{Name: "raw cold read"}, &chunktest.Figure{Name: "download, 1 GET"}
	ttfb := &chunktest.Figure{Name: "first byte after (s)"}
	for round := range 3 {
		dropped = dropPageCache() && dropped
		raw.Add(rawColdRead(t, rawName, size))
		u, err := dl.downloadURL(ctx, pkg.AccessToken, pkg.ID, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		dropped = dropPageCache() && dropped
		start := time.Now()
		var first float64
		n, res, err := dl.get(ctx, u, "", buf, func(off int64, _ []byte) error {
			if off == 0 {
				first = time.Since(start).Seconds()
			}
			return nil
		})
		secs := time.Since(start).Seconds()
		ttfb.Add(first)
		if err != nil {
			t.Fatalf("download round %d: %v after %d bytes\nserver log:\n%s", round, err, n, s.p.stderr.String())
		}
		if n != size || res.Header.Get("ETag") != `"`+want+`"` {
			t.Fatalf("download round %d: %d bytes, ETag %s; want %d, %q", round, n, res.Header.Get("ETag"), size, want)
		}
		down.Add(float64(size) / secs / 1e9)
	}
	os.Remove(rawName)
	fmt.Fprintf(&out, "\ndownloads from haul serve over loopback HTTP, %d MiB, %d+%d, caches dropped before each run%s, 3 alternating runs (GB/s: median [spread])\n",
		size>>20, k, m, map[bool]string{true: "", false: " (NOT dropped: not root?)"}[dropped])
	for _, f := range []*chunktest.Figure{raw, down} {
		fmt.Fprintf(&out, "  %-22s %6.2f  [%3.0f%%]  runs %s\n", f.Name, f.Med(), 100*f.Spread(), f.RunsString())
	}
	fmt.Fprintf(&out, "  %-22s %6.2f  [%3.0f%%]  runs %s  (time to the download's first byte)\n", ttfb.Name, ttfb.Med(), 100*ttfb.Spread(), ttfb.RunsString())
	ratio := down.Med() / raw.Med()
	fmt.Fprintf(&out, "  %-44s %5.2f  (target ≥ 0.75)  %s\n", "download / raw cold read", ratio, targetMark(ratio >= 0.75, "BELOW TARGET"))

	// (b) Sixteen ranged GETs at once on a freshly started server (VmHWM
	// is a high-water mark), through a link's download token, each range
	// checked byte for byte.
	s.p.stop(t)
	dropped = dropPageCache() && dropped
	s = startBenchServer(t, data)
	dl = newDLClient(s.p.url)
	idleRSS := s.vmHWM(t)
	dtok, err := dl.linkToken(ctx, pkg.AccessToken, pkg.ID)
	if err != nil {
		t.Fatal(err)
	}
	u, err := dl.downloadURL(ctx, dtok, pkg.ID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	const nr = 16
	var maxAnon, maxFile int64
	sampled, stopSampling := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			maxAnon, maxFile = max(maxAnon, s.status("RssAnon")), max(maxFile, s.status("RssFile"))
			select {
			case <-stopSampling:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	errs := make([]error, nr)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range nr {
		lo, hi := size*int64(i)/nr, size*int64(i+1)/nr
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, cmp := make([]byte, 1<<20), make([]byte, 1<<20)
			n, res, err := dl.get(ctx, u, fmt.Sprintf("bytes=%d-%d", lo, hi-1), b, func(off int64, p []byte) error {
				c := cmp[:len(p)]
				src.ReadAt(c, lo+off)
				if !bytes.Equal(p, c) {
					return fmt.Errorf("bytes differ in [%d, %d)", lo+off, lo+off+int64(len(p)))
				}
				return nil
			})
			switch {
			case err != nil:
				errs[i] = err
			case res.StatusCode != http.StatusPartialContent || n != hi-lo:
				errs[i] = fmt.Errorf("status %d, %d bytes; want 206, %d", res.StatusCode, n, hi-lo)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	peak := s.vmHWM(t)
	close(stopSampling)
	<-sampled
	good := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("ranged download %d: %v", i, err)
		} else {
			good++
		}
	}
	fmt.Fprintf(&out, "  %d ranged GETs of %d MiB at once (cold, download token): %.2f GB/s together; server peak RSS %d MiB (at start %d; target ≤ 256)  %s; ranges right %d of %d\n",
		nr, size/nr>>20, float64(size)/secs/1e9, peak>>20, idleRSS>>20, targetMark(peak <= 256<<20, "ABOVE TARGET"), good, nr)
	fmt.Fprintf(&out, "      sampled maxima: anonymous %d MiB, file-backed %d MiB\n", maxAnon>>20, maxFile>>20)

	// (c) A package of 1,000 small files and two large ones: its zip in one
	// GET against the same files one by one, cold, alternating.
	const nSmall = 1000
	large := max(size/4, 64<<20) &^ (1<<20 - 1)
	rng := rand.New(rand.NewPCG(7, 1000))
	type item struct {
		name, path string
		src        *genData
	}
	var items []item
	for i := range 2 {
		items = append(items, item{fmt.Sprintf("large-%d.bin", i), "", newGenData(uint64(40+i), large)})
	}
	for i := range nSmall {
		items = append(items, item{fmt.Sprintf("f%04d.bin", i), "small", newGenData(uint64(1000+i), 64<<10+rng.Int64N(960<<10+1))})
	}
	var content int64
	for _, it := range items {
		content += it.src.size
	}
	zpkg, err := s.c.CreatePackage(ctx, s.teamID, client.CreatePackageRequest{Name: "zip bench"})
	if err != nil {
		t.Fatal(err)
	}
	upStart := time.Now()
	next := make(chan int)
	upErrs := make([]error, len(items))
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				it := items[i]
				streams := 1
				if it.src.size > 64<<20 {
					streams = 4
				}
				f, err := s.c.UploadFile(ctx, zpkg.AccessToken, zpkg.ID, it.name, it.path, it.src, it.src.size, 0, streams)
				if err == nil && f.Digest != hexDigest(it.src) {
					err = fmt.Errorf("digest %s, want %s", f.Digest, hexDigest(it.src))
				}
				upErrs[i] = err
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range upErrs {
		if err != nil {
			t.Fatalf("uploading %s/%s: %v\nserver log:\n%s", items[i].path, items[i].name, err, s.p.stderr.String())
		}
	}
	if _, err := s.c.FinalizePackage(ctx, zpkg.AccessToken, zpkg.ID); err != nil {
		t.Fatal(err)
	}
	upSecs := time.Since(upStart).Seconds()
	listing, err := s.c.Files(ctx, zpkg.AccessToken, zpkg.ID)
	if err != nil {
		t.Fatal(err)
	}
	var files []client.File
	var zipSize int64 = -1
	for _, f := range listing {
		if f.ID == "zip" {
			zipSize = f.Size
		} else {
			files = append(files, f)
		}
	}
	if len(files) != len(items) || zipSize <= content {
		t.Fatalf("listing: %d files and zip size %d; want %d files and more than %d bytes", len(files), zipSize, len(items), content)
	}
	// The zip's structure and a few entries, through Range requests.
	zu, err := dl.downloadURL(ctx, zpkg.AccessToken, zpkg.ID, "zip")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(&rangeReaderAt{d: dl, u: zu, buf: buf}, zipSize)
	if err != nil {
		t.Fatalf("reading the zip's directory: %v", err)
	}
	nEntries, nDirs := 0, 0
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "/") {
			nDirs++ // the folder small/
		} else {
			nEntries++
		}
	}
	if nEntries != len(items) || nDirs != 1 {
		t.Errorf("zip has %d file entries and %d folders, want %d and 1", nEntries, nDirs, len(items))
	}
	byName := map[string]*genData{}
	for _, it := range items {
		byName[filepath.ToSlash(filepath.Join(it.path, it.name))] = it.src
	}
	checked := 0
	for i, zf := range zr.File {
		if i%200 != 3 && i != len(zr.File)-1 || strings.HasSuffix(zf.Name, "/") {
			continue
		}
		g := byName[zf.Name]
		if g == nil || int64(zf.UncompressedSize64) != g.size || zf.Method != zip.Store {
			t.Errorf("zip entry %q: size %d, method %d; not one of the files", zf.Name, zf.UncompressedSize64, zf.Method)
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatalf("zip entry %q: %v", zf.Name, err)
		}
		got, err := io.ReadAll(rc) // checks the CRC-32 too
		rc.Close()
		wantB := make([]byte, g.size)
		g.ReadAt(wantB, 0)
		if err != nil || !bytes.Equal(got, wantB) {
			t.Errorf("zip entry %q: %v, bytes equal %v", zf.Name, err, bytes.Equal(got, wantB))
			continue
		}
		checked++
	}

	zipF, perF := &chunktest.Figure{Name: "zip, 1 GET"}, &chunktest.Figure{Name: fmt.Sprintf("per file, %d GETs", len(files))}
	for round := range 3 {
		dropped = dropPageCache() && dropped
		start := time.Now()
		u, err := dl.downloadURL(ctx, zpkg.AccessToken, zpkg.ID, "zip")
		if err != nil {
			t.Fatal(err)
		}
		n, _, err := dl.get(ctx, u, "", buf, nil)
		secs := time.Since(start).Seconds()
		if err != nil || n != zipSize {
			t.Fatalf("zip round %d: %v, %d bytes of %d\nserver log:\n%s", round, err, n, zipSize, s.p.stderr.String())
		}
		zipF.Add(float64(content) / secs / 1e9)

		dropped = dropPageCache() && dropped
		start = time.Now()
		var total int64
		for _, f := range files {
			u, err := dl.downloadURL(ctx, zpkg.AccessToken, zpkg.ID, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			n, _, err := dl.get(ctx, u, "", buf, nil)
			if err != nil || n != f.Size {
				t.Fatalf("per-file round %d, %s: %v, %d bytes of %d", round, f.Name, err, n, f.Size)
			}
			total += n
		}
		secs = time.Since(start).Seconds()
		if total != content {
			t.Fatalf("per-file round %d: %d bytes, want %d", round, total, content)
		}
		perF.Add(float64(content) / secs / 1e9)
	}
	fmt.Fprintf(&out, "  zip of %d files (%d × 64 KiB–1 MiB + 2 × %d MiB = %d MiB; zip %d bytes, %d entries checked by Range; uploaded in %.0f s), cold, 3 alternating runs (GB/s of file bytes)\n",
		len(items), nSmall, large>>20, content>>20, zipSize, checked, upSecs)
	for _, f := range []*chunktest.Figure{zipF, perF} {
		fmt.Fprintf(&out, "  %-22s %6.2f  [%3.0f%%]  runs %s\n", f.Name, f.Med(), 100*f.Spread(), f.RunsString())
	}
	ratio = zipF.Med() / perF.Med()
	fmt.Fprintf(&out, "  %-44s %5.2f  (target ≥ 0.70)  %s\n", "zip / per-file", ratio, targetMark(ratio >= 0.7, "BELOW TARGET"))
	if !dropped {
		fmt.Fprintln(&out, "  (the page cache could NOT be dropped: the cold figures are warm)")
	}
	if w := s.p.stderr.String(); strings.Contains(w, "recording a download") {
		t.Errorf("the server failed to record downloads:\n%s", w)
	}
	s.close(t)
	fmt.Fprintf(&out, "  (bench took %v)\n", time.Since(began).Round(time.Second))
	fmt.Print(out.String())
}
