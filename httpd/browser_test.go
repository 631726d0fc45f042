package httpd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"haul/core"
	"haul/ui/uitest"
)

// chrome starts a headless Chromium (Debian's chromium; the test is
// skipped without one) and returns a browsing context.
func chrome(t *testing.T) context.Context {
	t.Helper()
	ctx := uitest.Chrome(t, 90*time.Second)
	if os.Getenv("HAUL_BROWSER_DEBUG") != "" {
		chromedp.Listen(ctx, func(ev any) {
			switch ev := ev.(type) {
			case *network.EventLoadingFailed:
				t.Logf("browser: loading failed: %s %s %s", ev.ErrorText, ev.CorsErrorStatus, ev.BlockedReason)
			case *network.EventRequestWillBeSent:
				t.Logf("browser: %s %s", ev.Request.Method, ev.Request.URL)
			case *cdpruntime.EventConsoleAPICalled:
				for _, a := range ev.Args {
					t.Logf("browser console: %s", a.Value)
				}
			}
		})
	}
	return ctx
}

// waitForFile waits until dir holds a complete file named name.
func waitForFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			if _, err := os.Stat(filepath.Join(dir, name+".crdownload")); os.IsNotExist(err) {
				return b
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	entries, _ := os.ReadDir(dir)
	t.Fatalf("no download %s in %s (%v)", name, dir, entries)
	return nil
}

