package httpd_test

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"haul/core"
)

// clock is a service clock tests move forward.
type clock struct{ skew atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *clock) advance(d time.Duration) { c.skew.Add(int64(d)) }

// sentPackage uploads files (name → bytes, at the package's top) into a
// new package of cr and finalizes it.
func (e *env) sentPackage(cr cred, name string, files map[string][]byte) (pid, ptok string, fids map[string]string) {
	e.t.Helper()
	pid, ptok = e.newPackage(cr, name)
	fids = map[string]string{}
	for name, data := range files {
		u := e.addFile(pid, ptok, name, data, 64<<10)
		var etags []string
		for n := 1; n <= u.parts(); n++ {
			etags = append(etags, u.put(u.partURLs(n-1, 1)[0], n))
		}
		if r := u.finalize(etags, len(data)); r.Status != 200 {
			e.t.Fatalf("finalize %s: %d %s", name, r.Status, r.Body)
		}
		fids[name] = u.fid
	}
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, header("X-Package-Token", ptok))
	return pid, ptok, fids
}

func ptok(t string) cred { return header("X-Package-Token", t) }

// openLink opens a link and returns its download token.
func (e *env) openLink(id, secret, password string, creds ...cred) string {
	e.t.Helper()
	if password != "" {
		creds = append(creds, header("X-Link-Password", password))
	}
	return e.must(200, "GET", "/v1/links/"+id+"?secret="+secret, nil, creds...).Map(e.t)["package_token"].(string)
}

// fileURL asks for a file's download URL with a package token.
func (e *env) fileURL(pid, fid, tok string) string {
	e.t.Helper()
	return e.must(200, "GET", "/v1/packages/"+pid+"/files/"+fid+"/download", nil, ptok(tok)).Map(e.t)["url"].(string)
}

