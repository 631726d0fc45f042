//go:build !race

package main

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/zeebo/blake3"

	"haul/ui/uitest"
)

// TestPortalUploadSurvivesRestart: an outside sender opens a portal page
// in Chromium, enters the access code, fills the form, drops a folder of
// three files (one of 210 MB) and uploads; haul is stopped and started
// again mid-upload; the upload completes once haul is back (the page
// retries its parts), every file keeps its folder and its digest is the
// source's, and the form's answer arrives with the package.
func TestPortalUploadSurvivesRestart(t *testing.T) {
	ctx := uitest.Chrome(t, 150*time.Second)
	data := t.TempDir()
	env := []string{"HAUL_BOOTSTRAP_OWNER_EMAIL=owner@studio.example", "HAUL_BOOTSTRAP_OWNER_PASSWORD=owner-password-1"}
	addr := freePort(t)
	p := startServeAt(t, data, addr, env...)
	_, tok := login(t, p.url, "owner@studio.example", "owner-password-1")
	var teams []struct{ ID string }
	if code := do(t, "GET", p.url+"/v1/teams", "X-User-Token", tok, "", &teams); code != 200 || len(teams) != 1 {
		t.Fatalf("teams: %d", code)
	}
	var portal struct{ ID string }
	if code := do(t, "POST", p.url+"/v1/teams/"+teams[0].ID+"/portals", "X-User-Token", tok, `{"name":"Drop","subdomain":"drop","active":true,"access_code":"night-lab-4"}`, &portal); code != 201 {
		t.Fatalf("portal: %d", code)
	}
	form := `{"name":"Delivery","delivery_formats":["json"],"fields":[{"name":"project","label":"Project","type":"short_text","visibility":"required"}]}`
	if code := do(t, "POST", p.url+"/v1/portals/"+portal.ID+"/form", "X-User-Token", tok, form, nil); code != 201 {
		t.Fatalf("form: %d", code)
	}
	// A camera card: one file over 200 MB and two small ones in folders.
	root := t.TempDir()
	card := filepath.Join(root, "Card B")
	os.MkdirAll(filepath.Join(card, "CLIPS"), 0o755)
	big := make([]byte, 210_000_000)
	for i := range big {
		big[i] = byte(i*2654435761>>7) ^ byte(i>>20)
	}
	sources := map[string][]byte{
		"Card B/CLIPS|B001.mov": big,
		"Card B/CLIPS|B002.mov": big[:5_000_000:5_000_000],
		"Card B|notes.txt":      []byte("scene 12, takes 1-4"),
	}
	for key, b := range sources {
		dir, name, _ := strings.Cut(key, "|")
		os.WriteFile(filepath.Join(root, dir, name), b, 0o644)
	}

	// About 3 s a part: the restart lands mid-upload.
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: 25 << 20}}}); err != nil {
		t.Fatal(err)
	}
	port := addr[strings.LastIndex(addr, ":"):]
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://drop.localhost"+port+"/"),
		chromedp.WaitVisible(`[data-field=project]`),
		chromedp.SetValue(`input[name=sender]`, "dit@vendor.example"),
		chromedp.SetValue(`input[name=name]`, "Card B"),
		chromedp.SetValue(`input[name=access_code]`, "night-lab-4"),
		chromedp.SetValue(`[data-field=project]`, "Night Shift"),
		chromedp.ScrollIntoView(`#drop-zone`),
	)
	if err != nil {
		t.Fatal(err)
	}
	// Drop the folder on the page, as a sender drags it from the desktop.
	box, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.getElementById("drop-zone").getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`))
	if err != nil {
		t.Fatal(err)
	}
	drag := &input.DragData{Items: []*input.DragDataItem{}, Files: []string{card}, DragOperationsMask: 1}
	for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
		if _, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: box[0], Y: box[1], Data: drag}); err != nil {
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
	if err := chromedp.Do(ctx, chromedp.Click(`#upload-form button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // parts are on their way
	before, _ := chromedp.Run(ctx, chromedp.Text(`#status`))
	if strings.HasPrefix(before, "Sent") {
		t.Fatalf("the upload finished before the restart (%q): the test proves nothing", before)
	}
	p.stop(t)
	time.Sleep(time.Second)
	p = startServeAt(t, data, addr, env...)
	var status string
	for deadline := time.Now().Add(120 * time.Second); !strings.HasPrefix(status, "Sent") && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		status, _ = chromedp.Run(ctx, chromedp.Text(`#status`))
	}
	if !strings.HasPrefix(status, "Sent") {
		t.Fatalf("status after the restart: %q; stderr:\n%s", status, p.stderr.String())
	}
	var inbox struct {
		Records []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"records"`
	}
	do(t, "GET", p.url+"/v1.1/teams/"+teams[0].ID+"/inbox", "X-User-Token", tok, "", &inbox)
	if len(inbox.Records) != 1 || inbox.Records[0].State != "finalized" {
		t.Fatalf("inbox = %+v", inbox.Records)
	}
	var pkg struct {
		AccessToken string `json:"access_token"`
	}
	do(t, "GET", p.url+"/v1.1/teams/"+teams[0].ID+"/packages/"+inbox.Records[0].ID, "X-User-Token", tok, "", &pkg)
	req, _ := http.NewRequest("GET", p.url+"/v1/packages/"+inbox.Records[0].ID+"/files", nil)
	req.Header.Set("X-Package-Token", pkg.AccessToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var files []struct{ Kind, Name, Path, Digest string }
	json.NewDecoder(res.Body).Decode(&files)
	got, metadata := 0, false
	for _, f := range files {
		if f.Kind != "file" {
			continue
		}
		if f.Path == "" && f.Name == "metadata.json" { // the form's answers, delivered as JSON
			metadata = true
			continue
		}
		got++
		src, ok := sources[f.Path+"|"+f.Name]
		want := blake3.Sum256(src)
		if !ok || f.Digest != hex.EncodeToString(want[:]) {
			t.Errorf("file %s/%s: digest %s, want %x (known: %v)", f.Path, f.Name, f.Digest, want, ok)
		}
	}
	if got != len(sources) || !metadata {
		t.Fatalf("%d files arrived (want %d) and metadata.json %v: %+v", got, len(sources), metadata, files)
	}
	var full struct {
		FormDataID string `json:"form_data_id"`
	}
	do(t, "GET", p.url+"/v1.1/teams/"+teams[0].ID+"/packages/"+inbox.Records[0].ID, "X-User-Token", tok, "", &full)
	if full.FormDataID == "" {
		t.Fatal("the package arrived without its form answer")
	}
}
