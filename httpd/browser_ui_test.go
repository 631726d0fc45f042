package httpd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"haul/core"
)

// signIn opens the staff UI and signs in as the env's owner.
func signIn(ctx context.Context, e *env) error {
	return chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/"),
		chromedp.WaitVisible(`#login-form input[name=email]`),
		chromedp.SetValue(`#login-form input[name=email]`, ownerEmail),
		chromedp.SetValue(`#login-form input[name=password]`, ownerPassword),
		chromedp.Click(`#login-form button[type=submit]`),
		chromedp.WaitVisible(`#send-form input[name=name]`),
	)
}

// waitText waits (up to 20 s) until the element's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	var got string
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(got, want) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got, _ = chromedp.Run(ctx, chromedp.Text(sel))
	}
	if !strings.Contains(got, want) {
		t.Fatalf("%s: %q, want %q", sel, got, want)
	}
	return got
}

// throttle limits the browser's upload speed (bytes a second; -1: none).
func throttle(t *testing.T, ctx context.Context, up float64) {
	t.Helper()
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: up}}}); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserSendPauseCancel: the Send page's progress panel shows each
// file, the speed and a live speed graph; Pause stops the bytes (nothing
// moves while paused), Resume finishes the send with the right digest;
// Cancel stops a second send and deletes its package.
func TestBrowserSendPauseCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 90 MiB through a throttled browser")
	}
	ctx := chrome(t)
	e := newEnv(t)
	o := e.owner()
	dir := t.TempDir()
	big := randomData(61, 80<<20)
	paths := []string{filepath.Join(dir, "A001.mov"), filepath.Join(dir, "A002.mov"), filepath.Join(dir, "notes.txt")}
	os.WriteFile(paths[0], big, 0o644)
	os.WriteFile(paths[1], randomData(62, 10<<20), 0o644)
	os.WriteFile(paths[2], []byte("scene 4, take 2"), 0o644)
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	throttle(t, ctx, 16<<20)
	err := chromedp.Do(ctx,
		chromedp.SetValue(`#send-form input[name=name]`, "Dailies"),
		chromedp.SetValue(`#send-form textarea[name=description]`, "Day 3"),
		chromedp.SetValue(`#send-form input[name=access_limit]`, "4"),
		chromedp.SetUploadFiles(`#send-form input[name=files]`, paths),
		chromedp.Click(`#send-form button[type=submit]`),
		chromedp.WaitVisible(`#send-panel .pause`),
	)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#send-panel .transfer-files li").length`))
	if rows != 3 {
		t.Fatalf("the panel lists %d files, want 3", rows)
	}
	line := waitText(t, ctx, `#send-panel .transfer-line`, "MB/s")
	if !strings.Contains(line, "of 94.4 MB") || !strings.Contains(line, "left") {
		t.Fatalf("progress line %q: want the total and the time left", line)
	}
	points, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#send-panel polyline").getAttribute("points") || ""`))
	if len(strings.Fields(points)) < 1 {
		t.Fatal("the speed graph draws nothing while sending")
	}

	// Pause: the bytes stop (the bar does not move) and the server's
	// parts stay as they are; Resume finishes.
	if err := chromedp.Do(ctx, chromedp.Click(`#send-panel .pause`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#send-panel .pause`, "Resume")
	frac := func() float64 {
		v, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector("#send-panel progress.total").value`))
		return v
	}
	time.Sleep(300 * time.Millisecond)
	p1, held1 := frac(), len(e.heldParts(t))
	time.Sleep(2 * time.Second)
	if p2, held2 := frac(), len(e.heldParts(t)); p2 != p1 || held2 != held1 || p1 >= 1 {
		t.Fatalf("paused, yet progress went %v → %v and held parts %d → %d", p1, p2, held1, held2)
	}
	throttle(t, ctx, -1)
	if err := chromedp.Do(ctx, chromedp.Click(`#send-panel .pause`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#send-status`, "Sent: 3 file(s)")
	pkgs := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages", nil, userToken(o.Token)).Map(t)["records"].([]any)
	pk := pkgs[0].(map[string]any)
	if pk["state"] != "finalized" || pk["description"] != "Day 3" || pk["access_limit"] != float64(4) {
		t.Fatalf("package %v", pk)
	}
	tok := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+pk["id"].(string), nil, userToken(o.Token)).Map(t)["access_token"].(string)
	for _, f := range e.must(200, "GET", "/v1/packages/"+pk["id"].(string)+"/files", nil, ptok(tok)).array(t) {
		if f["name"] == "A001.mov" && f["digest"] != (&upload{data: big}).wantDigest() {
			t.Fatalf("digest of A001.mov after pause and resume: %v", f["digest"])
		}
	}

	// Cancel: the send stops and its package is deleted.
	throttle(t, ctx, 8<<20)
	err = chromedp.Do(ctx,
		chromedp.SetValue(`#send-form input[name=name]`, "Wrong card"),
		chromedp.SetUploadFiles(`#send-form input[name=files]`, paths[:1]),
		chromedp.Click(`#send-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#send-panel .transfer-line`, "MB/s")
	if err := chromedp.Do(ctx, chromedp.Click(`#send-panel .cancel`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#send-status`, "Cancelled")
	var l struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages?status[]=new&status[]=finalized", nil, userToken(o.Token)).JSON(t, &l)
	if len(l.Records) != 1 || l.Records[0]["name"] != "Dailies" {
		t.Fatalf("after Cancel the live packages are %v, want only Dailies", l.Records)
	}
}

// TestBrowserPackagePage: the transfers list filters by name and state;
// the package page shows recipients and activity, moves the expiry, and
// deletes the package.
func TestBrowserPackagePage(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t)
	o := e.owner()
	e.sentPackage(userToken(o.Token), "Trailer <v2>", map[string][]byte{"trailer.mov": randomData(71, 300_000)})
	e.sentPackage(userToken(o.Token), "Stills", map[string][]byte{"s.jpg": randomData(72, 1000)})
	e.newPackage(userToken(o.Token), "Half sent")
	chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok { // Delete asks first: yes
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	})
	// West of UTC, where a day picked late in the evening is the next day
	// in UTC.
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/Los_Angeles"}); err != nil {
		t.Fatal(err)
	}
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#transfers`, "Half sent")
	count := func() int {
		n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#transfers tr").length`))
		return n
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(`#transfer-filter select[name=state]`, "finalized")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#transfer-filter").dispatchEvent(new Event("input"))`)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); count() != 2 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
	}
	if n := count(); n != 2 {
		t.Fatalf("state filter ready: %d rows, want 2", n)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(`#transfer-filter input[name=name]`, "Trailer")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); count() != 1 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
	}
	if n := count(); n != 1 {
		t.Fatalf("name filter: %d rows, want 1", n)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`#transfers button`), chromedp.WaitVisible(`#package-facts`)); err != nil {
		t.Fatal(err)
	}
	if title := waitText(t, ctx, `#package-title`, "Trailer"); title != "Trailer <v2>" {
		t.Fatalf("title %q", title)
	}
	waitText(t, ctx, `#package-facts`, "1 file(s)")
	waitText(t, ctx, `#package-activity`, "upload")

	// Move the expiry to a day 20 days from now.
	day := time.Now().AddDate(0, 0, 20).Format("2006-01-02")
	if err := chromedp.Do(ctx, chromedp.SetValue(`#expiry-form input[name=expiry]`, day), chromedp.Click(`#expiry-form button`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#expiry-status`, "kept until")
	// Opened again, the page shows the same day (local), not the UTC day
	// after (the browser is 8 hours behind UTC here).
	if err := chromedp.Do(ctx, chromedp.Click(`#transfers button`), chromedp.WaitVisible(`#package-facts`)); err != nil {
		t.Fatal(err)
	}
	var shown string
	for deadline := time.Now().Add(5 * time.Second); shown != day && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		shown, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#expiry-form input[name=expiry]").value`))
	}
	if shown != day {
		t.Fatalf("the expiry set to %s shows as %s when the package is opened again", day, shown)
	}
	var l struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages?name=Trailer", nil, userToken(o.Token)).JSON(t, &l)
	exp, _ := time.Parse(time.RFC3339, l.Records[0]["expiry"].(string))
	if d := time.Until(exp); d < 19*24*time.Hour || d > 21*24*time.Hour {
		t.Fatalf("expiry %v is not about 20 days away", exp)
	}

	// Delete it: it leaves the list.
	if err := chromedp.Do(ctx, chromedp.Click(`#package-delete`)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); count() != 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
	}
	if n := count(); n != 0 {
		t.Fatalf("the deleted package is still listed (%d rows)", n)
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages?name=Trailer&status[]=finalized", nil, userToken(o.Token)).JSON(t, &l)
	if len(l.Records) != 0 {
		t.Fatalf("deleted package still finalized: %v", l.Records)
	}
}