func TestLinksLifecycle(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	data := randomData(1, 300_000)
	pid, tok := e.newPackage(userToken(o.Token), "Reel")
	u := e.addFile(pid, tok, "reel.mov", data, 64<<10)

	// A link made while the package is new waits for finalize.
	early := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{"email": "Editor@Post.example"}, ptok(tok)).Map(t)
	if early["active"] != false || early["email"] != "editor@post.example" || early["access_limit_enabled"] != false || early["download_secret"] == "" {
		t.Fatalf("early link = %v", early)
	}
	r := e.must(409, "GET", "/v1/links/"+early["id"].(string)+"?secret="+early["download_secret"].(string), nil)
	if !strings.Contains(r.ErrMsg(t), "still being uploaded") {
		t.Fatalf("open before finalize: %s", r.Body)
	}
	var etags []string
	for n := 1; n <= u.parts(); n++ {
		etags = append(etags, u.put(u.partURLs(n-1, 1)[0], n))
	}
	if r := u.finalize(etags, len(data)); r.Status != 200 {
		t.Fatalf("finalize: %s", r.Body)
	}
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, ptok(tok))

	// MASV's shape; a password shows as ****; expiry defaults to the
	// package's and may not pass it.
	l := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{"password": "open sesame", "access_limit": 3}, ptok(tok)).Map(t)
	hasKeys(t, "link", l, "id", "download_secret", "access_limit", "access_limit_enabled", "active", "expiry", "email", "password")
	if l["password"] != "****" || l["access_limit"] != 3.0 || l["access_limit_enabled"] != true || l["active"] != true || l["email"] != ownerEmail {
		t.Fatalf("link = %v", l)
	}
	if !strings.Contains(l["url"].(string), "/"+l["id"].(string)+"?secret=") {
		t.Fatalf("url = %v", l["url"])
	}
	pk := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+pid, nil, userToken(o.Token)).Map(t)
	if l["expiry"] != pk["expiry"] {
		t.Fatalf("link expiry %v, package %v", l["expiry"], pk["expiry"])
	}
	far := time.Now().Add(300 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if r := e.must(400, "POST", "/v1/packages/"+pid+"/links", map[string]any{"expiry": far}, ptok(tok)); r.errField(t) != "expiry" {
		t.Fatalf("expiry past the package's: %s", r.Body)
	}
	links := e.must(200, "GET", "/v1/packages/"+pid+"/links", nil, ptok(tok)).array(t)
	if len(links) != 2 || links[0]["active"] != true {
		t.Fatalf("links = %v", links)
	}

	// Opening: wrong secret = unknown link = 404, same message.
	id, secret := l["id"].(string), l["download_secret"].(string)
	unknown := e.must(404, "GET", "/v1/links/01M8EJ1T16ZPHT2JP7QXFXTCM8?secret="+secret, nil).ErrMsg(t)
	if wrong := e.must(404, "GET", "/v1/links/"+id+"?secret=x"+secret, nil).ErrMsg(t); wrong != unknown {
		t.Fatalf("wrong secret %q vs unknown link %q", wrong, unknown)
	}
	e.must(401, "GET", "/v1/links/"+id+"?secret="+secret, nil)
	e.must(401, "GET", "/v1/links/"+id+"?secret="+secret, nil, header("X-Link-Password", "nope"))
	opened := e.must(200, "GET", "/v1/links/"+id+"?secret="+secret, nil, header("X-Link-Password", "open sesame")).Map(t)
	hasKeys(t, "opened link", opened, "id", "name", "package_id", "package_size", "package_token", "expiry", "sender_email", "recipient_email", "branding")
	if opened["package_id"] != pid || opened["package_size"] != float64(len(data)) || opened["sender_email"] != ownerEmail || opened["name"] != "Reel" {
		t.Fatalf("opened = %v", opened)
	}
	dtok := opened["package_token"].(string)

	// The download token lists and downloads, nothing else.
	files := e.must(200, "GET", "/v1/packages/"+pid+"/files", nil, ptok(dtok)).array(t)
	if len(files) != 2 || files[0]["digest"] != u.wantDigest() || files[1]["kind"] != "zip_windows" {
		t.Fatalf("files = %v", files)
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1/packages/" + pid + "/links"},
		{"POST", "/v1/packages/" + pid + "/files"},
		{"POST", "/v1/packages/" + pid + "/finalize"},
		{"PUT", "/v1/packages/" + pid},
		{"DELETE", "/v1/packages/" + pid},
		{"GET", "/v1/packages/" + pid + "/links"},
	} {
		if r := e.do(c.method, c.path, map[string]any{"name": "x", "kind": "file"}, ptok(dtok)); r.Status != 403 {
			t.Errorf("%s %s with a download token: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}

	// Disabling: 204, kept in the list, opening is 410, its tokens get no
	// new URL.
	e.must(204, "DELETE", "/v1/packages/"+pid+"/links/"+id, nil, ptok(tok))
	links = e.must(200, "GET", "/v1/packages/"+pid+"/links", nil, ptok(tok)).array(t)
	if len(links) != 2 || links[1]["disabled"] != true || links[1]["active"] != false {
		t.Fatalf("links after disable = %v", links)
	}
	e.must(410, "GET", "/v1/links/"+id+"?secret="+secret, nil, header("X-Link-Password", "open sesame"))
	e.must(410, "GET", "/v1/packages/"+pid+"/files/"+u.fid+"/download", nil, ptok(dtok))
	e.must(410, "GET", "/v1/packages/"+pid+"/files", nil, ptok(dtok))
	e.must(404, "DELETE", "/v1/packages/"+pid+"/links/01M8EJ1T16ZPHT2JP7QXFXTCM8", nil, ptok(tok))
	var evs struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/events?types[]=link.created&types[]=link.disabled", nil, userToken(o.Token)).JSON(t, &evs)
	if len(evs.Records) != 3 || evs.Records[0]["type"] != "link.disabled" || evs.Records[0]["target_id"] != id {
		t.Fatalf("link events = %v", evs.Records)
	}
}

// TestLinkAccessLimit: one access per download token, counted at its
// first file or zip URL; further URLs and ranges are free; an exhausted
// link refuses opening (403 saying so) and uncounted tokens.
func TestLinkAccessLimit(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	data := randomData(2, 200_000)
	pid, tok, fids := e.sentPackage(userToken(o.Token), "Limited", map[string][]byte{"a.mov": data})
	l := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{"access_limit": 2}, ptok(tok)).Map(t)
	id, secret := l["id"].(string), l["download_secret"].(string)

	t1 := e.openLink(id, secret, "")
	t2 := e.openLink(id, secret, "")
	t3 := e.openLink(id, secret, "") // opened while accesses remained
	for range 3 {                    // t1's URLs, ranges and the zip: one access
		url := e.fileURL(pid, fids["a.mov"], t1)
		if r := e.raw("GET", url, nil, -2, header("Range", "bytes=0-99")); r.Status != 206 {
			t.Fatalf("range: %d", r.Status)
		}
	}
	e.fileURL(pid, core.ZipID, t1)
	if n := e.linkAccesses(pid, tok, id); n != 1 {
		t.Fatalf("accesses after one token = %d", n)
	}
	e.fileURL(pid, fids["a.mov"], t2)
	if n := e.linkAccesses(pid, tok, id); n != 2 {
		t.Fatalf("accesses after two tokens = %d", n)
	}
	r := e.must(403, "GET", "/v1/links/"+id+"?secret="+secret, nil)
	if !strings.Contains(r.ErrMsg(t), "download limit is reached") {
		t.Fatalf("exhausted: %s", r.Body)
	}
	e.must(403, "GET", "/v1/packages/"+pid+"/files/"+fids["a.mov"]+"/download", nil, ptok(t3))
	e.fileURL(pid, fids["a.mov"], t1) // still free for a counted token

	// Each open is a download in the history: opening in a loop from one
	// address is limited (60 at once), another address is not.
	free := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{}, ptok(tok)).Map(t)
	openPath := "/v1/links/" + free["id"].(string) + "?secret=" + free["download_secret"].(string)
	for range 60 {
		e.must(200, "GET", openPath, nil)
	}
	if r := e.must(429, "GET", openPath, nil); !strings.Contains(r.ErrMsg(t), "opened too often") {
		t.Fatalf("open limit: %s", r.Body)
	}

	// The team's default applies when enabled; the package's when set.
	e.must(200, "PUT", "/v1/teams/"+e.TeamID, map[string]any{"download_limit_enabled": true, "download_limit_default": 7}, userToken(o.Token))
	p2, tok2 := e.newPackage(userToken(o.Token), "Defaulted")
	if l := e.must(201, "POST", "/v1/packages/"+p2+"/links", map[string]any{}, ptok(tok2)).Map(t); l["access_limit"] != 7.0 {
		t.Fatalf("team default: %v", l["access_limit"])
	}
}

func (e *env) linkAccesses(pid, tok, id string) int {
	e.t.Helper()
	for _, l := range e.must(200, "GET", "/v1/packages/"+pid+"/links", nil, ptok(tok)).array(e.t) {
		if l["id"] == id {
			return int(l["access_count"].(float64))
		}
	}
	e.t.Fatalf("link %s not listed", id)
	return 0
}

// TestLinkPasswordRateLimit: wrong passwords are limited per link and
// client address: the limited address gets 429 even with the right
// password, while another address still gets in.
func TestLinkPasswordRateLimit(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	o := e.owner()
	pid, tok, _ := e.sentPackage(userToken(o.Token), "Secret", map[string][]byte{"a.mov": randomData(3, 1000)})
	l := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{"password": "right one"}, ptok(tok)).Map(t)
	path := "/v1/links/" + l["id"].(string) + "?secret=" + l["download_secret"].(string)
	a, b := header("X-Forwarded-For", "203.0.113.9"), header("X-Forwarded-For", "198.51.100.4")
	// Successes take nothing: a recipient may reopen the link at will.
	for range 8 {
		e.must(200, "GET", path, nil, a, header("X-Link-Password", "right one"))
	}
	for range 5 {
		e.must(401, "GET", path, nil, a, header("X-Link-Password", "wrong"))
	}
	r := e.must(429, "GET", path, nil, a, header("X-Link-Password", "right one"))
	if r.Header.Get("Retry-After") == "" || !strings.Contains(r.ErrMsg(t), "too many password attempts") {
		t.Fatalf("429: %v %s", r.Header, r.Body)
	}
	e.must(200, "GET", path, nil, b, header("X-Link-Password", "right one"))

	// Guesses sent at once are charged before any is checked: of 20
	// parallel wrong guesses from a fresh address, 5 are checked.
	c := header("X-Forwarded-For", "192.0.2.200")
	var wg sync.WaitGroup
	var checked, limited atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch e.do("GET", path, nil, c, header("X-Link-Password", "wrong")).Status {
			case 401:
				checked.Add(1)
			case 429:
				limited.Add(1)
			}
		}()
	}
	wg.Wait()
	if checked.Load() != 5 || limited.Load() != 15 {
		t.Fatalf("parallel guesses: %d checked, %d limited; want 5 and 15", checked.Load(), limited.Load())
	}
}