// TestBrowserLinkPage: a recipient opens the link page in Chromium, enters
// the password, and downloads a file and the zip through the page's
// buttons; the bytes are the sender's.
func TestBrowserLinkPage(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t)
	o := e.owner()
	data := randomData(31, 700_000)
	pid, tok, _ := e.sentPackage(userToken(o.Token), "Grade <b>v2</b>", map[string][]byte{"clip.mov": data})
	l := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{"password": "browser pw 1"}, ptok(tok)).Map(t)
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/"+l["id"].(string)+"?secret="+l["download_secret"].(string)),
		chromedp.WaitVisible(`#password`),
	)
	if err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(`#package-name`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(`#password`, "wrong one"), chromedp.Click(`#unlock button`)); err != nil {
		t.Fatal(err)
	}
	if title != "Grade <b>v2</b>" {
		t.Fatalf("the package name renders as %q (markup must be text)", title)
	}
	var status string
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(status, "wrong password") && time.Now().Before(deadline) {
		status, _ = chromedp.Run(ctx, chromedp.Text(`#status`))
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(status, "wrong password") {
		t.Fatalf("status after a wrong password: %q", status)
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(`#password`, "browser pw 1"),
		chromedp.Click(`#unlock button`),
		chromedp.WaitVisible(`#files button[data-file]`),
		chromedp.Click(`#files tr:first-child button`),
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := waitForFile(t, dir, "clip.mov"); string(got) != string(data) {
		t.Fatalf("the downloaded file differs (%d bytes)", len(got))
	}
	if err := chromedp.Do(ctx, chromedp.Click(`#files button[data-file="zip"]`)); err != nil {
		t.Fatal(err)
	}
	zip := waitForFile(t, dir, "Grade _b_v2__b_.zip")
	if len(zip) < len(data) || string(zip[:2]) != "PK" {
		t.Fatalf("the zip: %d bytes", len(zip))
	}
	// The page reports the finished download, and shows each file's
	// BLAKE3 (what b3sum prints).
	var status2 string
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(status2, "Download complete") && time.Now().Before(deadline) {
		status2, _ = chromedp.Run(ctx, chromedp.Text(`#status`))
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(status2, "Download complete") {
		t.Fatalf("status after downloading: %q", status2)
	}
	digests, err := chromedp.Run(ctx, chromedp.Text(`#files`))
	if err != nil || !strings.Contains(digests, (&upload{data: data}).wantDigest()) {
		t.Fatalf("the page does not show the digest: %q %v", digests, err)
	}
	var acts struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/activities?activity_types[]=package_download_from_masv&activity_states[]=complete", nil, userToken(o.Token)).JSON(t, &acts)
	if len(acts.Records) != 1 {
		t.Fatalf("completed downloads = %v", acts.Records)
	}
}

// TestBrowserPortalPage: an outside sender uses a portal's page in
// Chromium: the access code, the form, the terms, two files; the package
// arrives with its metadata.
func TestBrowserPortalPage(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t, func(o *envOptions) { o.config.PortalDomain = "localhost" })
	o := e.owner()
	pt := e.portal(o.Token, map[string]any{"subdomain": "drop", "access_code": "let me in", "message": "Send <i>dailies</i> here",
		"terms_of_service_enabled": true, "terms_of_service": map[string]any{"title": "Terms", "checkbox_label": "I agree"}})
	e.must(201, "POST", "/v1/portals/"+pt["id"].(string)+"/form", map[string]any{"name": "Delivery", "delivery_formats": []string{"json"}, "fields": []map[string]any{
		{"name": "camera", "label": "Camera", "type": "short_text", "visibility": "required"},
		// Asked by the page's own "Your email": not asked twice, answered
		// from it.
		{"name": "sender_email", "label": "Sender Email", "type": "sender_email", "visibility": "required"},
	}}, userToken(o.Token))
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.mov"), filepath.Join(dir, "<img src=x onerror=alert(1)>.mov")
	os.WriteFile(a, randomData(32, 300_000), 0o644)
	os.WriteFile(b, randomData(33, 1000), 0o644)
	port := e.URL[strings.LastIndex(e.URL, ":"):]
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://drop.localhost"+port+"/"),
		chromedp.WaitVisible(`[data-field="camera"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	message, err := chromedp.Run(ctx, chromedp.Text(`#portal-message`))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#form-fields [data-field]").length`)); n != 1 {
		t.Fatalf("the page shows %d form fields, want only camera (the sender's email is asked once)", n)
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(`input[name=sender]`, "dit@vendor.example"),
		chromedp.SetValue(`input[name=name]`, "Day 1 rushes"),
		chromedp.SetValue(`input[name=access_code]`, "let me in"),
		chromedp.SetValue(`[data-field="camera"]`, "Venice"),
		chromedp.Click(`input[name=terms_accepted]`),
		chromedp.SetUploadFiles(`input[type=file]`, []string{a, b}),
		chromedp.Click(`button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	if message != "Send <i>dailies</i> here" {
		t.Fatalf("the message renders as %q", message)
	}
	var status string
	deadline := time.Now().Add(30 * time.Second)
	for !strings.HasPrefix(status, "Sent") && time.Now().Before(deadline) {
		status, _ = chromedp.Run(ctx, chromedp.Text(`#status`))
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(status, "Sent") {
		t.Fatalf("status: %q", status)
	}
	var inbox struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/inbox", nil, userToken(o.Token)).JSON(t, &inbox)
	if len(inbox.Records) != 1 || inbox.Records[0]["name"] != "Day 1 rushes" || inbox.Records[0]["sender"] != "dit@vendor.example" {
		t.Fatalf("inbox = %v", inbox.Records)
	}
	full := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+inbox.Records[0]["id"].(string), nil, userToken(o.Token)).Map(t)["access_token"].(string)
	names := map[string]bool{}
	for _, f := range e.must(200, "GET", "/v1/packages/"+inbox.Records[0]["id"].(string)+"/files", nil, ptok(full)).array(t) {
		names[f["name"].(string)] = true
	}
	if !names["a.mov"] || !names["<img src=x onerror=alert(1)>.mov"] || !names["metadata.json"] {
		t.Fatalf("files = %v", names)
	}
}

// TestBrowserSendPage: a member signs in on the web UI and sends two
// files to two recipients; the package is finalized with their links and
// the files' digests are the sources'.
func TestBrowserSendPage(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t)
	dir := t.TempDir()
	a := randomData(41, 2_500_000)
	os.WriteFile(filepath.Join(dir, "reel 1.mov"), a, 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o644)
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(`#send-form input[name=name]`),
		chromedp.SetValue(`#send-form input[name=name]`, "Cut <v3>"),
		chromedp.SetValue(`#send-form input[name=recipients]`, "ed@post.example, col@post.example"),
		chromedp.SetUploadFiles(`#send-form input[name=files]`, []string{filepath.Join(dir, "reel 1.mov"), filepath.Join(dir, "notes.txt")}),
		chromedp.Click(`#send-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	var status string
	deadline := time.Now().Add(30 * time.Second)
	for !strings.HasPrefix(status, "Sent") && time.Now().Before(deadline) {
		status, _ = chromedp.Run(ctx, chromedp.Text(`#send-status`))
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(status, "Sent: 2 file(s) to ed@post.example, col@post.example") {
		t.Fatalf("status: %q", status)
	}
	o := e.owner()
	var l struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages", nil, userToken(o.Token)).JSON(t, &l)
	if len(l.Records) != 1 || l.Records[0]["name"] != "Cut <v3>" || l.Records[0]["state"] != "finalized" {
		t.Fatalf("packages = %v", l.Records)
	}
	pid := l.Records[0]["id"].(string)
	tok := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+pid, nil, userToken(o.Token)).Map(t)["access_token"].(string)
	for _, f := range e.must(200, "GET", "/v1/packages/"+pid+"/files", nil, ptok(tok)).array(t) {
		if f["name"] == "reel 1.mov" && f["digest"] != (&upload{data: a}).wantDigest() {
			t.Fatalf("digest of reel 1.mov = %v", f["digest"])
		}
	}
	if links := e.must(200, "GET", "/v1/packages/"+pid+"/links", nil, ptok(tok)).array(t); len(links) != 2 {
		t.Fatalf("links = %v", links)
	}

	// The owner sees the appliance's storage.
	var summary string
	for deadline = time.Now().Add(10 * time.Second); !strings.Contains(summary, "dedup") && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		summary, _ = chromedp.Run(ctx, chromedp.Text(`#storage-summary`))
	}
	if !strings.Contains(summary, "used") || !strings.Contains(summary, "dedup") {
		t.Fatalf("storage summary: %q", summary)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#storage-chart rect").length`)); err != nil || n != 6 {
		t.Fatalf("storage chart: %d bars (%v)", n/2, err)
	}

	// Transfers: the package is listed (its name as text), opens with its
	// files' digests and its links; a direct link is made and disabled.
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(`#transfers button`),
		chromedp.Click(`#transfers button`),
		chromedp.WaitVisible(`#package-files code`),
	)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := chromedp.Run(ctx, chromedp.Text(`#package-files`))
	title, _ := chromedp.Run(ctx, chromedp.Text(`#package-title`))
	if title != "Cut <v3>" || !strings.Contains(files, (&upload{data: a}).wantDigest()) {
		t.Fatalf("package page: %q %q", title, files)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`#link-form button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if links := e.must(200, "GET", "/v1/packages/"+pid+"/links", nil, ptok(tok)).array(t); len(links) == 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var direct string
	for _, l := range e.must(200, "GET", "/v1/packages/"+pid+"/links", nil, ptok(tok)).array(t) {
		if l["email"] == ownerEmail { // a direct link shows the sender's address
			direct = l["id"].(string)
		}
	}
	if direct == "" {
		t.Fatal("no direct link was made from the page")
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`#package-links button[data-link="`+direct+`"]`), chromedp.Click(`#package-links button[data-link="`+direct+`"]`)); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for disabled := false; !disabled && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, l := range e.must(200, "GET", "/v1/packages/"+pid+"/links", nil, ptok(tok)).array(t) {
			if l["id"] == direct && l["disabled"] == true {
				disabled = true
			}
		}
	}
	var text string
	for deadline = time.Now().Add(10 * time.Second); !strings.Contains(text, "(disabled)") && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		text, _ = chromedp.Run(ctx, chromedp.Text(`#package-links`))
	}
	if !strings.Contains(text, "(disabled)") {
		t.Fatalf("links on the page: %q", text)
	}
}

