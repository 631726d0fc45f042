package core_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"haul/core"
)

// parseSigned splits a SignURL result back into parameters, as a server
// parsing the request would.
func parseSigned(t *testing.T, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestSignedURLs(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Now()
	ring, err := core.LoadKeyring(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	path := "/s3/P/F"
	create := ring.SignURL("POST", path, url.Values{"uploads": {""}}, now.Add(time.Hour), now)
	if !strings.HasPrefix(create, "uploads&X-Haul-Key=") {
		t.Errorf("create URL query %q: want the bare uploads flag first", create)
	}
	if err := ring.VerifyURL("POST", path, parseSigned(t, create), now); err != nil {
		t.Errorf("create URL: %v", err)
	}
	part := ring.SignURL("PUT", path, url.Values{"partNumber": {"7"}, "uploadId": {"U"}}, now.Add(time.Hour), now)
	q := parseSigned(t, part)
	if err := ring.VerifyURL("PUT", path, q, now); err != nil {
		t.Fatalf("part URL: %v", err)
	}
	code := func(err error) string {
		if e, ok := err.(*core.Error); ok {
			return e.Code
		}
		return ""
	}
	for _, c := range []struct {
		name   string
		method string
		path   string
		change func(url.Values)
		at     time.Time
		code   string
	}{
		{"other method", "GET", path, nil, now, "SignatureDoesNotMatch"},
		{"other path", "PUT", "/s3/P/G", nil, now, "SignatureDoesNotMatch"},
		{"other part", "PUT", path, func(q url.Values) { q.Set("partNumber", "8") }, now, "SignatureDoesNotMatch"},
		{"other upload", "PUT", path, func(q url.Values) { q.Set("uploadId", "V") }, now, "SignatureDoesNotMatch"},
		{"added parameter", "PUT", path, func(q url.Values) { q.Set("x-id", "1") }, now, "SignatureDoesNotMatch"},
		{"later expiry", "PUT", path, func(q url.Values) { q.Set(core.SigExpiresParam, "99999999999") }, now, "SignatureDoesNotMatch"},
		{"unknown key", "PUT", path, func(q url.Values) { q.Set(core.SigKeyParam, core.NewID()) }, now, "SignatureDoesNotMatch"},
		{"no signature", "PUT", path, func(q url.Values) { q.Del(core.SigParam) }, now, "AccessDenied"},
		{"expired", "PUT", path, nil, now.Add(2 * time.Hour), "AccessDenied"},
	} {
		q := parseSigned(t, part)
		if c.change != nil {
			c.change(q)
		}
		err := ring.VerifyURL(c.method, c.path, q, c.at)
		if !core.Is(err, core.Forbidden) || code(err) != c.code {
			t.Errorf("%s: %v (code %q), want Forbidden %s", c.name, err, code(err), c.code)
		}
	}
	// Expiry is capped at MaxSignatureLifetime.
	long := parseSigned(t, ring.SignURL("PUT", path, nil, now.Add(10*core.MaxSignatureLifetime), now))
	if err := ring.VerifyURL("PUT", path, long, now.Add(core.MaxSignatureLifetime+time.Hour)); !core.Is(err, core.Forbidden) {
		t.Errorf("a URL outlived MaxSignatureLifetime: %v", err)
	}
	// URLs signed before a key rotation still verify after it.
	if _, err := core.RotateKeys(ctx, db, now); err != nil {
		t.Fatal(err)
	}
	rotated, err := core.LoadKeyring(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := rotated.VerifyURL("PUT", path, q, now); err != nil {
		t.Errorf("after rotation: %v", err)
	}
	if fresh := parseSigned(t, rotated.SignURL("PUT", path, nil, now.Add(time.Hour), now)); fresh.Get(core.SigKeyParam) == q.Get(core.SigKeyParam) {
		t.Error("the rotated keyring still signs with the retired key")
	}
}

func TestFileNames(t *testing.T) {
	for _, c := range []struct {
		name, path string
		ok         bool
		want       string
	}{
		{"a.mov", "", true, ""},
		{"a.mov", "reel 1/day 3/", true, "reel 1/day 3"},
		{"CON", "aux", true, "aux"}, // Windows-reserved names are kept
		{"..", "", false, ""},
		{"a", "x/./y", false, ""},
		{"a", "/abs", false, ""},
		{"a", "a//b", false, ""},
		{"a\tb", "", false, ""},
		{"a\u200bb", "", true, ""}, // format characters are not control characters
	} {
		_, errN := core.CheckFileName("t", "name", c.name)
		p, errP := core.CheckFilePath("t", "path", c.path)
		if ok := errN == nil && errP == nil; ok != c.ok || (ok && p != c.want) {
			t.Errorf("%q in %q: name %v, path %q %v; want ok %v", c.name, c.path, errN, p, errP, c.ok)
		}
	}
}

func TestWindowsUnsafe(t *testing.T) {
	for _, tc := range []struct {
		path, name string
		unsafe     bool
	}{
		{"", "clip.mov", false},
		{"reel 1/day 2", "A001.mxf", false},
		{"", "CON", true},
		{"", "con.txt", true},
		{"", "Com3.log", true},
		{"", "COM0", false},
		{"lpt9", "x", true},
		{"", "what?.mov", true},
		{"", "a:b", true},
		{"", "trailing.", true},
		{"dir ", "x", true},
		{"", "CONSOLE.txt", false},
	} {
		if got := core.WindowsUnsafe(tc.path, tc.name); (got != "") != tc.unsafe {
			t.Errorf("WindowsUnsafe(%q, %q) = %q, want unsafe %v", tc.path, tc.name, got, tc.unsafe)
		}
	}
}
