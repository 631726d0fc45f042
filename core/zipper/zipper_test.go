package zipper

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// file is a test input: an entry with its bytes.
type file struct {
	name string
	data []byte
	mod  time.Time
}

func entriesOf(files []file) []Entry {
	es := make([]Entry, len(files))
	for i, f := range files {
		es[i] = Entry{Name: f.name, Size: int64(len(f.data)), CRC32: crc32.ChecksumIEEE(f.data), Modified: f.mod}
	}
	return es
}

func dataOf(files []file) DataFunc {
	return func(_ context.Context, i int, off, n int64, w io.Writer) error {
		_, err := w.Write(files[i].data[off : off+n])
		return err
	}
}

func newArchive(t testing.TB, es []Entry) *Archive {
	t.Helper()
	a, err := New(es)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func writeRange(t testing.TB, a *Archive, off, n int64, data DataFunc) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := a.WriteRange(context.Background(), &b, off, n, data); err != nil {
		t.Fatalf("WriteRange(%d, %d): %v", off, n, err)
	}
	if int64(b.Len()) != n {
		t.Fatalf("WriteRange(%d, %d) wrote %d bytes", off, n, b.Len())
	}
	return b.Bytes()
}

func fullOutput(t testing.TB, a *Archive, data DataFunc) []byte {
	t.Helper()
	return writeRange(t, a, 0, a.Size(), data)
}

var mod0 = time.Date(2024, 5, 17, 13, 45, 31, 0, time.UTC)

func smallFiles() []file {
	rng := rand.New(rand.NewPCG(3, 4))
	logo := make([]byte, 100_000)
	for i := range logo {
		logo[i] = byte(rng.Uint32())
	}
	return []file{
		{name: "readme.txt", data: []byte("hello, haul\n"), mod: mod0},
		{name: "empty.txt", data: nil, mod: mod0.Add(time.Hour)},
		{name: "docs/guide.md", data: []byte("# Guide\n\nStore, don't deflate.\n"), mod: mod0},
		{name: "docs/img/logo.png", data: logo, mod: mod0.Add(-48 * time.Hour)},
		{name: "données/été ☀.txt", data: []byte("soleil\n"), mod: mod0},
		{name: "a/b/c/d.txt", data: []byte("deep\n"), mod: mod0},
		{name: "emptydir/", mod: mod0},
		{name: "docs/", mod: mod0}, // already implied: adds nothing
	}
}

// wantNames is the central directory order of smallFiles: implied
// directories right before the first entry under them.
var wantNames = []string{
	"readme.txt", "empty.txt",
	"docs/", "docs/guide.md", "docs/img/", "docs/img/logo.png",
	"données/", "données/été ☀.txt",
	"a/", "a/b/", "a/b/c/", "a/b/c/d.txt",
	"emptydir/",
}