// TestStaticRevalidation: UI files carry an ETag and answer 304 when
// unchanged.
func TestStaticRevalidation(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/ui/uploader.js", nil)
	etag := r.Header.Get("ETag")
	if r.Status != 200 || etag == "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("uploader.js: %d %v", r.Status, r.Header)
	}
	if r := e.do("GET", "/ui/uploader.js", nil, header("If-None-Match", etag)); r.Status != 304 {
		t.Fatalf("revalidation: %d", r.Status)
	}
	if r := e.do("GET", "/ui/uploader.js", nil, header("If-None-Match", `"other"`)); r.Status != 200 {
		t.Fatalf("changed: %d", r.Status)
	}
}

// TestBrowserPasswordReset: "forgot your password" mails a link; the page
// it opens sets the new password.
func TestBrowserPasswordReset(t *testing.T) {
	ctx := chrome(t)
	box := startMailbox(t, "127.0.0.1:0")
	e := newEnv(t, func(o *envOptions) { o.mailer = mailer(t, box.ln.Addr().String()) })
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/"),
		chromedp.WaitVisible(`#forgot-form input[name=email]`),
		chromedp.SetValue(`#forgot-form input[name=email]`, ownerEmail),
		chromedp.Click(`#forgot-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	m := box.waitFor(t, ownerEmail, "")
	i := strings.Index(m.Text, "/password_reset/")
	if i < 0 {
		t.Fatalf("reset mail: %s", m.Text)
	}
	token := strings.Fields(m.Text[i+len("/password_reset/"):])[0]
	err = chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/password_reset/"+token),
		chromedp.WaitVisible(`#reset-form input[name=password]`),
		chromedp.SetValue(`#reset-form input[name=password]`, "a-new-browser-password"),
		chromedp.Click(`#reset-form button[type=submit]`),
		chromedp.WaitVisible(`#login-form`),
	)
	if err != nil {
		t.Fatal(err)
	}
	var msg string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(msg, "Password changed") && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		msg, _ = chromedp.Run(ctx, chromedp.Text(`#login-error`))
	}
	if !strings.Contains(msg, "Password changed") || e.login(ownerEmail, "a-new-browser-password") == "" {
		t.Fatalf("after the reset: %q", msg)
	}
}

