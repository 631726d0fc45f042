package httpd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestTour regenerates the screenshots of README.md's tour (docs/tour)
// from a live appliance in Chromium: `make tour` runs it with HAUL_TOUR
// set to that directory. Without HAUL_TOUR it is skipped: the pages it
// shows are tested by the other browser tests. It still fails when a
// screen it shows does not appear.
func TestTour(t *testing.T) {
	dir := os.Getenv("HAUL_TOUR")
	if dir == "" {
		t.Skip("regenerates docs/tour for the README: make tour")
	}
	ctx := chrome(t)
	e := newEnv(t, func(o *envOptions) { o.config.PortalDomain = "localhost" })
	o := e.owner()
	port := e.URL[strings.LastIndex(e.URL, ":"):]
	shot := func(name, sel string) {
		t.Helper()
		img, err := chromedp.Run(ctx, chromedp.Screenshot(sel))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(dir, 0o755)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1100, 800)); err != nil {
		t.Fatal(err)
	}

	// Data to show: two deliveries and a portal with a form.
	pid, tok, _ := e.sentPackage(userToken(o.Token), "Episode 104 — picture lock", map[string][]byte{
		"EP104_lock_v3.mov": randomData(81, 900_000), "EP104_notes.pdf": randomData(82, 40_000)})
	e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{"email": "editor@post.example"}, ptok(tok))
	l := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{"password": "tour pw 1"}, ptok(tok)).Map(t)
	e.sentPackage(userToken(o.Token), "Trailer stills", map[string][]byte{"still_01.tif": randomData(83, 20_000)})
	pt := e.portal(o.Token, map[string]any{"name": "Night Shift dailies", "subdomain": "dailies",
		"message": "Upload camera cards and sound here. Large folders are fine: an interrupted upload resumes.", "access_code": "lab-77"})
	e.must(201, "POST", "/v1/portals/"+pt["id"].(string)+"/form", map[string]any{"name": "Dailies", "delivery_formats": []string{"json", "email_body"},
		"fields": []map[string]any{
			{"name": "project", "label": "Project", "type": "short_text", "visibility": "required"},
			{"name": "camera", "label": "Camera", "type": "dropdown", "visibility": "optional", "options": []string{"ALEXA 35", "VENICE 2"}},
			{"name": "notes", "label": "Notes for the lab", "type": "long_text", "visibility": "optional"}}}, userToken(o.Token))

	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/"), chromedp.WaitVisible(`#login-form input[name=email]`)); err != nil {
		t.Fatal(err)
	}
	shot("1-sign-in", `#login`)
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#transfers`, "Episode 104")
	shot("2-send", `#send-form`)
	// A send under way (throttled, so the panel has something to show),
	// then cancelled.
	big := filepath.Join(t.TempDir(), "A003C012_card.mov")
	os.WriteFile(big, randomData(84, 60<<20), 0o644)
	throttle(t, ctx, 6<<20)
	err := chromedp.Do(ctx, chromedp.SetValue(`#send-form input[name=name]`, "Camera card A003"),
		chromedp.SetValue(`#send-form input[name=recipients]`, "lab@post.example"),
		chromedp.SetUploadFiles(`#send-form input[name=files]`, []string{big}), chromedp.Click(`#send-form button[type=submit]`))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#send-panel .transfer-line`, "left")
	time.Sleep(4 * time.Second)
	shot("2b-sending", `#send-panel`)
	throttle(t, ctx, -1)
	if err := chromedp.Do(ctx, chromedp.Click(`#send-panel .cancel`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#send-status`, "Cancelled")
	err = chromedp.Do(ctx, chromedp.Click(`#transfers button`), chromedp.WaitVisible(`#package-files code`))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#package-links`, "editor@post.example")
	shot("3-package", `#package`)
	waitText(t, ctx, `#storage-summary`, "dedup")
	shot("4-storage", `#storage`)
	if err := chromedp.Do(ctx, chromedp.Click(`#portals button[data-portal]`), chromedp.WaitVisible(`#fb-fields li`)); err != nil {
		t.Fatal(err)
	}
	shot("5-form-builder", `#form-builder`)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://dailies.localhost"+port+"/"), chromedp.WaitVisible(`[data-field=project]`)); err != nil {
		t.Fatal(err)
	}
	shot("6-portal", `main`)
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/"+l["id"].(string)+"?secret="+l["download_secret"].(string)), chromedp.WaitVisible(`#password`),
		chromedp.SetValue(`#password`, "tour pw 1"), chromedp.Click(`#unlock button`), chromedp.WaitVisible(`#files code`)); err != nil {
		t.Fatal(err)
	}
	shot("7-link", `main`)
}
