package agent

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"haul/client"
)

func TestParseSchedule(t *testing.T) {
	sc, err := parseSchedule("mon-fri 09:00-18:00")
	if err != nil {
		t.Fatal(err)
	}
	at := func(day, hm string) time.Time {
		d, _ := time.ParseInLocation("2006-01-02 15:04", day+" "+hm, time.Local)
		return d
	}
	// 2026-11-23 is a Monday.
	for _, c := range []struct {
		day, hm string
		want    bool
	}{{"2026-11-23", "09:00", true}, {"2026-11-23", "08:59", false}, {"2026-11-27", "17:59", true}, {"2026-11-27", "18:00", false}, {"2026-11-28", "12:00", false}} {
		if got := sc.active(at(c.day, c.hm)); got != c.want {
			t.Errorf("%s %s: active %v, want %v", c.day, c.hm, got, c.want)
		}
	}
	night, err := parseSchedule("fri,sat 22:00-06:00")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		day, hm string
		want    bool
	}{{"2026-11-27", "23:00", true}, {"2026-11-28", "05:00", true}, {"2026-11-29", "05:00", true}, {"2026-11-30", "05:00", false}, {"2026-11-27", "12:00", false}} {
		if got := night.active(at(c.day, c.hm)); got != c.want {
			t.Errorf("overnight %s %s: active %v, want %v", c.day, c.hm, got, c.want)
		}
	}
	for _, bad := range []string{"weekdays", "mon 9-5", "funday 09:00-10:00", "mon 25:00-26:00"} {
		if _, err := parseSchedule(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseRateSizeExpiry(t *testing.T) {
	for in, want := range map[string]int64{"50M": 50e6, "1.5G": 1.5e9, "800k": 800e3, "0": 0, "off": 0, "100MB/s": 100e6, "123": 123} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseRate("fast"); err == nil {
		t.Error("parseRate(fast) succeeded")
	}
	for in, want := range map[string]int64{"64M": 64 << 20, "1G": 1 << 30, "5MiB": 5 << 20, "1000": 1000} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.Local)
	if got, _ := parseExpiry("14d", now); !got.Equal(now.AddDate(0, 0, 14)) {
		t.Errorf("14d: %v", got)
	}
	if got, _ := parseExpiry("2026-12-31", now); got.Format("2006-01-02 15:04:05") != "2026-12-31 23:59:59" {
		t.Errorf("a date: %v", got)
	}
	if _, err := parseExpiry("soon", now); err == nil {
		t.Error("soon parsed")
	}
}

// TestLimiterPaces: a 4 MB/s limit lets 12 MB through in no less than
// about 2.5 s (the burst passes at once); outside its schedule it waits
// for nothing.
func TestLimiterPaces(t *testing.T) {
	l := newLimiter(4e6, nil)
	start := time.Now()
	for range 48 {
		if err := l.wait(context.Background(), 256<<10); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("12.6 MB at 4 MB/s took %v", d)
	}
	sc, _ := parseSchedule("mon 00:00-00:01")
	off := newLimiter(1, sc)
	off.now = func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.Local) } // a Friday noon
	done := make(chan error, 1)
	go func() { done <- off.wait(context.Background(), 1<<20) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("a limit outside its schedule still waits")
	}
	if newLimiter(0, nil) != nil {
		t.Fatal("rate 0 is a limit")
	}
}

func TestSafeRelAndLinks(t *testing.T) {
	for _, f := range []client.File{{Path: "../x", Name: "a"}, {Path: "a/../../b", Name: "c"}, {Name: ".."}, {Path: "/etc", Name: "passwd"},
		{Path: `a\..\..`, Name: "b"}, {Name: "a\x00b"}, {Name: "clip.mov" + partSuffix}} {
		if rel, err := safeRel(f); err == nil {
			t.Errorf("%+v → %q accepted", f, rel)
		}
	}
	if rel, err := safeRel(client.File{Path: "Card A/CLIPS", Name: "A001.mov"}); err != nil || rel != "Card A/CLIPS/A001.mov" {
		t.Errorf("a plain path: %q %v", rel, err)
	}
	base, id, secret, err := parseLink("https://haul.studio.example/01ABC?secret=s3cr3t")
	if err != nil || base != "https://haul.studio.example" || id != "01ABC" || secret != "s3cr3t" {
		t.Errorf("parseLink: %q %q %q %v", base, id, secret, err)
	}
	for _, bad := range []string{"haul.studio.example/01ABC?secret=s", "https://haul.studio.example/01ABC", "ftp://x/1?secret=s"} {
		if _, _, _, err := parseLink(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if got := folderName(`Grade: "final" / v2`, "id"); strings.ContainsAny(got, `/:"`) {
		t.Errorf("folderName kept unsafe characters: %q", got)
	}
}

// TestCollect: folders keep their structure under their own name, junk is
// skipped, and two paths that would collide are refused.
func TestCollect(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"Card/CLIPS/A001.mov", "Card/.DS_Store", "Card/desktop.ini", "Card/.fcpcache/x.bin", "Card/notes.txt", "other/notes.txt"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(p), 0o644)
	}
	files, err := collect([]string{filepath.Join(dir, "Card")})
	if err != nil {
		t.Fatal(err)
	}
	var rels []string
	for _, f := range files {
		rels = append(rels, f.rel)
	}
	if strings.Join(rels, " ") != "Card/CLIPS/A001.mov Card/notes.txt" {
		t.Fatalf("collected %v", rels)
	}
	if _, err := collect([]string{filepath.Join(dir, "Card", "notes.txt"), filepath.Join(dir, "other", "notes.txt")}); err == nil {
		t.Fatal("two notes.txt at the package's top were accepted")
	}
}

// TestClassify: every failure gets its exit code and a message that says
// what to do.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
		says string
	}{
		{&os.PathError{Op: "write", Path: "/mnt/x", Err: syscall.ENOSPC}, ExitLocal, "free some space"},
		{&os.PathError{Op: "open", Path: "/mnt/x", Err: syscall.EACCES}, ExitLocal, "permission"},
		{x509.UnknownAuthorityError{}, ExitNetwork, "haul tls ca"},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, ExitNetwork, "cannot be reached"},
		{&client.Error{Status: 401, Msg: "bad key"}, ExitAuth, "haul login"},
		{&client.Error{Status: 410, Msg: "link expired"}, ExitGone, "link expired"},
		{&client.Error{Status: 503, Msg: "busy"}, ExitNetwork, "run the same command again"},
		{context.Canceled, ExitCancelled, "resume"},
	} {
		f := classify(c.err)
		if f.Code != c.code || !strings.Contains(f.Error(), c.says) {
			t.Errorf("%v: exit %d %q; want %d and %q", c.err, f.Code, f.Error(), c.code, c.says)
		}
	}
}

// TestFolderNameStaysInside: a package name (or id) from the server never
// names a folder outside the destination.
func TestFolderNameStaysInside(t *testing.T) {
	dest := "/srv/ingest"
	for _, c := range [][2]string{{"..", "../../evil"}, {"...", "/etc"}, {" . ", ".."}, {"", ""}, {"a/../../b", "x"}} {
		name := folderName(c[0], c[1])
		if !inside(dest, filepath.Join(dest, name)) || name == "" || strings.ContainsAny(name, `/\`) {
			t.Errorf("folderName(%q, %q) = %q", c[0], c[1], name)
		}
	}
	if inside(dest, "/srv/ingest/../x") || inside(dest, "/srv") || !inside(dest, "/srv/ingest/a/b") {
		t.Error("inside is wrong")
	}
}