// TestBrowserSendResumesAfterReload: a member's send interrupted by a
// reload finishes when the same file is picked again, sending only the
// parts the server does not hold.
func TestBrowserSendResumesAfterReload(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 130 MiB through a throttled browser")
	}
	ctx := chrome(t)
	e := newEnv(t)
	member := e.addPerson(e.owner().Token, "editor@studio.example", core.RoleMember)
	dir := t.TempDir()
	big := randomData(51, 130<<20) // three parts of 64 MiB, the last short
	path := filepath.Join(dir, "camera card.mov")
	os.WriteFile(path, big, 0o644)
	var puts atomic.Int32
	var asked atomic.Bool
	chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if ev.Request.Method == "PUT" {
				puts.Add(1)
			}
		case *page.EventJavascriptDialogOpening:
			// The page asks before leaving while it sends: leave.
			asked.Store(ev.Type == page.DialogTypeBeforeunload)
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	})
	// About three seconds a part: a reload lands mid-send.
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: 25 << 20}}}); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/"),
		chromedp.WaitVisible(`#login-form input[name=email]`),
		chromedp.SetValue(`#login-form input[name=email]`, member.Email),
		chromedp.SetValue(`#login-form input[name=password]`, member.Password),
		chromedp.Click(`#login-form button[type=submit]`),
		chromedp.WaitVisible(`#send-form input[name=name]`),
		chromedp.SetValue(`#send-form input[name=name]`, "Card A"),
		chromedp.SetUploadFiles(`#send-form input[name=files]`, []string{path}),
		chromedp.Click(`#send-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the server holds a part, then reload.
	deadline := time.Now().Add(60 * time.Second)
	var parts []*core.Part
	for len(parts) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		parts = e.heldParts(t)
	}
	if len(parts) == 0 || len(parts) == 3 {
		t.Fatalf("%d parts held before the reload", len(parts))
	}
	before := puts.Load()
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(`#resume-form`)); err != nil {
		t.Fatal(err)
	}
	if !asked.Load() {
		t.Error("the page did not ask before leaving a send in progress")
	}
	heldAtResume := len(e.heldParts(t))
	putsBefore := puts.Load()
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: -1}}}); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.SetUploadFiles(`#resume-form input[name=files]`, []string{path}),
		chromedp.Click(`#resume-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	var status string
	for deadline = time.Now().Add(60 * time.Second); !strings.HasPrefix(status, "Sent") && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		status, _ = chromedp.Run(ctx, chromedp.Text(`#send-status`))
	}
	if !strings.HasPrefix(status, "Sent") {
		t.Fatalf("status after resuming: %q", status)
	}
	resent := int(puts.Load() - putsBefore)
	if resent > 3-heldAtResume+1 || resent < 1 {
		t.Fatalf("resuming sent %d parts; %d of 3 were held (before the reload %d PUTs)", resent, heldAtResume, before)
	}
	o := e.owner()
	var l struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages", nil, userToken(o.Token)).JSON(t, &l)
	if len(l.Records) != 1 || l.Records[0]["state"] != "finalized" || l.Records[0]["size"] != float64(len(big)) {
		t.Fatalf("packages = %v", l.Records)
	}
	pid := l.Records[0]["id"].(string)
	tok := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+pid, nil, userToken(o.Token)).Map(t)["access_token"].(string)
	files := e.must(200, "GET", "/v1/packages/"+pid+"/files", nil, ptok(tok)).array(t)
	if files[0]["digest"] != (&upload{data: big}).wantDigest() {
		t.Fatalf("digest %v", files[0]["digest"])
	}
}