// TestLinkAndPackageExpiry: an expired link, an expired package and an
// expired signed URL are refused (410, 410, 403).
func TestLinkAndPackageExpiry(t *testing.T) {
	var c clock
	e := newEnv(t, func(o *envOptions) { o.now = c.now })
	o := e.owner()
	pid, tok, fids := e.sentPackage(userToken(o.Token), "Soon", map[string][]byte{"a.mov": randomData(4, 1000)})
	short := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{"expiry": c.now().Add(time.Hour).UTC().Format(time.RFC3339)}, ptok(tok)).Map(t)
	long := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{}, ptok(tok)).Map(t)
	dtok := e.openLink(long["id"].(string), long["download_secret"].(string), "")
	url := e.fileURL(pid, fids["a.mov"], dtok)
	e.must(200, "GET", "/v1/links/"+short["id"].(string)+"?secret="+short["download_secret"].(string), nil)

	c.advance(2 * time.Hour)
	r := e.must(410, "GET", "/v1/links/"+short["id"].(string)+"?secret="+short["download_secret"].(string), nil)
	if !strings.Contains(r.ErrMsg(t), "link has expired") {
		t.Fatalf("expired link: %s", r.Body)
	}
	if r := e.raw("GET", url, nil, -2); r.Status != 200 {
		t.Fatalf("URL within its life: %d", r.Status)
	}

	c.advance(8 * 24 * time.Hour) // past the URL's 7 days
	if r := e.raw("GET", url, nil, -2); r.Status != 403 {
		t.Fatalf("expired URL: %d %s", r.Status, r.Body)
	}
	c.advance(30 * 24 * time.Hour) // past the package's 30 days
	r = e.must(410, "GET", "/v1/links/"+long["id"].(string)+"?secret="+long["download_secret"].(string), nil)
	if !strings.Contains(r.ErrMsg(t), "package has expired") {
		t.Fatalf("expired package: %s", r.Body)
	}
}