func TestSmallArchive(t *testing.T) {
	files := smallFiles()
	a := newArchive(t, entriesOf(files))
	out := fullOutput(t, a, dataOf(files))
	if int64(len(out)) != a.Size() {
		t.Fatalf("Size() = %d, output %d bytes", a.Size(), len(out))
	}
	if a.Len() != len(wantNames) {
		t.Errorf("Len() = %d, want %d", a.Len(), len(wantNames))
	}
	if bytes.Contains(out, []byte{'P', 'K', 6, 6}) {
		t.Error("classic archive has a ZIP64 end record")
	}
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]file{}
	for _, f := range files {
		byName[f.name] = f
	}
	var names []string
	for _, zf := range zr.File {
		names = append(names, zf.Name)
		if zf.Method != zip.Store || zf.Flags != 1<<11 || zf.NonUTF8 {
			t.Errorf("%s: method %d flags %#x nonUTF8 %v", zf.Name, zf.Method, zf.Flags, zf.NonUTF8)
		}
		if zf.CreatorVersion != 3<<8|45 || zf.ReaderVersion != 20 {
			t.Errorf("%s: versions %#x/%d", zf.Name, zf.CreatorVersion, zf.ReaderVersion)
		}
		if len(zf.Extra) != extTimeLen {
			t.Errorf("%s: central extra %x, want only the extended timestamp", zf.Name, zf.Extra)
		}
		f, ok := byName[zf.Name]
		isDir := strings.HasSuffix(zf.Name, "/")
		if isDir {
			if zf.Mode() != fs.ModeDir|0o755 || zf.UncompressedSize64 != 0 || zf.CRC32 != 0 {
				t.Errorf("%s: mode %v size %d crc %08x", zf.Name, zf.Mode(), zf.UncompressedSize64, zf.CRC32)
			}
			continue
		}
		if !ok {
			t.Errorf("unexpected file %q", zf.Name)
			continue
		}
		if zf.Mode() != 0o644 {
			t.Errorf("%s: mode %v", zf.Name, zf.Mode())
		}
		if !zf.Modified.Equal(f.mod) {
			t.Errorf("%s: modified %v, want %v", zf.Name, zf.Modified, f.mod)
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc) // checks the CRC too
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", zf.Name, err)
		}
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s: content differs", zf.Name)
		}
	}
	if fmt.Sprint(names) != fmt.Sprint(wantNames) {
		t.Errorf("names\n got %q\nwant %q", names, wantNames)
	}

	// Implied directories take the time of the entry implying them.
	for _, zf := range zr.File {
		if zf.Name == "docs/img/" && !zf.Modified.Equal(mod0.Add(-48*time.Hour)) {
			t.Errorf("docs/img/: modified %v", zf.Modified)
		}
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "small.zip")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	unzipTest(t, path)

	// Extract and compare; check that permissions are sane.
	if _, err := exec.LookPath("unzip"); err != nil {
		return
	}
	dest := filepath.Join(dir, "x")
	if b, err := exec.Command("unzip", "-q", "-d", dest, path).CombinedOutput(); err != nil {
		t.Fatalf("unzip: %v\n%s", err, b)
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dest, filepath.FromSlash(f.name)))
		if err != nil {
			t.Error(err)
			continue
		}
		if strings.HasSuffix(f.name, "/") {
			if !fi.IsDir() || fi.Mode().Perm()&0o700 != 0o700 {
				t.Errorf("%s: mode %v", f.name, fi.Mode())
			}
			continue
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 != 0 || fi.Mode().Perm()&0o600 != 0o600 {
			t.Errorf("%s: mode %v", f.name, fi.Mode())
		}
		if !fi.ModTime().Equal(f.mod) {
			t.Errorf("%s: mtime %v, want %v", f.name, fi.ModTime(), f.mod)
		}
		got, _ := os.ReadFile(filepath.Join(dest, filepath.FromSlash(f.name)))
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s: extracted content differs", f.name)
		}
	}
}

// unzipTest runs `unzip -tq` on path, skipping when unzip is missing.
func unzipTest(t *testing.T, path string, members ...string) {
	t.Helper()
	if _, err := exec.LookPath("unzip"); err != nil {
		t.Log("unzip not installed; skipping unzip -t")
		return
	}
	out, err := exec.Command("unzip", append([]string{"-tq", path}, members...)...).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("No errors detected")) {
		t.Fatalf("unzip -t %s: %v\n%s", path, err, out)
	}
}

func TestEmptyArchive(t *testing.T) {
	a := newArchive(t, nil)
	out := fullOutput(t, a, nil)
	if a.Size() != endLen || len(out) != endLen {
		t.Fatalf("size %d, output %d", a.Size(), len(out))
	}
	zr, err := zip.NewReader(bytes.NewReader(out), a.Size())
	if err != nil || len(zr.File) != 0 {
		t.Fatalf("%v, %d files", err, len(zr.File))
	}
}

