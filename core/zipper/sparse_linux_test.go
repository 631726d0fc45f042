//go:build linux

package zipper

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestZip64Unzip has Info-ZIP's unzip read the 5 GiB virtual archive of
// TestZip64LargeEntry from a sparse file: only the headers are written,
// the zeros are a hole, so it costs a few kilobytes of disk. unzip lists
// the archive (ZIP64 end record, sizes) and tests the members around the
// big one (a local header beyond 4 GiB), without reading 5 GiB.
func TestZip64Unzip(t *testing.T) {
	if _, err := exec.LookPath("unzip"); err != nil {
		t.Skip("unzip not installed")
	}
	es, small := bigEntries()
	a := newArchive(t, es)
	data := virtualData(small)
	path := filepath.Join(t.TempDir(), "big.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(a.Size()); err != nil {
		t.Skip("cannot make a sparse file:", err)
	}
	big := &a.recs[2] // big/zeros.bin
	holeStart, holeEnd := big.dataOff(), big.dataOff()+big.size
	for _, r := range [][2]int64{{0, holeStart}, {holeEnd, a.Size()}} {
		w := io.NewOffsetWriter(f, r[0])
		if err := a.WriteRange(context.Background(), w, r[0], r[1]-r[0], data); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if fi, err := f.Stat(); err != nil {
		t.Fatal(err)
	} else if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Blocks*512 > 64<<20 {
		t.Skip("file system does not keep the file sparse")
	}

	out, err := exec.Command("unzip", "-l", path).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("5368709120")) || !bytes.Contains(out, []byte("big/small.txt")) {
		t.Fatalf("unzip -l: %v\n%s", err, out)
	}
	unzipTest(t, path, "first.txt", "big/small.txt")
	out, err = exec.Command("unzip", "-p", path, "big/small.txt").Output()
	if err != nil || !bytes.Equal(out, small[2]) {
		t.Fatalf("unzip -p: %v %q", err, out)
	}
}