// TestDownloadHTTP: the file URL's HTTP: ranges, If-Range, ETag, HEAD,
// 416, safe Content-Disposition, tampered URLs.
func TestDownloadHTTP(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	data := randomData(5, 150_000)
	pid, tok, fids := e.sentPackage(userToken(o.Token), "HTTP", map[string][]byte{"aux.txt": data, "Überblick.mov": data[:10]})
	url := e.fileURL(pid, fids["aux.txt"], tok)

	full := e.raw("GET", url, nil, -2)
	if full.Status != 200 || string(full.Body) != string(data) {
		t.Fatalf("full GET: %d, %d bytes", full.Status, len(full.Body))
	}
	etag := full.Header.Get("ETag")
	files := e.must(200, "GET", "/v1/packages/"+pid+"/files", nil, ptok(tok)).array(t)
	var digest string
	for _, f := range files {
		if f["id"] == fids["aux.txt"] {
			digest = f["digest"].(string)
		}
	}
	if etag != `"`+digest+`"` || full.Header.Get("Accept-Ranges") != "bytes" || full.Header.Get("Referrer-Policy") != "no-referrer" ||
		full.Header.Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Fatalf("headers: %v", full.Header)
	}
	if cd := full.Header.Get("Content-Disposition"); cd != `attachment; filename="_aux.txt"; filename*=UTF-8''_aux.txt` {
		t.Fatalf("Content-Disposition (a Windows device name) = %q", cd)
	}
	u2 := e.raw("GET", e.fileURL(pid, fids["Überblick.mov"], tok), nil, -2)
	if cd := u2.Header.Get("Content-Disposition"); cd != `attachment; filename="_berblick.mov"; filename*=UTF-8''%C3%9Cberblick.mov` {
		t.Fatalf("Content-Disposition (non-ASCII) = %q", cd)
	}

	for _, c := range []struct {
		rng      string
		status   int
		from, to int // expected body data[from:to]
	}{
		{"bytes=0-9", 206, 0, 10},
		{"bytes=149990-", 206, 149990, 150000},
		{"bytes=-25", 206, 149975, 150000},
		{"bytes=100-199999", 206, 100, 150000},
		{"bytes=100-99999999999999999999", 206, 100, 150000}, // past int64: to the end
		{"bytes=0-1,5-6", 200, 0, 150000},                    // several ranges: the whole file
		{"pages=1-2", 200, 0, 150000},
	} {
		r := e.raw("GET", url, nil, -2, header("Range", c.rng))
		if r.Status != c.status || string(r.Body) != string(data[c.from:c.to]) {
			t.Errorf("Range %s: %d, %d bytes", c.rng, r.Status, len(r.Body))
		}
		if c.status == 206 && r.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", c.from, c.to-1, len(data)) {
			t.Errorf("Range %s: Content-Range %q", c.rng, r.Header.Get("Content-Range"))
		}
	}
	r := e.raw("GET", url, nil, -2, header("Range", "bytes=150000-"))
	if r.Status != 416 || r.Header.Get("Content-Range") != "bytes */150000" {
		t.Fatalf("range past the end: %d %v", r.Status, r.Header)
	}
	if r := e.raw("GET", url, nil, -2, header("Range", "bytes=10-19"), header("If-Range", etag)); r.Status != 206 {
		t.Fatalf("If-Range with the ETag: %d", r.Status)
	}
	if r := e.raw("GET", url, nil, -2, header("Range", "bytes=10-19"), header("If-Range", `"other"`)); r.Status != 200 || len(r.Body) != len(data) {
		t.Fatalf("If-Range with another ETag: %d", r.Status)
	}
	if r := e.raw("GET", url, nil, -2, header("If-None-Match", etag)); r.Status != 304 {
		t.Fatalf("If-None-Match: %d", r.Status)
	}
	if r := e.raw("HEAD", url, nil, -2); r.Status != 200 || r.Header.Get("Content-Length") != "150000" || len(r.Body) != 0 {
		t.Fatalf("HEAD: %d %v %s", r.Status, r.Header, e.Logs.String()[max(0, len(e.Logs.String())-1500):])
	}

	// Tampered: another file, another package id, an altered signature.
	for _, bad := range []string{
		strings.Replace(url, fids["aux.txt"], fids["Überblick.mov"], 1),
		strings.Replace(url, "X-Haul-Signature=", "X-Haul-Signature=A", 1),
		strings.Replace(url, "X-Haul-Expires=", "X-Haul-Expires=9", 1),
		url[:strings.Index(url, "?")],
	} {
		if r := e.raw("GET", bad, nil, -2); r.Status != 403 {
			t.Errorf("tampered URL %s: %d", bad, r.Status)
		}
	}
	// A deleted package's URLs answer 410.
	e.must(204, "DELETE", "/v1/packages/"+pid, nil, ptok(tok))
	if r := e.raw("GET", url, nil, -2); r.Status != 410 {
		t.Fatalf("deleted package: %d %s", r.Status, r.Body)
	}
}