func TestRanges(t *testing.T) {
	files := smallFiles()
	a := newArchive(t, entriesOf(files))
	data := dataOf(files)
	full := fullOutput(t, a, data)
	size := a.Size()
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		off := rng.Int64N(size + 1)
		var n int64
		switch rng.IntN(3) {
		case 0:
			n = rng.Int64N(min(size-off, 100) + 1) // short, often inside one header
		default:
			n = rng.Int64N(size - off + 1)
		}
		if got := writeRange(t, a, off, n, data); !bytes.Equal(got, full[off:off+n]) {
			t.Fatalf("range [%d,+%d) differs", off, n)
		}
	}
	// Every single byte.
	for off := range size {
		if got := writeRange(t, a, off, 1, data); got[0] != full[off] {
			t.Fatalf("byte %d differs", off)
		}
	}
	// Three ranges fetched out of order, then put together.
	for range 100 {
		x, y := rng.Int64N(size+1), rng.Int64N(size+1)
		x, y = min(x, y), max(x, y)
		c := writeRange(t, a, y, size-y, data)
		a0 := writeRange(t, a, 0, x, data)
		b := writeRange(t, a, x, y-x, data)
		if !bytes.Equal(bytes.Join([][]byte{a0, b, c}, nil), full) {
			t.Fatalf("ranges split at %d, %d differ", x, y)
		}
	}
}

func TestDeterministic(t *testing.T) {
	files := smallFiles()
	a1 := fullOutput(t, newArchive(t, entriesOf(files)), dataOf(files))
	a2 := fullOutput(t, newArchive(t, entriesOf(files)), dataOf(files))
	if !bytes.Equal(a1, a2) {
		t.Fatal("two archives of the same entries differ")
	}
	// Local time zones do not matter.
	es := entriesOf(files)
	loc := time.FixedZone("X", -7*3600)
	for i := range es {
		es[i].Modified = es[i].Modified.In(loc)
	}
	if a3 := fullOutput(t, newArchive(t, es), dataOf(files)); !bytes.Equal(a1, a3) {
		t.Fatal("archive depends on the time zone of Modified")
	}
}

func TestBadRanges(t *testing.T) {
	files := smallFiles()
	a := newArchive(t, entriesOf(files))
	s := a.Size()
	for _, r := range [][2]int64{{-1, 1}, {0, -1}, {0, s + 1}, {s, 1}, {s + 1, 0}, {1, math.MaxInt64}, {math.MaxInt64, math.MaxInt64}} {
		var b bytes.Buffer
		err := a.WriteRange(context.Background(), &b, r[0], r[1], dataOf(files))
		if !errors.Is(err, ErrRange) || b.Len() != 0 {
			t.Errorf("range %v: err %v, wrote %d", r, err, b.Len())
		}
	}
	// Empty ranges are fine, at the end too.
	if got := writeRange(t, a, s, 0, nil); len(got) != 0 {
		t.Error("empty range wrote bytes")
	}
}

func TestDataFuncErrors(t *testing.T) {
	files := smallFiles()
	a := newArchive(t, entriesOf(files))
	ctx := context.Background()
	boom := errors.New("boom")
	for name, data := range map[string]DataFunc{
		"nil": nil,
		"error": func(context.Context, int, int64, int64, io.Writer) error {
			return boom
		},
		"short": func(_ context.Context, i int, off, n int64, w io.Writer) error {
			_, err := w.Write(files[i].data[off : off+n-1])
			return err
		},
		"long": func(_ context.Context, i int, off, n int64, w io.Writer) error {
			_, err := w.Write(append(files[i].data[off:off+n:off+n], 'x'))
			return err
		},
	} {
		var b bytes.Buffer
		err := a.WriteRange(ctx, &b, 0, a.Size(), data)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if name == "error" && !errors.Is(err, boom) {
			t.Errorf("%s: %v does not wrap the DataFunc's error", name, err)
		}
	}
	// nil data is fine for a range of headers only.
	if got := writeRange(t, a, 0, 20, nil); len(got) != 20 {
		t.Error("header-only range")
	}
	// An error of the writer is returned.
	err := a.WriteRange(ctx, failWriter{}, 0, a.Size(), dataOf(files))
	if !errors.Is(err, errFail) {
		t.Errorf("writer error: %v", err)
	}
}

var errFail = errors.New("write failed")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

