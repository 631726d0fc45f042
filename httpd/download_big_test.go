//go:build !race

package httpd_test

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dlScratch returns a directory for a big download: /dev/shm when it has
// room for need bytes (and some to spare), else a test temp dir.
func dlScratch(t *testing.T, need int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err == nil && int64(st.Bavail)*st.Bsize > need+need/4 {
		return "/dev/shm"
	}
	return t.TempDir()
}

// TestE2EZipOver4GiB downloads with curl the zip of a package of more than
// 4 GiB (so ZIP64) and checks it with unzip -t. The big file repeats a
// 1 MiB pattern, so the chunk store keeps 16 blocks of it.
func TestE2EZipOver4GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads and downloads 4 GiB")
	}
	dlNeed(t, "curl", "unzip", "b3sum")
	start := time.Now()
	e := newEnv(t)
	gen := &dlPattern{pattern: dlRandom(42, 1<<20), size: 4<<30 + 1<<20}
	digest := make(chan string, 1)
	go func() { digest <- gen.digest() }()
	small := dlRandom(43, 100_000)
	srcs := []dlSource{
		{path: "huge", name: "4GiB+1MiB.bin", r: gen, size: gen.size, chunk: 256 << 20},
		{path: "notes", name: "small.bin", data: small}, // after "huge" in the zip
	}
	pid, ptok := dlPackage(t, e, "Over 4 GiB", srcs, 4)
	t.Logf("uploaded %d bytes in %v", gen.size+int64(len(small)), time.Since(start).Round(time.Millisecond))
	if st, err := e.Svc.ChunkStats(t.Context()); err != nil || st.UniqueBytes > 4<<20 {
		t.Errorf("chunk store holds %d unique bytes (%v); want the pattern's 1 MiB and the small file", st.UniqueBytes, err)
	}

	files := dlList(t, e, pid, ptok)
	if len(files) != 3 || files[2].ID != "zip" {
		t.Fatalf("files = %+v", files)
	}
	hugeF := dlFind(t, files, "huge", "4GiB+1MiB.bin")
	if smallF := dlFind(t, files, "notes", "small.bin"); smallF.Digest != dlHex(small) {
		t.Errorf("listed %+v, want digest %s", smallF, dlHex(small))
	}
	want := <-digest
	if hugeF.Size != gen.size || hugeF.Digest != want {
		t.Errorf("listed %+v, want size %d digest %s", hugeF, gen.size, want)
	}
	z := files[2]
	if z.Size <= gen.size+int64(len(small)) {
		t.Fatalf("zip size %d is not more than its files' %d bytes", z.Size, gen.size+int64(len(small)))
	}

	zp := filepath.Join(dlScratch(t, z.Size), fmt.Sprintf("haul-%s-%d.zip", pid, time.Now().UnixNano()))
	t.Cleanup(func() { os.Remove(zp) })
	rss0 := dlPeakRSS(t)
	t0 := time.Now()
	if out := dlCurl(t, 0, "-f", "-w", "%{http_code} %{size_download}", "-o", zp, dlURL(t, e, pid, "zip", ptok)); out != fmt.Sprintf("200 %d", z.Size) {
		t.Fatalf("curl: %q, want 200 %d", out, z.Size)
	}
	t.Logf("curl fetched the %d-byte zip in %v", z.Size, time.Since(t0).Round(time.Millisecond))
	// The zip streams from the chunk store: serving 4 GiB must not grow
	// the server's (this process's) peak memory by anything like it.
	if rss := dlPeakRSS(t); rss0 > 0 && rss-rss0 > 1<<30 {
		t.Errorf("peak RSS grew from %d MiB to %d MiB while serving the zip: the download was buffered in memory", rss0>>20, rss>>20)
	} else {
		t.Logf("peak RSS %d MiB before the download, %d MiB after", rss0>>20, rss>>20)
	}

	t0 = time.Now()
	dlUnzipTest(t, zp)
	t.Logf("unzip -t in %v", time.Since(t0).Round(time.Millisecond))

	// The entries, as archive/zip reads the ZIP64 fields.
	entries := dlZipEntries(t, zp)
	if len(entries) != 2 || entries[0].Name != "huge/4GiB+1MiB.bin" || entries[0].UncompressedSize64 != uint64(gen.size) ||
		entries[1].Name != "notes/small.bin" || entries[1].UncompressedSize64 != uint64(len(small)) {
		var names []string
		for _, en := range entries {
			names = append(names, fmt.Sprintf("%s (%d)", en.Name, en.UncompressedSize64))
		}
		t.Errorf("zip entries = %s", strings.Join(names, ", "))
	}
	if entries[0].Method != zip.Store {
		t.Errorf("big entry method %d, want store", entries[0].Method)
	}
	// The small file comes after the 4 GiB one: its data is read back
	// through its ZIP64 offset.
	if len(entries) == 2 {
		rc, err := entries[1].Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || dlHex(got) != dlHex(small) {
			t.Errorf("small.bin in the zip: %d bytes, digest %s (%v), want %d %s", len(got), dlHex(got), err, len(small), dlHex(small))
		}
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// dlPeakRSS is this process's peak resident set (VmHWM) in bytes, 0 where
// /proc does not tell.
func dlPeakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
