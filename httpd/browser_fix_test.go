package httpd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"haul/core"
)

// TestBrowserAddFileAnswerLost: the server adds a file but its answer is
// lost (a 503 in its place, as from a proxy while haul restarts). The
// page's retry must not leave a second, never-uploaded copy behind: the
// package finalizes with exactly the files picked.
func TestBrowserAddFileAnswerLost(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t)
	dir := t.TempDir()
	a := randomData(81, 400_000)
	os.WriteFile(filepath.Join(dir, "A001.mov"), a, 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("take 3"), 0o644)
	var lost atomic.Int32
	chromedp.Listen(ctx, func(ev any) {
		p, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		go func() {
			// The first add-file, committed by the server, answers 503.
			if p.Request.Method == "POST" && lost.Add(1) == 1 {
				chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: p.RequestID, ResponseCode: 503,
					ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte("restarting")})
				return
			}
			chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: p.RequestID})
		}()
	})
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*/v1/packages/*/files", RequestStage: fetch.RequestStageResponse}}}); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.SetValue(`#send-form input[name=name]`, "Retried"),
		chromedp.SetUploadFiles(`#send-form input[name=files]`, []string{filepath.Join(dir, "A001.mov"), filepath.Join(dir, "notes.txt")}),
		chromedp.Click(`#send-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#send-status`, "Sent: 2 file(s)")
	if lost.Load() < 2 {
		t.Fatalf("the add-file answer was not replaced (%d POSTs seen)", lost.Load())
	}
	o := e.owner()
	pk := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages", nil, userToken(o.Token)).Map(t)["records"].([]any)[0].(map[string]any)
	if pk["state"] != "finalized" {
		t.Fatalf("package %v", pk)
	}
	tok := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+pk["id"].(string), nil, userToken(o.Token)).Map(t)["access_token"].(string)
	var got []string
	for _, f := range e.must(200, "GET", "/v1/packages/"+pk["id"].(string)+"/files", nil, ptok(tok)).array(t) {
		if f["kind"] == "file" {
			got = append(got, fmt.Sprint(f["name"], ":", f["state"]))
			if f["name"] == "A001.mov" && f["digest"] != (&upload{data: a}).wantDigest() {
				t.Errorf("digest of A001.mov: %v", f["digest"])
			}
		}
	}
	if strings.Join(got, " ") != "A001.mov:finalized notes.txt:finalized" {
		t.Fatalf("files %v, want A001.mov and notes.txt once each", got)
	}
}

// TestBrowserPartRefusedStopsSend: when the server refuses a part (a
// 4xx), the parts still in flight stop at once rather than send on into
// a failed send; the page says why and offers to finish the send.
func TestBrowserPartRefusedStopsSend(t *testing.T) {
	if testing.Short() {
		t.Skip("sends up to 129 MiB through a throttled browser")
	}
	ctx := chrome(t)
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "card.mov")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(129 << 20) // parts of 64, 64 and 1 MiB
	f.Close()
	// The short last part is refused once the two long ones are on their
	// way (throttled, they take seconds).
	const refused = "partNumber=3&"
	var (
		mu      sync.Mutex
		others  = map[network.RequestID]string{} // parts 1 and 2: "", "finished" or "failed"
		started atomic.Int32
	)
	ended := func(id network.RequestID, how string) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := others[id]; ok {
			others[id] = how
		}
	}
	chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if ev.Request.Method == "PUT" && !strings.Contains(ev.Request.URL, refused) {
				mu.Lock()
				others[ev.RequestID] = ""
				mu.Unlock()
				started.Add(1)
			}
		case *network.EventLoadingFinished:
			ended(ev.RequestID, "finished")
		case *network.EventLoadingFailed:
			ended(ev.RequestID, "failed")
		case *fetch.EventRequestPaused:
			go func() {
				for deadline := time.Now().Add(20 * time.Second); started.Load() < 2 && time.Now().Before(deadline); {
					time.Sleep(20 * time.Millisecond)
				}
				chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 403,
					ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/xml"}},
					Body:            []byte("<Error><Code>AccessDenied</Code><Message>part refused by the test</Message></Error>")})
			}()
		}
	})
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/s3/*" + refused + "*"}}}); err != nil {
		t.Fatal(err)
	}
	throttle(t, ctx, 8<<20)
	err = chromedp.Do(ctx,
		chromedp.SetValue(`#send-form input[name=name]`, "Refused"),
		chromedp.SetUploadFiles(`#send-form input[name=files]`, []string{path}),
		chromedp.Click(`#send-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#send-status`, "part refused by the test")
	if started.Load() != 2 {
		t.Fatalf("%d other parts were sent, want 2", started.Load())
	}
	// The other parts are aborted, not finished: nothing more is sent
	// into a send that failed.
	state := func() string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, how := range others {
			out = append(out, how)
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	for deadline := time.Now().Add(3 * time.Second); state() != "failed failed" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
	}
	if s := state(); s != "failed failed" {
		t.Fatalf("after a refused part the other parts are %q, want both aborted", s)
	}
	if hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("resume-form").hidden`)); hidden {
		t.Fatal("the page says to pick the files again but shows no form to do it")
	}
	if name, _ := chromedp.Run(ctx, chromedp.Text(`#resume-name`)); name != "Refused" {
		t.Fatalf("resume form names %q", name)
	}
}

// TestBrowserFormDefaults: the form builder sends each field's default as
// its type takes it (a yes/no checkbox a boolean, a checkbox with choices
// a list, a number a number), so hidden and read-only fields of those
// types can be built; a number that is not one is refused on the page.
func TestBrowserFormDefaults(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t, func(o *envOptions) { o.config.PortalDomain = "localhost" })
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	// set changes a builder input as a person does (its event fires).
	set := func(i int, class, value string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const el = document.querySelector("#fb-fields li:nth-child(%d) .%s"); el.value = %q;
			el.dispatchEvent(new Event(el.tagName === "SELECT" ? "change" : "input", { bubbles: true })); return true; })()`, i, class, value)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err != nil {
			t.Fatal(err)
		}
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(`#portal-new`),
		chromedp.Click(`#portal-new`),
		chromedp.WaitVisible(`#portal-form input[name=name]`),
		chromedp.SetValue(`#portal-form input[name=name]`, "Defaults"),
		chromedp.SetValue(`#portal-form input[name=subdomain]`, "defaults"),
		chromedp.Click(`#fb-add`), chromedp.Click(`#fb-add`), chromedp.Click(`#fb-add`),
	)
	if err != nil {
		t.Fatal(err)
	}
	for i, label := range []string{"Approved", "Deliverables", "Reel"} {
		set(i+1, "fb-label", label)
	}
	set(1, "fb-type", "checkbox") // the type redraws the rows
	set(2, "fb-type", "checkbox")
	set(3, "fb-type", "number")
	set(1, "fb-visibility", "hidden")
	set(1, "fb-default", "Yes")
	set(2, "fb-options", "Picture, Sound, Subs")
	set(2, "fb-visibility", "readonly")
	set(2, "fb-default", "Picture, Subs")
	set(3, "fb-visibility", "hidden")
	set(3, "fb-default", "7b")
	if err := chromedp.Do(ctx, chromedp.Click(`#portal-form button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#portal-status`, "must be a whole number")
	o := e.owner()
	if n := len(e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/portals", nil, userToken(o.Token)).Map(t)["records"].([]any)); n != 0 {
		t.Fatalf("a refused default still saved the portal (%d portals)", n)
	}
	set(3, "fb-default", "7")
	if err := chromedp.Do(ctx, chromedp.Click(`#portal-form button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#portal-status`, "Portal created")
	var pl struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/portals", nil, userToken(o.Token)).JSON(t, &pl)
	if len(pl.Records) != 1 {
		t.Fatalf("portals %v", pl.Records)
	}
	var def struct {
		Fields []map[string]any `json:"fields"`
	}
	e.must(200, "GET", "/v1/portals/"+pl.Records[0]["id"].(string)+"/form", nil, userToken(o.Token)).JSON(t, &def)
	var got []string
	for _, f := range def.Fields {
		got = append(got, fmt.Sprintf("%v:%v:%#v", f["name"], f["visibility"], f["default_value"]))
	}
	want := `approved:hidden:true deliverables:readonly:[]interface {}{"Picture", "Subs"} reel:hidden:7`
	if strings.Join(got, " ") != want {
		t.Fatalf("fields %s\nwant %s", strings.Join(got, " "), want)
	}
}

// TestBrowserDiskFullPart: a part the server refuses for want of space
// (507, S3's XML error body) is not retried as if the network failed: the
// page says at once what the server said.
func TestBrowserDiskFullPart(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "clip.mov")
	os.WriteFile(path, randomData(91, 300_000), 0o644)
	var refusals atomic.Int32
	chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*fetch.EventRequestPaused); ok {
			refusals.Add(1)
			go chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 507,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/xml"}},
				Body:            []byte("<Error><Code>InsufficientStorage</Code><Message>the appliance's disks are full: free space or add a disk</Message></Error>")})
		}
	})
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/s3/*partNumber=*"}}}); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.SetValue(`#send-form input[name=name]`, "Full"),
		chromedp.SetUploadFiles(`#send-form input[name=files]`, []string{path}),
		chromedp.Click(`#send-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status := waitText(t, ctx, `#send-status`, "disks are full")
	if strings.Contains(status, "cannot be reached") || time.Since(start) > 10*time.Second || refusals.Load() != 1 {
		t.Fatalf("status %q after %v and %d tries: want the server's message at once, tried once", status, time.Since(start), refusals.Load())
	}
}

// TestBrowserSavedSendIsPerUser: a send interrupted by a reload is offered
// for resuming to its sender only; signing out forgets it (it holds a
// package token), so the next person at the browser never sees it.
func TestBrowserSavedSendIsPerUser(t *testing.T) {
	ctx := chrome(t)
	e := newEnv(t)
	member := e.addPerson(e.owner().Token, "assistant@studio.example", core.RoleMember)
	path := filepath.Join(t.TempDir(), "card.mov")
	os.WriteFile(path, randomData(92, 20<<20), 0o644)
	chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok { // leaving a send asks: leave
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	})
	if err := signIn(ctx, e); err != nil {
		t.Fatal(err)
	}
	throttle(t, ctx, 2<<20)
	err := chromedp.Do(ctx,
		chromedp.SetValue(`#send-form input[name=name]`, "Interrupted"),
		chromedp.SetUploadFiles(`#send-form input[name=files]`, []string{path}),
		chromedp.Click(`#send-form button[type=submit]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `#send-status`, "Sending")
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(`#resume-form`)); err != nil {
		t.Fatal(err)
	}
	throttle(t, ctx, -1)
	hidden := func() bool {
		h, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("resume-form").hidden`))
		return h
	}
	if hidden() {
		t.Fatal("the sender is not offered the interrupted send")
	}
	err = chromedp.Do(ctx,
		chromedp.Click(`#logout`),
		chromedp.WaitVisible(`#login-form input[name=email]`),
		chromedp.SetValue(`#login-form input[name=email]`, member.Email),
		chromedp.SetValue(`#login-form input[name=password]`, member.Password),
		chromedp.Click(`#login-form button[type=submit]`),
		chromedp.WaitVisible(`#send-form input[name=name]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !hidden() {
		t.Fatal("another user is offered the sender's interrupted send")
	}
	left, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`Object.keys(localStorage).filter(k => k.startsWith("haul.send")).length`))
	if left != 0 {
		t.Fatalf("%d saved sends left in the browser after sign-out", left)
	}
}