func TestContextCanceled(t *testing.T) {
	files := smallFiles()
	a := newArchive(t, entriesOf(files))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.WriteRange(ctx, io.Discard, 0, a.Size(), dataOf(files)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled before: %v", err)
	}
	// Canceled by the data source midway: the next piece sees it.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	data := func(ctx context.Context, i int, off, n int64, w io.Writer) error {
		calls++
		cancel()
		return dataOf(files)(ctx, i, off, n, w)
	}
	if err := a.WriteRange(ctx, io.Discard, 0, a.Size(), data); !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("canceled midway: %v after %d calls", err, calls)
	}
}

func TestNewErrors(t *testing.T) {
	long := strings.Repeat("x", 65536)
	for name, es := range map[string][]Entry{
		"empty name":      {{Name: ""}},
		"negative size":   {{Name: "a", Size: -1}},
		"duplicate":       {{Name: "a/b"}, {Name: "c"}, {Name: "a/b"}},
		"duplicate dir":   {{Name: "d/"}, {Name: "d/"}},
		"file then dir":   {{Name: "a"}, {Name: "a/b"}},
		"dir then file":   {{Name: "a/b"}, {Name: "a"}},
		"file and dir":    {{Name: "a"}, {Name: "a/"}},
		"dir with data":   {{Name: "d/", Size: 1}},
		"dir with crc":    {{Name: "d/", CRC32: 1}},
		"absolute":        {{Name: "/etc/passwd"}},
		"dotdot":          {{Name: "a/../b"}},
		"dot":             {{Name: "./b"}},
		"empty element":   {{Name: "a//b"}},
		"root":            {{Name: "/"}},
		"invalid utf8":    {{Name: "a\xffb"}},
		"nul":             {{Name: "a\x00b"}},
		"too long":        {{Name: long}},
		"size overflow":   {{Name: "a", Size: math.MaxInt64 - 10}},
		"total overflow":  {{Name: "a", Size: math.MaxInt64 / 2}, {Name: "b", Size: math.MaxInt64 / 2}},
		"cd overflow":     {{Name: "a", Size: math.MaxInt64 - 100}},
		"trailing dotdot": {{Name: "a/../"}},
	} {
		if a, err := New(es); err == nil {
			t.Errorf("%s: no error (size %d)", name, a.Size())
		}
	}
	// The longest name allowed works.
	name := strings.Repeat("y", 65535)
	a := newArchive(t, []Entry{{Name: name, Size: 1, CRC32: crc32.ChecksumIEEE([]byte{'z'})}})
	out := fullOutput(t, a, func(_ context.Context, _ int, _, _ int64, w io.Writer) error {
		_, err := w.Write([]byte{'z'})
		return err
	})
	zr, err := zip.NewReader(bytes.NewReader(out), a.Size())
	if err != nil || zr.File[0].Name != name {
		t.Fatal("longest name", err)
	}
}

func TestTimes(t *testing.T) {
	for _, c := range []struct {
		in        time.Time
		unix      uint32
		dosDate   uint16
		dosClock  uint16
		wantRound time.Time // what archive/zip reads back
	}{
		{time.Time{}, 315532800, 1<<5 | 1, 0, time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(1970, 6, 1, 0, 0, 0, 0, time.UTC), 315532800, 1<<5 | 1, 0, time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2024, 5, 17, 13, 45, 31, 999, time.UTC), 1715953531, 44<<9 | 5<<5 | 17, 13<<11 | 45<<5 | 15, time.Date(2024, 5, 17, 13, 45, 31, 0, time.UTC)},
		{time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt32, 127<<9 | 12<<5 | 31, 23<<11 | 59<<5 | 29, time.Unix(math.MaxInt32, 0).UTC()},
	} {
		u, d, cl := times(c.in)
		if u != c.unix || d != c.dosDate || cl != c.dosClock {
			t.Errorf("times(%v) = %d %#x %#x, want %d %#x %#x", c.in, u, d, cl, c.unix, c.dosDate, c.dosClock)
		}
		a := newArchive(t, []Entry{{Name: "f", Modified: c.in}})
		out := fullOutput(t, a, nil)
		zr, err := zip.NewReader(bytes.NewReader(out), a.Size())
		if err != nil {
			t.Fatal(err)
		}
		if got := zr.File[0].Modified; !got.Equal(c.wantRound) {
			t.Errorf("%v read back as %v, want %v", c.in, got, c.wantRound)
		}
	}
}