// heldParts returns the parts of the env's only open upload.
func (e *env) heldParts(t *testing.T) []*core.Part {
	t.Helper()
	var out []*core.Part
	e.Meta.View(t.Context(), func(tx core.Tx) error {
		pks, err := tx.TeamPackages(e.TeamID)
		if err != nil {
			return err
		}
		for _, pk := range pks {
			fs, err := tx.PackageFiles(pk.ID)
			if err != nil {
				return err
			}
			for _, f := range fs {
				if f.UploadID != "" {
					out, err = tx.UploadParts(f.UploadID)
					return err
				}
			}
		}
		return nil
	})
	return out
}

// TestBrowserTeamAdmin: the owner invites a member, changes the role,
// removes them, and makes and revokes an API key whose secret is shown
// once.
func TestBrowserTeamAdmin(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t)
	o := e.owner()
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(`#invite-member-form input[name=email]`),
		chromedp.SetValue(`#invite-member-form input[name=email]`, "new.editor@studio.example"),
		chromedp.SetValue(`#invite-member-form select[name=role]`, "member"),
		chromedp.Click(`#invite-member-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitText := func(sel, want string) string {
		t.Helper()
		var got string
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(got, want) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			got, _ = chromedp.Run(ctx, chromedp.Text(sel))
		}
		if !strings.Contains(got, want) {
			t.Fatalf("%s: %q, want %q", sel, got, want)
		}
		return got
	}
	waitText(`#invite-member-status`, "/invitations/")
	waitText(`#members`, "new.editor@studio.example")
	var mid string
	for _, m := range e.must(200, "GET", "/v1/teams/"+e.TeamID+"/members", nil, userToken(o.Token)).array(t) {
		if m["email"] == "new.editor@studio.example" {
			mid = m["id"].(string)
		}
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(`select[data-member="`+mid+`"]`, "admin")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('select[data-member="`+mid+`"]').dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	waitText(`#invite-member-status`, "is now Admin")
	if err := chromedp.Do(ctx, chromedp.Click(`button[data-remove="`+mid+`"]`)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if len(e.must(200, "GET", "/v1/teams/"+e.TeamID+"/members", nil, userToken(o.Token)).array(t)) == 1 {
			break
		}
	}
	if n := len(e.must(200, "GET", "/v1/teams/"+e.TeamID+"/members", nil, userToken(o.Token)).array(t)); n != 1 {
		t.Fatalf("%d members after the removal", n)
	}

	if err := chromedp.Do(ctx, chromedp.SetValue(`#api-key-form input[name=name]`, "render farm"), chromedp.Click(`#api-key-form button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	secret := waitText(`#api-key-secret`, "haul_")
	key := secret[strings.Index(secret, "haul_"):]
	if r := e.do("GET", "/v1/teams/"+e.TeamID, nil, apiKey(key)); r.Status != 200 {
		t.Fatalf("the key shown does not work: %d", r.Status)
	}
	waitText(`#api-keys`, "render farm")
	var kid string
	for _, k := range e.must(200, "GET", "/v1/teams/"+e.TeamID+"/api_keys", nil, userToken(o.Token)).array(t) {
		if k["name"] == "render farm" {
			kid = k["id"].(string)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Click(`button[data-key="`+kid+`"]`)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if e.do("GET", "/v1/teams/"+e.TeamID, nil, apiKey(key)).Status == 401 {
			return
		}
	}
	t.Fatal("the revoked key still works")
}

// TestBrowserPortalsWebhooksActivity: the owner creates a portal with its
// logo and a webhook (secret shown once) from the page, and sees the
// team's activity.
func TestBrowserPortalsWebhooksActivity(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t, func(o *envOptions) { o.config.PortalDomain = "localhost" })
	o := e.owner()
	e.newPackage(userToken(o.Token), "Earlier delivery")
	dir := t.TempDir()
	logo := filepath.Join(dir, "logo.png")
	os.WriteFile(logo, append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...), 0o644)
	rcv := newReceiver(t, 0)
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(`#portal-new`),
		chromedp.Click(`#portal-new`),
		chromedp.WaitVisible(`#portal-form input[name=name]`),
		chromedp.SetValue(`#portal-form input[name=name]`, "Vendors"),
		chromedp.SetValue(`#portal-form input[name=subdomain]`, "vendors"),
		chromedp.SetValue(`#portal-form input[name=recipients]`, "producer@studio.example"),
		chromedp.SetUploadFiles(`#portal-form input[name=logo]`, []string{logo}),
		chromedp.Click(`#portal-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitText := func(sel, want string) string {
		t.Helper()
		var got string
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(got, want) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			got, _ = chromedp.Run(ctx, chromedp.Text(sel))
		}
		if !strings.Contains(got, want) {
			t.Fatalf("%s: %q, want %q", sel, got, want)
		}
		return got
	}
	waitText(`#portal-status`, "Portal created")
	waitText(`#portals`, "Vendors")
	pub := e.must(200, "GET", "/v1/subdomains/portals/vendors", nil).Map(t)
	if pub["accepting_uploads"] != true || !strings.Contains(pub["logo_url"].(string), "/logo") {
		t.Fatalf("the portal made from the page: %v", pub)
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(`#webhook-form input[name=name]`, "MAM"),
		chromedp.SetValue(`#webhook-form input[name=url]`, rcv.srv.URL+"/in"),
		chromedp.Click(`#webhook-form input[value="package.created"]`),
		chromedp.Click(`#webhook-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitText(`#webhook-status`, "whsec_")
	e.newPackage(userToken(o.Token), "After the webhook")
	rcv.waitFor(t, "package.created", 1)
	if err := chromedp.Do(ctx, chromedp.Click(`#webhooks button`)); err != nil {
		t.Fatal(err)
	}
	waitText(`#webhook-log`, "HTTP 200")
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(`#activity tr`)); err != nil {
		t.Fatal(err)
	}
	waitText(`#activity`, "upload")
}

// TestBrowserDropFolder: files and a folder dropped on the Send form go
// into the package with the folder's structure.
func TestBrowserDropFolder(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "Card A", "CLIPS"), 0o755)
	os.WriteFile(filepath.Join(dir, "Card A", "CLIPS", "A001.mov"), randomData(61, 300_000), 0o644)
	os.WriteFile(filepath.Join(dir, "Card A", "notes.txt"), []byte("notes"), 0o644)
	os.WriteFile(filepath.Join(dir, "loose.txt"), []byte("loose"), 0o644)
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(`#drop-zone`),
		chromedp.ScrollIntoView(`#drop-zone`),
	)
	if err != nil {
		t.Fatal(err)
	}
	box, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.getElementById("drop-zone").getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`))
	if err != nil {
		t.Fatal(err)
	}
	data := &input.DragData{Items: []*input.DragDataItem{}, Files: []string{filepath.Join(dir, "Card A"), filepath.Join(dir, "loose.txt")}, DragOperationsMask: 1}
	for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
		if _, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: box[0], Y: box[1], Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	var ready string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(ready, "3 file(s)") && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ready, _ = chromedp.Run(ctx, chromedp.Text(`#dropped`))
	}
	if !strings.Contains(ready, "3 file(s)") {
		t.Fatalf("dropped: %q", ready)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(`#send-form input[name=name]`, "Dropped"), chromedp.Click(`#send-form button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	var status string
	for deadline := time.Now().Add(30 * time.Second); !strings.HasPrefix(status, "Sent") && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		status, _ = chromedp.Run(ctx, chromedp.Text(`#send-status`))
	}
	if !strings.HasPrefix(status, "Sent: 3 file(s)") {
		t.Fatalf("status: %q", status)
	}
	o := e.owner()
	var l struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages", nil, userToken(o.Token)).JSON(t, &l)
	pid := l.Records[0]["id"].(string)
	tok := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+pid, nil, userToken(o.Token)).Map(t)["access_token"].(string)
	got := map[string]bool{}
	for _, f := range e.must(200, "GET", "/v1/packages/"+pid+"/files", nil, ptok(tok)).array(t) {
		if f["kind"] == "file" {
			got[f["path"].(string)+"|"+f["name"].(string)] = true
		}
	}
	for _, want := range []string{"Card A/CLIPS|A001.mov", "Card A|notes.txt", "|loose.txt"} {
		if !got[want] {
			t.Errorf("missing %s in %v", want, got)
		}
	}
}