// TestActivitiesAndRecords: the upload, link and download activities go
// through MASV's states; downloads leave per-file records; a client's
// completion report completes the download and the link only once every
// file was served whole.
func TestActivitiesAndRecords(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	o := e.owner()
	a, b := randomData(6, 100_000), randomData(7, 70_000)
	pid, tok := e.newPackage(userToken(o.Token), "Tracked")
	acts := func(q string) []map[string]any {
		var l struct {
			Records []map[string]any `json:"records"`
		}
		e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/activities?package_id="+pid+q, nil, userToken(o.Token)).JSON(t, &l)
		return l.Records
	}
	state := func(typ string) string {
		l := acts("&activity_types[]=" + typ)
		if len(l) == 0 {
			return ""
		}
		return l[0]["activity_state"].(string)
	}
	if s := state(core.ActivityUpload); s != "pending" {
		t.Fatalf("upload after create: %q", s)
	}
	ua := e.addFile(pid, tok, "a.mov", a, 64<<10)
	if s := state(core.ActivityUpload); s != "started" {
		t.Fatalf("upload after the first file: %q", s)
	}
	ub := e.addFile(pid, tok, "b.mov", b, 64<<10)
	uc := e.addFile(pid, tok, "empty.txt", nil, 64<<10)
	for _, u := range []*upload{ua, ub, uc} {
		var etags []string
		for n := 1; n <= u.parts(); n++ {
			etags = append(etags, u.put(u.partURLs(n-1, 1)[0], n))
		}
		if r := u.finalize(etags, len(u.data)); r.Status != 200 {
			t.Fatal(string(r.Body))
		}
	}
	l := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{"email": "colorist@post.example"}, ptok(tok)).Map(t)
	if s := state(core.ActivityLink); s != "pending" {
		t.Fatalf("link before open: %q", s)
	}
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, ptok(tok))
	if s := state(core.ActivityUpload); s != "complete" {
		t.Fatalf("upload after finalize: %q", s)
	}
	dtok := e.openLink(l["id"].(string), l["download_secret"].(string), "", header("X-Forwarded-For", "192.0.2.77"))
	if s := state(core.ActivityLink); s != "started" {
		t.Fatalf("link after open: %q", s)
	}
	if s := state(core.ActivityDownload); s != "pending" {
		t.Fatalf("download after open: %q", s)
	}
	e.must(409, "POST", "/v1/packages/"+pid+"/download_complete", nil, ptok(dtok))
	e.must(403, "POST", "/v1/packages/"+pid+"/download_complete", nil, ptok(tok)) // not a download token

	// a whole, b in two ranges: both whole.
	if r := e.raw("GET", e.fileURL(pid, ua.fid, dtok), nil, -2, header("X-Forwarded-For", "192.0.2.77")); r.Status != 200 {
		t.Fatal(r.Status)
	}
	if s := state(core.ActivityDownload); s != "started" {
		t.Fatalf("download after the first URL: %q", s)
	}
	bu := e.fileURL(pid, ub.fid, dtok)
	// The same range twice serves more bytes than b holds, but not all of b.
	e.raw("GET", bu, nil, -2, header("Range", "bytes=0-39999"), header("X-Forwarded-For", "192.0.2.77"))
	e.raw("GET", bu, nil, -2, header("Range", "bytes=0-39999"), header("X-Forwarded-For", "192.0.2.77"))
	r := e.must(409, "POST", "/v1/packages/"+pid+"/download_complete", nil, ptok(dtok))
	if !strings.Contains(r.ErrMsg(t), "b.mov") || strings.Contains(r.ErrMsg(t), "a.mov") {
		t.Fatalf("incomplete: %s", r.Body)
	}
	e.raw("GET", bu, nil, -2, header("Range", "bytes=40000-"), header("X-Forwarded-For", "192.0.2.77"))
	r = e.must(409, "POST", "/v1/packages/"+pid+"/download_complete", nil, ptok(dtok))
	if !strings.Contains(r.ErrMsg(t), "empty.txt") || strings.Contains(r.ErrMsg(t), "b.mov") {
		t.Fatalf("incomplete (the empty file): %s", r.Body)
	}
	if r := e.raw("GET", e.fileURL(pid, uc.fid, dtok), nil, -2, header("X-Forwarded-For", "192.0.2.77")); r.Status != 200 || len(r.Body) != 0 {
		t.Fatalf("empty file: %d", r.Status)
	}
	e.must(204, "POST", "/v1/packages/"+pid+"/download_complete", nil, ptok(dtok))
	if s := state(core.ActivityDownload); s != "complete" {
		t.Fatalf("download after completion: %q", s)
	}
	if s := state(core.ActivityLink); s != "complete" {
		t.Fatalf("link after completion: %q", s)
	}
	if n := len(acts("&activity_states[]=complete")); n != 3 {
		t.Fatalf("complete activities = %d", n)
	}
	e.must(400, "GET", "/v1.1/teams/"+e.TeamID+"/activities?activity_states[]=done", nil, userToken(o.Token))

	// The download's records: file, range, bytes, client address.
	dl := acts("&activity_types[]=" + core.ActivityDownload)[0]
	var detail struct {
		Email       string `json:"email"`
		BytesServed int64  `json:"bytes_served"`
		Downloads   []struct {
			FileID   string `json:"file_id"`
			Bytes    int64  `json:"bytes"`
			Offset   int64  `json:"offset"`
			ClientIP string `json:"client_ip"`
			Complete bool   `json:"complete"`
		} `json:"downloads"`
	}
	e.must(200, "GET", "/v1/teams/"+e.TeamID+"/activities/"+dl["id"].(string), nil, userToken(o.Token)).JSON(t, &detail)
	if len(detail.Downloads) != 5 || detail.Email != "colorist@post.example" {
		t.Fatalf("records = %+v", detail)
	}
	var sum int64
	for _, d := range detail.Downloads {
		sum += d.Bytes
		if d.ClientIP != "192.0.2.77" || !d.Complete {
			t.Errorf("record %+v", d)
		}
	}
	if sum != int64(len(a)+len(b)+40000) || detail.BytesServed != int64(len(a)+len(b)) {
		t.Fatalf("bytes recorded %d (distinct %d), want %d (%d)", sum, detail.BytesServed, len(a)+len(b)+40000, len(a)+len(b))
	}
	events := e.must(200, "GET", "/v1/teams/"+e.TeamID+"/activities/"+dl["id"].(string)+"/events", nil, userToken(o.Token)).array(t)
	if len(events) != 3 || events[0]["activity_state"] != "pending" || events[2]["activity_state"] != "complete" {
		t.Fatalf("events = %v", events)
	}
	for _, lk := range e.must(200, "GET", "/v1/packages/"+pid+"/links", nil, ptok(tok)).array(t) {
		if lk["accessed_at"] == nil {
			t.Errorf("accessed_at missing: %v", lk)
		}
	}

	// Deleting a package cancels an upload still in progress.
	p2, tok2 := e.newPackage(userToken(o.Token), "Cancelled")
	e.must(204, "DELETE", "/v1/packages/"+p2, nil, ptok(tok2))
	var l2 struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/activities?package_id="+p2, nil, userToken(o.Token)).JSON(t, &l2)
	if len(l2.Records) != 1 || l2.Records[0]["activity_state"] != "cancelled" {
		t.Fatalf("deleted package's upload: %v", l2.Records)
	}
}