// readerAt presents an Archive as an io.ReaderAt through WriteRange, so
// archive/zip can read a virtual archive of any size.
type readerAt struct {
	a    *Archive
	data DataFunc
}

type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.a.Size() {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.a.Size()-off)
	sw := sliceWriter{b: p[:0]}
	if err := r.a.WriteRange(context.Background(), &sw, off, n, r.data); err != nil {
		return 0, err
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

var zeroBuf = make([]byte, 64<<10)

// writeZeros writes n zero bytes.
func writeZeros(w io.Writer, n int64) error {
	for n > 0 {
		m := min(n, int64(len(zeroBuf)))
		if _, err := w.Write(zeroBuf[:m]); err != nil {
			return err
		}
		n -= m
	}
	return nil
}

// virtualData serves entries whose content is all zeros except those in
// small, which are served from memory.
func virtualData(small map[int][]byte) DataFunc {
	return func(_ context.Context, i int, off, n int64, w io.Writer) error {
		if b, ok := small[i]; ok {
			_, err := w.Write(b[off : off+n])
			return err
		}
		return writeZeros(w, n)
	}
}

const gib = 1 << 30

// bigEntries is a virtual archive with a 5 GiB file of zeros, so the file
// after it has a local header offset beyond 4 GiB and the central
// directory needs ZIP64 too.
func bigEntries() ([]Entry, map[int][]byte) {
	small := []byte("after the big one\n")
	es := []Entry{
		{Name: "first.txt", Size: 3, CRC32: crc32.ChecksumIEEE([]byte{0, 0, 0}), Modified: mod0},
		{Name: "big/zeros.bin", Size: 5 * gib, CRC32: zerosCRC(5 * gib), Modified: mod0},
		{Name: "big/small.txt", Size: int64(len(small)), CRC32: crc32.ChecksumIEEE(small), Modified: mod0},
	}
	return es, map[int][]byte{2: small}
}

func TestZip64LargeEntry(t *testing.T) {
	es, small := bigEntries()
	a := newArchive(t, es)
	data := virtualData(small)
	if !a.zip64 {
		t.Fatal("no ZIP64 end record")
	}
	zr, err := zip.NewReader(readerAt{a, data}, a.Size())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name    string
		size    uint64
		version uint16
	}{
		{"first.txt", 3, 20},
		{"big/", 0, 20},
		{"big/zeros.bin", 5 * gib, 45},
		{"big/small.txt", uint64(len(small[2])), 45}, // offset > 4 GiB
	}
	if len(zr.File) != len(want) {
		t.Fatalf("%d files", len(zr.File))
	}
	for i, w := range want {
		zf := zr.File[i]
		if zf.Name != w.name || zf.UncompressedSize64 != w.size || zf.CompressedSize64 != w.size || zf.ReaderVersion != w.version {
			t.Errorf("file %d: %s size %d/%d version %d, want %+v", i, zf.Name, zf.UncompressedSize64, zf.CompressedSize64, zf.ReaderVersion, w)
		}
		if off, err := zf.DataOffset(); err != nil || off != a.recs[i].dataOff() {
			t.Errorf("%s: data offset %d (%v), want %d", zf.Name, off, err, a.recs[i].dataOff())
		}
	}
	if zr.File[2].CRC32 != es[1].CRC32 {
		t.Errorf("big crc %08x, want %08x", zr.File[2].CRC32, es[1].CRC32)
	}
	// The small file after the big one reads back, CRC checked.
	rc, err := zr.File[3].Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, small[2]) {
		t.Fatalf("small file: %q, %v", got, err)
	}
	// The first MiB of the big file.
	rc, err = zr.File[2].Open()
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(rc, head); err != nil || !bytes.Equal(head, make([]byte, len(head))) {
		t.Fatalf("big file head: %v", err)
	}
	rc.Close()

	// The big entry's local header carries both sizes in a ZIP64 extra
	// field; the small one's carries none, but needs version 45.
	r := &a.recs[2]
	lh := writeRange(t, a, r.localOff, r.localLen(), nil)
	if le.Uint16(lh[4:]) != 45 || le.Uint32(lh[18:]) != max32 || le.Uint32(lh[22:]) != max32 {
		t.Errorf("big local header: %x", lh[:30])
	}
	extra := lh[30+len(r.name):]
	if le.Uint16(extra) != zip64ID || le.Uint16(extra[2:]) != 16 || le.Uint64(extra[4:]) != 5*gib || le.Uint64(extra[12:]) != 5*gib {
		t.Errorf("big local zip64 extra: %x", extra)
	}
	r = &a.recs[3]
	lh = writeRange(t, a, r.localOff, r.localLen(), nil)
	if le.Uint16(lh[4:]) != 45 || le.Uint16(lh[28:]) != extTimeLen {
		t.Errorf("small local header: %x", lh)
	}
	// The small file's central header has only the offset in its ZIP64
	// extra field; the big one's only the two sizes.
	for k, want := range map[int]int{2: 4 + 16, 3: 4 + 8, 0: 0} {
		if got := a.recs[k].central64Len(); got != want {
			t.Errorf("record %d: central ZIP64 extra of %d bytes, want %d", k, got, want)
		}
	}
	// Ranges near the end agree with the whole tail.
	tailOff := a.recs[3].localOff
	tail := writeRange(t, a, tailOff, a.Size()-tailOff, data)
	rng := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		off := rng.Int64N(int64(len(tail)) + 1)
		n := rng.Int64N(int64(len(tail)) - off + 1)
		if got := writeRange(t, a, tailOff+off, n, data); !bytes.Equal(got, tail[off:off+n]) {
			t.Fatalf("tail range [%d,+%d) differs", off, n)
		}
	}
}