// screenshot saves the page as name.jpg under $HAUL_ARTIFACTS (test
// artifacts, never committed); nothing without it.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("HAUL_ARTIFACTS")
	if dir == "" {
		return
	}
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, name+".jpg"), img, 0o644) // FullScreenshot below 100 is JPEG
}

// tooWide names the first elements that reach past the page's width.
func tooWide(ctx context.Context) string {
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 8).map(e => e.tagName + "#" + e.id + "." + e.className + "[" + (e.name || e.textContent.slice(0, 30)) + "] " + Math.round(e.getBoundingClientRect().right)).join(", ")`))
	return s
}

// TestBrowserLayout: the login, staff, link and portal pages fit a laptop
// (1280×800) and a phone (390×844) without horizontal scrolling, digests
// and long names included.
func TestBrowserLayout(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t, func(o *envOptions) { o.config.PortalDomain = "localhost" })
	o := e.owner()
	pid, tok, _ := e.sentPackage(userToken(o.Token), strings.Repeat("Very long package name ", 6), map[string][]byte{
		strings.Repeat("a_very_long_file_name_", 8) + ".mov": randomData(71, 1000)})
	l := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{}, ptok(tok)).Map(t)
	pt := e.portal(o.Token, map[string]any{"subdomain": "layout", "message": strings.Repeat("Welcome to our delivery portal. ", 10)})
	_ = pt
	port := e.URL[strings.LastIndex(e.URL, ":"):]
	pages := []struct{ name, url, ready string }{
		{"login", e.URL + "/", "#login-form"},
		{"link", e.URL + "/" + l["id"].(string) + "?secret=" + l["download_secret"].(string), "#files"},
		{"portal", "http://layout.localhost" + port + "/", "#upload-form"},
	}
	for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
		for _, p := range pages {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(size[0], size[1]), chromedp.Navigate(p.url), chromedp.WaitVisible(p.ready)); err != nil {
				t.Fatal(err)
			}
			overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
			if err != nil || overflow {
				t.Errorf("%s at %d×%d scrolls sideways (%v)", p.name, size[0], size[1], err)
			}
			screenshot(t, ctx, fmt.Sprintf("%s-%dx%d", p.name, size[0], size[1]))
		}
		// Signed in: the staff page with its tables.
		if err := signIn(ctx, e); err != nil {
			t.Fatal(err)
		}
		err := chromedp.Do(ctx,
			chromedp.WaitVisible(`#transfers button`),
			chromedp.Click(`#transfers button`),
			chromedp.WaitVisible(`#package-files code`),
		)
		if err != nil {
			t.Fatal(err)
		}
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
		if err != nil || overflow {
			t.Errorf("the staff page at %d×%d scrolls sideways (%v): too wide: %s", size[0], size[1], err, tooWide(ctx))
		}
		screenshot(t, ctx, fmt.Sprintf("staff-%dx%d", size[0], size[1]))
		// The portal editor with a form field, too.
		if err := chromedp.Do(ctx, chromedp.Click(`#portal-new`), chromedp.WaitVisible(`#portal-form`), chromedp.Click(`#fb-add`), chromedp.WaitVisible(`.fb-field`)); err != nil {
			t.Fatal(err)
		}
		if overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`)); err != nil || overflow {
			t.Errorf("the portal editor at %d×%d scrolls sideways (%v): too wide: %s", size[0], size[1], err, tooWide(ctx))
		}
		if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
}