// TestRecipientLinksAndPage: finalize makes one link per recipient with
// the package's password; the link page lists files, or asks for the
// password, and shows why a link does not work.
func TestRecipientLinksAndPage(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	p := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/packages", map[string]any{"name": "For you",
		"recipients": []string{"a@post.example", "b@post.example"}, "password": "pkgpass"}, userToken(o.Token)).Map(t)
	pid, tok := p["id"].(string), p["access_token"].(string)
	u := e.addFile(pid, tok, "cut.mov", randomData(8, 5000), 64<<10)
	if r := u.finalize([]string{u.put(u.partURLs(0, 1)[0], 1)}, 5000); r.Status != 200 {
		t.Fatal(string(r.Body))
	}
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, ptok(tok))
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, ptok(tok)) // a retry makes no more links
	links := e.must(200, "GET", "/v1/packages/"+pid+"/links", nil, ptok(tok)).array(t)
	if len(links) != 2 || links[0]["email"] != "a@post.example" || links[1]["email"] != "b@post.example" || links[0]["password"] != "****" {
		t.Fatalf("recipient links = %v", links)
	}
	e.openLink(links[0]["id"].(string), links[0]["download_secret"].(string), "pkgpass")

	page := e.do("GET", "/"+links[1]["id"].(string)+"?secret="+links[1]["download_secret"].(string), nil)
	if page.Status != 200 || !strings.Contains(string(page.Body), `id="password"`) || strings.Contains(string(page.Body), "cut.mov") {
		t.Fatalf("password page: %d %s", page.Status, page.Body)
	}
	// A link made without a password takes the package's.
	if l := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{}, ptok(tok)).Map(t); l["password"] != "****" {
		t.Fatalf("a link of a password package: %v", l)
	}
	p2, tok2, _ := e.sentPackage(userToken(o.Token), "Open", map[string][]byte{"open.mov": randomData(9, 3000)})
	l := e.must(201, "POST", "/v1/packages/"+p2+"/links", map[string]any{}, ptok(tok2)).Map(t)
	page = e.do("GET", "/"+l["id"].(string)+"?secret="+l["download_secret"].(string), nil)
	if page.Status != 200 || !strings.Contains(string(page.Body), "open.mov") || !strings.Contains(string(page.Body), `data-file="zip"`) ||
		page.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("file page: %d %s", page.Status, page.Body)
	}
	if page := e.do("GET", "/"+l["id"].(string)+"?secret=wrong", nil); page.Status != 404 || !strings.Contains(string(page.Body), "link not found") {
		t.Fatalf("wrong secret page: %d %s", page.Status, page.Body)
	}
	e.must(204, "DELETE", "/v1/packages/"+p2+"/links/"+l["id"].(string), nil, ptok(tok2))
	if page := e.do("GET", "/"+l["id"].(string)+"?secret="+l["download_secret"].(string), nil); page.Status != 410 || !strings.Contains(string(page.Body), "disabled") {
		t.Fatalf("disabled link page: %d %s", page.Status, page.Body)
	}
	e.must(404, "GET", "/not-a-link", nil)
}

// array decodes a JSON array of objects.
func (r resp) array(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	r.JSON(t, &out)
	return out
}