// TestZip64Boundaries puts sizes right at the 32-bit limit: 0xFFFFFFFE
// stays classic, 0xFFFFFFFF needs ZIP64.
func TestZip64Boundaries(t *testing.T) {
	es := []Entry{
		{Name: "a", Size: max32 - 1, CRC32: zerosCRC(max32 - 1)},
		{Name: "b", Size: max32, CRC32: zerosCRC(max32)},
		{Name: "c", Size: 0},
	}
	a := newArchive(t, es)
	if a.recs[0].size64() || a.recs[0].off64() || !a.recs[1].size64() || !a.recs[1].off64() || !a.recs[2].off64() {
		t.Fatal("unexpected ZIP64 decisions")
	}
	zr, err := zip.NewReader(readerAt{a, virtualData(nil)}, a.Size())
	if err != nil {
		t.Fatal(err)
	}
	for i, zf := range zr.File {
		if zf.Name != es[i].Name || zf.UncompressedSize64 != uint64(es[i].Size) || zf.CRC32 != es[i].CRC32 {
			t.Errorf("file %d: %s %d %08x", i, zf.Name, zf.UncompressedSize64, zf.CRC32)
		}
		if off, err := zf.DataOffset(); err != nil || off != a.recs[i].dataOff() {
			t.Errorf("%s: data offset %d (%v), want %d", zf.Name, off, err, a.recs[i].dataOff())
		}
	}
}

// manyEntries returns n tiny files in folders of 1000, forcing the ZIP64
// entry count when n+folders >= 65535.
func manyEntries(n int) ([]Entry, DataFunc) {
	es := make([]Entry, n)
	content := func(i int) []byte { return fmt.Appendf(nil, "%d\n", i) }
	for i := range es {
		c := content(i)
		es[i] = Entry{Name: fmt.Sprintf("d%03d/f%06d.txt", i/1000, i), Size: int64(len(c)), CRC32: crc32.ChecksumIEEE(c), Modified: mod0}
	}
	return es, func(_ context.Context, i int, off, n int64, w io.Writer) error {
		_, err := w.Write(content(i)[off : off+n])
		return err
	}
}

