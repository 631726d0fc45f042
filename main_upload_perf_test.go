//go:build !race

package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"haul/client"
	"haul/store/chunk"
	"haul/store/chunk/chunktest"
)

// The upload figures of the packages issue, measured by `make bench`
// (HAUL_BENCH=1) against haul serve in a child process with the default
// storage geometry (4 MiB blocks, 8+2), over loopback HTTP:
//
//	raw        HAUL_BENCH_MIB (default 4096) MiB written sequentially with O_DIRECT in 4 MiB writes, then fsync
//	upload     the same amount of unique data as one file through the whole API flow (create package,
//	           add file, multipart upload with 4 parts in flight, finalize file and package)
//	blake3     one core of zeebo BLAKE3 over a 4 MiB buffer (the client's)
//	again      the same file again into a new package with resume by content
//	           (client.UploadFileByContent): rate, and the bytes that travel
//	8 × 1 GiB  eight uploads at once (HAUL_BENCH_MIB/4 each, 4 parts in flight each): the server's
//	           peak resident memory (VmHWM) and every digest
//	control    GET /v1/teams and POST /v1/teams/{id}/packages latency, idle and under a saturating upload
//
// raw, upload, blake3 and again alternate three times; medians and spreads
// are printed.

// rawDirectWrite writes size bytes of the generator to a new file with
// O_DIRECT in 4 MiB writes, fsyncs, and returns GB/s (as the chunk
// store's bench measures raw).
func rawDirectWrite(t *testing.T, dir string, src *genData) float64 {
	t.Helper()
	name := filepath.Join(dir, "raw.bin")
	f, direct, err := chunk.OSFS{}.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600, true)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(name)
	defer f.Close()
	if !direct {
		t.Log("raw: O_DIRECT unavailable here; buffered writes")
	}
	const bs = 4 << 20
	mem := make([]byte, bs+4096)
	skip := (4096 - int(uintptr(unsafe.Pointer(&mem[0]))&4095)) & 4095
	buf := mem[skip : skip+bs]
	start := time.Now()
	for off := int64(0); off < src.size; off += bs {
		n, _ := src.ReadAt(buf, off)
		w := (n + 4095) &^ 4095
		if _, err := f.WriteAt(buf[:w], off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	return float64(src.size) / time.Since(start).Seconds() / 1e9
}

// benchServer is haul serve in a child process with a logged-in client.
type benchServer struct {
	p      *proc
	c      *client.Client
	teamID string
	data   string
}

const benchEmail, benchPassword = "bench@studio.example", "bench-password-1"

func startBenchServer(t *testing.T, data string) *benchServer {
	t.Helper()
	p := startServe(t, data, "HAUL_BOOTSTRAP_OWNER_EMAIL="+benchEmail, "HAUL_BOOTSTRAP_OWNER_PASSWORD="+benchPassword, "HAUL_LOG_LEVEL=warn")
	c := client.New(p.url)
	ctx := context.Background()
	if _, err := c.Login(ctx, benchEmail, benchPassword); err != nil {
		t.Fatal(err)
	}
	teams, err := c.Teams(ctx)
	if err != nil || len(teams) == 0 {
		t.Fatalf("teams: %v %v", teams, err)
	}
	return &benchServer{p: p, c: c, teamID: teams[0].ID, data: data}
}

// close stops the server and deletes its data directory.
func (b *benchServer) close(t *testing.T) {
	t.Helper()
	b.p.stop(t)
	os.RemoveAll(b.data)
}

// vmHWM returns the server's peak resident memory in bytes.
func (b *benchServer) vmHWM(t *testing.T) int64 {
	t.Helper()
	v := b.status("VmHWM")
	if v < 0 {
		t.Fatal("no VmHWM in /proc/<pid>/status")
	}
	return v
}

// status returns a size field of the server's /proc/<pid>/status in bytes
// (-1 if absent).
func (b *benchServer) status(field string) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// upload sends src as one file of a new package through the whole flow
// (streams parts in flight, the server's default chunk size) and returns the
// file's digest and the seconds it took.
func (b *benchServer) upload(t *testing.T, name string, src *genData, streams int) (string, float64, error) {
	ctx := context.Background()
	start := time.Now()
	pkg, err := b.c.CreatePackage(ctx, b.teamID, client.CreatePackageRequest{Name: name})
	if err != nil {
		return "", 0, err
	}
	f, err := b.c.UploadFile(ctx, pkg.AccessToken, pkg.ID, name, "", src, src.size, 0, streams)
	if err != nil {
		return "", 0, err
	}
	if _, err := b.c.FinalizePackage(ctx, pkg.AccessToken, pkg.ID); err != nil {
		return "", 0, err
	}
	return f.Digest, time.Since(start).Seconds(), nil
}

// uploadByContent is upload with client.UploadFileByContent (resume by
// content); it also returns the part bytes that travelled.
func (b *benchServer) uploadByContent(t *testing.T, name string, src *genData, streams int) (string, float64, int64, error) {
	ctx := context.Background()
	start := time.Now()
	pkg, err := b.c.CreatePackage(ctx, b.teamID, client.CreatePackageRequest{Name: name})
	if err != nil {
		return "", 0, 0, err
	}
	res, err := b.c.UploadFileByContent(ctx, b.teamID, pkg.AccessToken, pkg.ID, name, "", src, src.size, 0, streams, client.UploadOptions{})
	if err != nil {
		return "", 0, 0, err
	}
	if _, err := b.c.FinalizePackage(ctx, pkg.AccessToken, pkg.ID); err != nil {
		return "", 0, 0, err
	}
	return res.File.Digest, time.Since(start).Seconds(), res.BytesSent, nil
}

func hexDigest(g *genData) string {
	d := g.digest()
	return hex.EncodeToString(d[:])
}

// controlLatency times GET /v1/teams and POST /v1/teams/{id}/packages
// alternately: n of each, or until stop is closed (then at most n).
func (b *benchServer) controlLatency(t *testing.T, n int, pause time.Duration, stop <-chan struct{}) (reads, writes []time.Duration) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if stop != nil {
			select {
			case <-stop:
				return
			default:
			}
		}
		t0 := time.Now()
		if _, err := b.c.Teams(ctx); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		if _, err := b.c.CreatePackage(ctx, b.teamID, client.CreatePackageRequest{Name: fmt.Sprint("latency ", i)}); err != nil {
			t.Fatal(err)
		}
		reads, writes = append(reads, t1.Sub(t0)), append(writes, time.Since(t1))
		time.Sleep(pause)
	}
	return
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func fmtLatency(name string, d []time.Duration) string {
	return fmt.Sprintf("  %-36s p50 %8v  p99 %8v  (%d requests)", name, pct(d, 50).Round(10*time.Microsecond), pct(d, 99).Round(10*time.Microsecond), len(d))
}