// TestBrowserPortalEditor: an admin makes a portal with an access code, a
// size rule and a metadata form through the editor (fields added, typed,
// reordered, one hidden; the preview shows what senders will see), then
// edits it; the API and the portal's own page show every choice.
func TestBrowserPortalEditor(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t, func(o *envOptions) { o.config.PortalDomain = "localhost" })
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	setField := func(i int, class, value string) chromedp.Action[chromedp.Void] {
		return chromedp.SetValue(fmt.Sprintf(`#fb-fields li:nth-child(%d) .%s`, i, class), value)
	}
	typeLabel := func(i int, label string) chromedp.Action[chromedp.Void] {
		return chromedp.SendKeys(fmt.Sprintf(`#fb-fields li:nth-child(%d) .fb-label`, i), label)
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(`#portal-new`),
		chromedp.Click(`#portal-new`),
		chromedp.WaitVisible(`#portal-form input[name=name]`),
		chromedp.SetValue(`#portal-form input[name=name]`, "Dailies <in>"),
		chromedp.SetValue(`#portal-form input[name=subdomain]`, "dailies"),
		chromedp.SetValue(`#portal-form input[name=access_code]`, "lab-code-77"),
		chromedp.Click(`#portal-form input[name=package_size_restriction_enabled]`),
		chromedp.SetValue(`#portal-form input[name=max_file_count]`, "50"),
		chromedp.SetValue(`#portal-form input[name=max_file_size]`, "2.5"),
		chromedp.Click(`#fb-add`),
		typeLabel(1, "Project code"),
		setField(1, "fb-visibility", "required"),
		chromedp.Click(`#fb-add`),
		typeLabel(2, "Camera"),
		setField(2, "fb-type", "dropdown"),
	)
	if err != nil {
		t.Fatal(err)
	}
	// Changing the type redraws the row: the choices input appears.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.querySelector("#fb-fields li:nth-child(2) .fb-type"); s.dispatchEvent(new Event("change")); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(`#fb-fields li:nth-child(2) .fb-options`),
		chromedp.SendKeys(`#fb-fields li:nth-child(2) .fb-options`, "ALEXA 35, VENICE 2"),
		chromedp.Click(`#fb-add`),
		typeLabel(3, "Internal ref"),
		setField(3, "fb-visibility", "hidden"),
		chromedp.SendKeys(`#fb-fields li:nth-child(3) .fb-default`, "vendor-portal"),
		chromedp.Click(`#fb-fields li:nth-child(2) .fb-up`), // Camera first
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.querySelector("#fb-fields li:nth-child(3) .fb-visibility"); s.dispatchEvent(new Event("change")); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	prev := waitText(t, ctx, `#fb-preview`, "Camera")
	if !strings.Contains(prev, "Project code") || strings.Contains(prev, "Internal ref") || strings.Index(prev, "Camera") > strings.Index(prev, "Project code") {
		t.Fatalf("preview %q: want Camera then Project code, no hidden field", prev)
	}
	screenshot(t, ctx, "portal-editor")
	if err := chromedp.Do(ctx, chromedp.Click(`#portal-form button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#portal-status`, "Portal created")
	pub := e.must(200, "GET", "/v1/subdomains/portals/dailies", nil).Map(t)
	if pub["name"] != "Dailies <in>" || pub["has_access_code"] != true {
		t.Fatalf("public face: %v", pub)
	}
	f := pub["form"].(map[string]any)["fields"].([]any)
	var got []string
	for _, x := range f {
		m := x.(map[string]any)
		got = append(got, fmt.Sprint(m["name"], ":", m["type"], ":", m["visibility"]))
	}
	want := "camera:dropdown:optional project_code:short_text:required internal_ref:short_text:hidden"
	if strings.Join(got, " ") != want {
		t.Fatalf("form fields %v, want %s", got, want)
	}
	o := e.owner()
	var pl struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/portals", nil, userToken(o.Token)).JSON(t, &pl)
	full := pl.Records[0]
	if full["max_file_count"] != float64(50) || full["max_file_size"] != float64(2.5e9) || full["package_size_restriction_enabled"] != true {
		t.Fatalf("size rule: %v %v %v", full["max_file_count"], full["max_file_size"], full["package_size_restriction_enabled"])
	}
	if full["primary_color"] != "" { // no colour was picked: unbranded
		t.Fatalf("primary_color %v, want none", full["primary_color"])
	}

	// The portal's page (a second tab) asks for what the editor set.
	tab, closeTab := chromedp.NewContext(ctx)
	defer closeTab()
	port := e.URL[strings.LastIndex(e.URL, ":"):]
	if err := chromedp.Do(tab, chromedp.Navigate("http://dailies.localhost"+port+"/"), chromedp.WaitVisible(`[data-field=project_code]`)); err != nil {
		t.Fatal(err)
	}
	shown := waitText(t, tab, `#upload-form`, "Camera")
	if !strings.Contains(shown, "Project code (required)") || strings.Contains(shown, "Internal ref") || !strings.Contains(shown, "Access code") {
		t.Fatalf("portal page form: %q", shown)
	}

	// Edit: close it, drop the access code; the editor shows what is set.
	err = chromedp.Do(ctx,
		chromedp.Click(`#portal-close`),
		chromedp.Click(`#portals button[data-portal]`),
		chromedp.WaitVisible(`#portal-form`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#portal-form-title`, "Edit Dailies <in>")
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#fb-fields li").length`)); n != 3 {
		t.Fatalf("the editor shows %d form fields, want 3", n)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(`#portal-form input[name=active]`),
		chromedp.Click(`#portal-form input[name=clear_access_code]`),
		chromedp.Click(`#portal-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#portal-status`, "Portal saved")
	pub = e.must(200, "GET", "/v1/subdomains/portals/dailies", nil).Map(t)
	if pub["accepting_uploads"] != false || pub["has_access_code"] != false || pub["form"] == nil {
		t.Fatalf("after editing: %v", pub)
	}
}

// TestBrowserTeamspacesSettings: the owner makes a teamspace, adds and
// removes a member, and changes the team's settings; the API agrees. A
// member sees no settings form.
func TestBrowserTeamspacesSettings(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t)
	o := e.owner()
	colourist := e.addPerson(o.Token, "grade@studio.example", core.RoleMember)
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(`#space-form input[name=name]`),
		chromedp.SetValue(`#space-form input[name=name]`, "Colour <suite>"),
		chromedp.Click(`#space-form button`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#spaces`, "Colour <suite>")
	if err := chromedp.Do(ctx, chromedp.SetValue(`#spaces select.space-add`, colourist.MemberID)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#spaces select.space-add").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#spaces`, "grade@studio.example")
	spaces := func() []any {
		return e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/spaces", nil, userToken(o.Token)).Map(t)["records"].([]any)
	}
	sp := spaces()
	if len(sp) != 1 || len(sp[0].(map[string]any)["members"].([]any)) != 1 {
		t.Fatalf("teamspaces after adding: %v", sp)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`#spaces li li button`)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if sp = spaces(); len(sp[0].(map[string]any)["members"].([]any)) == 0 {
			break
		}
	}
	if n := len(sp[0].(map[string]any)["members"].([]any)); n != 0 {
		t.Fatalf("the teamspace still has %d members after Remove", n)
	}

	err = chromedp.Do(ctx,
		chromedp.WaitVisible(`#settings-form input[name=name]`),
		chromedp.SetValue(`#settings-form input[name=name]`, "Night Shift Post"),
		chromedp.Click(`#settings-form input[name=download_limit_enabled]`),
		chromedp.SetValue(`#settings-form input[name=download_limit_default]`, "3"),
		chromedp.SetValue(`#settings-form input[name=storage_quota_gb]`, "2000"),
		chromedp.Click(`#settings-form button`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#settings-status`, "Settings saved")
	team := e.must(200, "GET", "/v1/teams/"+e.TeamID, nil, userToken(o.Token)).Map(t)
	if team["name"] != "Night Shift Post" || team["download_limit_enabled"] != true || team["download_limit_default"] != float64(3) || team["storage_quota_bytes"] != float64(2e12) {
		t.Fatalf("team after saving: %v", team)
	}
	// A bad value comes back as the API's message.
	if err := chromedp.Do(ctx, chromedp.SetValue(`#settings-form input[name=max_email_recipients]`, "100000"), chromedp.Click(`#settings-form button`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#settings-status`, "max_email_recipients")

	// A member sees the teamspaces but no settings.
	err = chromedp.Do(ctx,
		chromedp.Click(`#logout`),
		chromedp.WaitVisible(`#login-form input[name=email]`),
		chromedp.SetValue(`#login-form input[name=email]`, colourist.Email),
		chromedp.SetValue(`#login-form input[name=password]`, colourist.Password),
		chromedp.Click(`#login-form button[type=submit]`),
		chromedp.WaitVisible(`#spaces-admin`),
	)
	if err != nil {
		t.Fatal(err)
	}
	if hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("settings-admin").hidden`)); !hidden {
		t.Fatal("a member is shown the team settings")
	}
}
