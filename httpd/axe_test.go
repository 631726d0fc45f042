package httpd_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// axeViolation is one rule that axe-core found broken on a page, with the
// elements that break it.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Impact  string   `json:"impact"`
		Target  []string `json:"target"`
		Summary string   `json:"summary"`
	} `json:"nodes"`
}

// axeSource returns axe.min.js from $HAUL_AXE_JS (.ci/axe.sh fetches and
// checks it; it is never in the repository). Without it the test is
// skipped, except under CI, where that is a failure.
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("HAUL_AXE_JS")
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but HAUL_AXE_JS is not: .ci/run provides it (from .ci/axe.sh)")
		}
		t.Skip("SKIPPED: HAUL_AXE_JS is not set, so the pages' accessibility is untested here " +
			"(`make axe` fetches axe-core and runs this test; or export HAUL_AXE_JS=\"$(bash .ci/axe.sh)\")")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("HAUL_AXE_JS: %v", err)
	}
	if !strings.Contains(string(b[:min(len(b), 200)]), "axe v4.") {
		t.Fatalf("HAUL_AXE_JS=%s is not axe-core 4.x", path)
	}
	return string(b)
}

// axeRun runs axe-core on the page now shown and returns its violations.
// The source goes in through the DevTools protocol, which the pages'
// Content-Security-Policy (no inline script) does not govern.
func axeRun(t *testing.T, ctx context.Context, src string) []axeViolation {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
		t.Fatalf("loading axe-core: %v", err)
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({impact: n.impact || "", summary: n.failureSummary || "",
			target: n.target.map(s => Array.isArray(s) ? s.join(" >>> ") : String(s))})),
	})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("running axe-core: %v", err)
	}
	return vs
}

// axeCheck runs axe-core on the page now shown and fails the test for
// each serious or critical violation, naming the rule and its elements;
// lesser ones are only logged.
func axeCheck(t *testing.T, ctx context.Context, src, page string) {
	t.Helper()
	for _, v := range axeRun(t, ctx, src) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s: [%s] %s: %s (%s)", page, v.Impact, v.ID, v.Help, v.HelpURL)
		for _, n := range v.Nodes {
			fmt.Fprintf(&b, "\n\t%s", strings.Join(n.Target, ", "))
			if n.Summary != "" {
				fmt.Fprintf(&b, "\n\t\t%s", strings.ReplaceAll(n.Summary, "\n", "\n\t\t"))
			}
		}
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Error(b.String())
		} else {
			t.Log(b.String())
		}
	}
}

// TestBrowserAccessibility: axe-core, run in Chromium, finds no serious or
// critical accessibility violation on the login page, the staff Send page,
// a portal page (access code, form, terms), or a link page with its
// password prompt and once unlocked. It first shows that axe-core does
// report a critical violation on a page made to have one.
func TestBrowserAccessibility(t *testing.T) {
	src := axeSource(t)
	ctx := chrome(t)
	e := newEnv(t, func(o *envOptions) { o.config.PortalDomain = "localhost" })
	o := e.owner()
	pid, tok, _ := e.sentPackage(userToken(o.Token), "Grade v2", map[string][]byte{"clip.mov": randomData(81, 2000), "notes.txt": []byte("notes")})
	l := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{"password": "axe pw 1"}, ptok(tok)).Map(t)
	pt := e.portal(o.Token, map[string]any{"subdomain": "axe", "access_code": "let me in", "message": "Send dailies here",
		"terms_of_service_enabled": true, "terms_of_service": map[string]any{"title": "Terms", "checkbox_label": "I agree"}})
	e.must(201, "POST", "/v1/portals/"+pt["id"].(string)+"/form", map[string]any{"name": "Delivery", "delivery_formats": []string{"json"}, "fields": []map[string]any{
		{"name": "camera", "label": "Camera", "type": "short_text", "visibility": "required"},
		{"name": "notes", "label": "Notes", "type": "long_text", "visibility": "optional"},
	}}, userToken(o.Token))
	port := e.URL[strings.LastIndex(e.URL, ":"):]
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}

	// The checker itself: an image without a text alternative is a
	// critical violation, so a page that passes was really examined.
	err := chromedp.Do(ctx, chromedp.Navigate("about:blank"),
		chromedp.Evaluate[chromedp.Void](`document.body.innerHTML = '<img src="x.png">'`))
	if err != nil {
		t.Fatal(err)
	}
	if vs := axeRun(t, ctx, src); !slices.ContainsFunc(vs, func(v axeViolation) bool { return v.ID == "image-alt" && v.Impact == "critical" }) {
		t.Fatalf("axe-core does not report an image without alt text: %+v", vs)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/"), chromedp.WaitVisible(`#login-form input[name=email]`)); err != nil {
		t.Fatal(err)
	}
	axeCheck(t, ctx, src, "login page")

	link := e.URL + "/" + l["id"].(string) + "?secret=" + l["download_secret"].(string)
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(`#password`)); err != nil {
		t.Fatal(err)
	}
	axeCheck(t, ctx, src, "link page (password prompt)")
	err = chromedp.Do(ctx,
		chromedp.SetValue(`#password`, "axe pw 1"),
		chromedp.Click(`#unlock button`),
		chromedp.WaitVisible(`#files button[data-file]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	axeCheck(t, ctx, src, "link page (unlocked)")

	if err := chromedp.Do(ctx, chromedp.Navigate("http://axe.localhost"+port+"/"), chromedp.WaitVisible(`[data-field="camera"]`)); err != nil {
		t.Fatal(err)
	}
	axeCheck(t, ctx, src, "portal page")

	// Signed in as the owner: the Send form, with the transfers and the
	// admin sections loaded.
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(`#send-form input[name=name]`),
		chromedp.WaitVisible(`#transfers button`),
	)
	if err != nil {
		t.Fatal(err)
	}
	var summary string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(summary, "dedup") && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		summary, _ = chromedp.Run(ctx, chromedp.Text(`#storage-summary`))
	}
	axeCheck(t, ctx, src, "staff Send page")

	// The portal editor with a form field being built, and the package
	// page.
	if err := chromedp.Do(ctx, chromedp.Click(`#portal-new`), chromedp.WaitVisible(`#portal-form`), chromedp.Click(`#fb-add`),
		chromedp.Click(`#transfers button`), chromedp.WaitVisible(`#package-facts`)); err != nil {
		t.Fatal(err)
	}
	axeCheck(t, ctx, src, "staff portal editor and package page")
}