func TestUploadPerformance(t *testing.T) {
	if os.Getenv("HAUL_BENCH") == "" {
		t.Skip("set HAUL_BENCH=1 (make bench) to measure uploads")
	}
	size := chunktest.BenchSize()
	base := t.TempDir()
	const k, m = 8, 2 // the default geometry (storage.data_shards, parity_shards)
	var out strings.Builder
	began := time.Now()

	// (a) One file through the whole API flow vs raw, alternating.
	src := newGenData(11, size)
	want := hexDigest(src)
	raw, up := &chunktest.Figure{Name: "raw write"}, &chunktest.Figure{Name: "upload, 4 streams"}
	b3, again := &chunktest.Figure{Name: "blake3 1 core"}, &chunktest.Figure{Name: "again, by content"}
	var maxSent int64
	for round := range 3 {
		raw.Add(rawDirectWrite(t, base, src))
		s := startBenchServer(t, filepath.Join(base, fmt.Sprint("data", round)))
		got, secs, err := s.upload(t, "one.bin", src, 4)
		if err != nil {
			t.Fatalf("upload round %d: %v\nserver log:\n%s", round, err, s.p.stderr.String())
		}
		if got != want {
			t.Fatalf("upload round %d: digest %s, want %s", round, got, want)
		}
		up.Add(float64(size) / secs / 1e9)
		// The same file again, resuming by content, against the client's
		// one-core BLAKE3 rate.
		b3.Add(chunktest.OneCoreBLAKE3())
		got, secs, sent, err := s.uploadByContent(t, "again.bin", src, 4)
		if err != nil {
			t.Fatalf("upload by content round %d: %v\nserver log:\n%s", round, err, s.p.stderr.String())
		}
		if got != want {
			t.Fatalf("upload by content round %d: digest %s, want %s", round, got, want)
		}
		again.Add(float64(size) / secs / 1e9)
		maxSent = max(maxSent, sent)
		s.close(t)
	}
	fmt.Fprintf(&out, "\nuploads through haul serve over loopback HTTP, %d MiB, %d+%d, 3 alternating runs (GB/s: median [spread])\n", size>>20, k, m)
	for _, f := range []*chunktest.Figure{raw, up, b3, again} {
		fmt.Fprintf(&out, "  %-22s %6.2f  [%3.0f%%]  runs %s\n", f.Name, f.Med(), 100*f.Spread(), f.RunsString())
	}
	ratio := up.Med() / (raw.Med() * k / (k + m))
	mark := "ok"
	if ratio < 0.5 {
		mark = "BELOW TARGET"
	}
	fmt.Fprintf(&out, "  %-44s %5.2f  (target ≥ 0.50)  %s\n", "upload / (raw × 8/10)", ratio, mark)

	ratio = again.Med() / b3.Med()
	mark = "ok"
	if ratio < 0.6 {
		mark = "BELOW TARGET"
	}
	fmt.Fprintf(&out, "  %-44s %5.2f  (target ≥ 0.60)  %s\n", "again by content / blake3 1 core", ratio, mark)
	mark = "ok"
	if maxSent*100 > size {
		mark = "ABOVE TARGET"
	}
	fmt.Fprintf(&out, "  %-44s %5.2f%% (target ≤ 1%%)  %s\n", "bytes sent again by content (worst run)", 100*float64(maxSent)/float64(size), mark)

	// (b) Eight uploads at once: the server's peak memory, every digest;
	// with 4 parts in flight each (32 parts at once), then, on a fresh
	// server, with one each.
	each := max(size/4, 64<<20) &^ (1<<20 - 1)
	s := concurrentUploads(t, &out, filepath.Join(base, "data-concurrent-1"), each, 1)
	s.close(t)
	s = concurrentUploads(t, &out, filepath.Join(base, "data-concurrent-4"), each, 4)

	// (c) Control-plane latency, idle and under a saturating upload.
	idleR, idleW := s.controlLatency(t, 200, 5*time.Millisecond, nil)
	busy := make(chan struct{})
	upErr := make(chan error, 1)
	loadSrc := newGenData(200, size)
	go func() {
		defer close(busy)
		_, _, err := s.upload(t, "saturating.bin", loadSrc, 4)
		upErr <- err
	}()
	time.Sleep(200 * time.Millisecond) // the parts are flowing
	loadR, loadW := s.controlLatency(t, 5000, 20*time.Millisecond, busy)
	<-busy
	if err := <-upErr; err != nil {
		t.Errorf("saturating upload: %v", err)
	}
	fmt.Fprintln(&out, "  control plane (sequential requests with an API client, user token):")
	fmt.Fprintln(&out, fmtLatency("GET /v1/teams idle", idleR))
	fmt.Fprintln(&out, fmtLatency("GET /v1/teams during an upload", loadR))
	fmt.Fprintln(&out, fmtLatency("POST /v1/teams/{id}/packages idle", idleW))
	fmt.Fprintln(&out, fmtLatency("POST /v1/teams/{id}/packages during", loadW))
	s.close(t)
	fmt.Fprintf(&out, "  (bench took %v)\n", time.Since(began).Round(time.Second))
	fmt.Print(out.String())
}