func TestZip64ManyEntries(t *testing.T) {
	es, data := manyEntries(70_000)
	a := newArchive(t, es)
	if !a.zip64 || a.cdOff >= max32 {
		t.Fatal("want a ZIP64 end record for the entry count only")
	}
	out := fullOutput(t, a, data)
	// Only the count overflows: the classic end record keeps the real
	// size and offset of the central directory.
	end := out[len(out)-endLen:]
	if le.Uint16(end[8:]) != max16 || le.Uint16(end[10:]) != max16 || int64(le.Uint32(end[12:])) != a.cdSize || int64(le.Uint32(end[16:])) != a.cdOff {
		t.Errorf("end record %x", end)
	}
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 70_000+70 {
		t.Fatalf("%d files", len(zr.File))
	}
	for _, k := range []int{0, 1, 1001, 35_000, len(zr.File) - 1} {
		zf := zr.File[k]
		if strings.HasSuffix(zf.Name, "/") {
			continue
		}
		var i int
		fmt.Sscanf(zf.Name[strings.IndexByte(zf.Name, '/')+1:], "f%06d.txt", &i)
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != fmt.Sprintf("%d\n", i) {
			t.Errorf("%s: %q %v", zf.Name, got, err)
		}
	}
	// Random ranges deep in the central directory.
	rng := rand.New(rand.NewPCG(9, 10))
	for range 300 {
		off := a.cdOff + rng.Int64N(a.Size()-a.cdOff)
		n := rng.Int64N(min(a.Size()-off, 5000) + 1)
		if got := writeRange(t, a, off, n, data); !bytes.Equal(got, out[off:off+n]) {
			t.Fatalf("range [%d,+%d) differs", off, n)
		}
	}
	if testing.Short() {
		return
	}
	path := filepath.Join(t.TempDir(), "many.zip")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	unzipTest(t, path)
}

// TestEndRecordExactly65535 checks the boundary of the entry count.
func TestEndRecordBoundary(t *testing.T) {
	for _, n := range []int{max16 - 1, max16} {
		es := make([]Entry, n)
		for i := range es {
			es[i] = Entry{Name: fmt.Sprintf("f%d", i)}
		}
		a := newArchive(t, es)
		if a.zip64 != (n >= max16) {
			t.Errorf("%d entries: zip64 %v", n, a.zip64)
		}
		out := fullOutput(t, a, nil)
		zr, err := zip.NewReader(bytes.NewReader(out), a.Size())
		if err != nil || len(zr.File) != n {
			t.Fatalf("%d entries: %v", n, err)
		}
	}
}

func TestLocalHeaderLayout(t *testing.T) {
	a := newArchive(t, []Entry{{Name: "é", Size: 2, CRC32: 0xdeadbeef, Modified: mod0}})
	lh := writeRange(t, a, 0, a.recs[0].localLen(), nil)
	want := binary.LittleEndian.AppendUint32(nil, sigLocal)
	want = append(want, 20, 0, 0, 8, 0, 0)
	_, d, c := times(mod0)
	want = binary.LittleEndian.AppendUint16(want, c)
	want = binary.LittleEndian.AppendUint16(want, d)
	want = binary.LittleEndian.AppendUint32(want, 0xdeadbeef)
	want = append(want, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 9, 0)
	want = append(want, "é"...)
	want = append(want, 0x55, 0x54, 5, 0, 1)
	want = binary.LittleEndian.AppendUint32(want, uint32(mod0.Unix()))
	if !bytes.Equal(lh, want) {
		t.Errorf("local header\n got %x\nwant %x", lh, want)
	}
}

func BenchmarkWriteRangeCentralTail(b *testing.B) {
	es, data := manyEntries(500_000)
	a := newArchive(b, es)
	off := a.Size() - 4096
	b.ResetTimer()
	for range b.N {
		if err := a.WriteRange(context.Background(), io.Discard, off, 4096, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNew500k(b *testing.B) {
	es, _ := manyEntries(500_000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := New(es); err != nil {
			b.Fatal(err)
		}
	}
}