// concurrentUploads starts a server, uploads eight files of each bytes at
// once with streams parts in flight each, checks their digests, prints the
// server's peak resident memory, and returns the server still running.
func concurrentUploads(t *testing.T, out io.Writer, data string, each int64, streams int) *benchServer {
	t.Helper()
	const n = 8
	s := startBenchServer(t, data)
	idleRSS := s.vmHWM(t)
	srcs := make([]*genData, n)
	digests := make([]string, n)
	errs := make([]error, n)
	// Which memory makes the peak: anonymous (Go's heap, buffers) or
	// file-backed (mmapped metadata files)? Sampled every 50 ms.
	var maxAnon, maxFile int64
	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
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
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		srcs[i] = newGenData(uint64(100+10*streams+i), each)
		wg.Add(1)
		go func() {
			defer wg.Done()
			digests[i], _, errs[i] = s.upload(t, fmt.Sprint("concurrent-", i), srcs[i], streams)
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	peak := s.vmHWM(t)
	close(stopSampling)
	<-sampled
	bad := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("concurrent upload %d: %v", i, errs[i])
			bad++
		} else if w := hexDigest(srcs[i]); digests[i] != w {
			t.Errorf("concurrent upload %d: digest %s, want %s", i, digests[i], w)
			bad++
		}
	}
	mark := "ok"
	if peak > 256<<20 {
		mark = "ABOVE TARGET"
	}
	fmt.Fprintf(out, "  %d × %d MiB at once, %d part(s) in flight each: %.2f GB/s together; server peak RSS %d MiB (at start %d; target ≤ 256)  %s; digests %d of %d right\n",
		n, each>>20, streams, float64(n*each)/secs/1e9, peak>>20, idleRSS>>20, mark, n-bad, n)
	fmt.Fprintf(out, "      sampled maxima: anonymous %d MiB, file-backed %d MiB\n", maxAnon>>20, maxFile>>20)
	return s
}
