package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"haul/client/agent"
)

// agentServer starts haul with a known owner and returns it, the team id
// and an owner API key.
func agentServer(t *testing.T, env ...string) (*proc, string, string) {
	t.Helper()
	env = append([]string{"HAUL_BOOTSTRAP_OWNER_EMAIL=owner@studio.example", "HAUL_BOOTSTRAP_OWNER_PASSWORD=owner-password-1"}, env...)
	p := startServe(t, t.TempDir(), env...)
	_, tok := login(t, p.url, "owner@studio.example", "owner-password-1")
	var teams []struct{ ID string }
	if code := do(t, "GET", p.url+"/v1/teams", "X-User-Token", tok, "", &teams); code != 200 || len(teams) != 1 {
		t.Fatalf("teams: %d", code)
	}
	var key struct{ Key string }
	if code := do(t, "POST", p.url+"/v1/teams/"+teams[0].ID+"/api_keys", "X-User-Token", tok, `{"name":"agent","state":"active"}`, &key); code != 201 {
		t.Fatalf("api key: %d", code)
	}
	return p, teams[0].ID, key.Key
}

// seeded writes n bytes of seeded random data to path.
func seeded(t *testing.T, path string, seed uint64, n int64) []byte {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func b3(b []byte) string {
	s := blake3.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fileB3 is the BLAKE3 of a file, read in a stream.
func fileB3(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := blake3.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// events runs the agent with --json and returns its decoded events and
// its exit code.
func agentJSON(t *testing.T, env []string, args ...string) ([]map[string]any, string, int) {
	t.Helper()
	out, errOut, code := runHaul(t, env, args...)
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			evs = append(evs, ev)
		}
	}
	return evs, out + errOut, code
}

func lastEvent(evs []map[string]any, name string) map[string]any {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i]["event"] == name {
			return evs[i]
		}
	}
	return nil
}

// TestAgentUploadDownloadRoundTrip: haul login stores the credential
// (0600); haul upload sends a folder tree (junk files skipped) as a link;
// haul download fetches it with 4 connections into a package folder, and
// every file is the source's. Bad input says what to do, with its exit
// code.
func TestAgentUploadDownloadRoundTrip(t *testing.T) {
	p, _, key := agentServer(t)
	home := t.TempDir()
	env := []string{"HAUL_AGENT_HOME=" + home}
	if out, errOut, code := runHaul(t, env, "login", "--url", p.url, "--api-key", key); code != 0 || !strings.Contains(out, "Logged in") {
		t.Fatalf("login: %d %s %s", code, out, errOut)
	}
	if info, err := os.Stat(filepath.Join(home, "login.json")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("login.json: %v %v", info, err)
	}
	src := t.TempDir()
	card := filepath.Join(src, "Card A")
	want := map[string]string{}
	for name, size := range map[string]int64{"CLIPS/A001.mov": 9 << 20, "CLIPS/A002.mov": 300_000, "notes.txt": 12, "empty.txt": 0} {
		want["Card A/"+name] = b3(seeded(t, filepath.Join(card, name), uint64(size)+7, size))
	}
	os.WriteFile(filepath.Join(card, ".DS_Store"), []byte("junk"), 0o644)
	os.MkdirAll(filepath.Join(card, ".fcpcache"), 0o755)
	os.WriteFile(filepath.Join(card, ".fcpcache", "x"), []byte("junk"), 0o644)

	evs, out, code := agentJSON(t, env, "upload", card, "--link", "--chunk-size", "5M", "--json")
	done := lastEvent(evs, "done")
	if code != 0 || done == nil {
		t.Fatalf("upload: exit %d\n%s", code, out)
	}
	links, _ := done["links"].([]any)
	if len(links) != 1 || done["files"] != float64(4) {
		t.Fatalf("upload summary %v", done)
	}
	_, link, _ := strings.Cut(links[0].(string), ": ")

	dest := t.TempDir()
	evs, out, code = agentJSON(t, env, "download", link, "--dest", dest, "--connections", "4", "--json")
	if code != 0 || lastEvent(evs, "done") == nil {
		t.Fatalf("download: exit %d\n%s", code, out)
	}
	got := map[string]string{}
	filepath.WalkDir(filepath.Join(dest, "Card A"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(dest, "Card A"), path)
			got[filepath.ToSlash(rel)] = fileB3(t, path)
		}
		return nil
	})
	if len(got) != len(want) {
		t.Fatalf("downloaded %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}

	// Bad input: a wrong link secret, no login, nothing to send.
	if _, out, code := agentJSON(t, env, "download", strings.Replace(link, "secret=", "secret=x", 1), "--dest", dest); code != 3 && code != 4 {
		t.Fatalf("a wrong secret: exit %d (%s)", code, out)
	}
	if _, errOut, code := runHaul(t, []string{"HAUL_AGENT_HOME=" + t.TempDir()}, "upload", card, "--link"); code != 3 || !strings.Contains(errOut, "haul login") {
		t.Fatalf("not logged in: exit %d %q", code, errOut)
	}
	if _, errOut, code := runHaul(t, env, "upload", "--link"); code != 2 || !strings.Contains(errOut, "nothing to send") {
		t.Fatalf("no paths: exit %d %q", code, errOut)
	}
	if _, errOut, code := runHaul(t, env, "download", "http://127.0.0.1:1/01ABC?secret=s", "--dest", dest); code != 5 || !strings.Contains(errOut, "cannot be reached") {
		t.Fatalf("unreachable server: exit %d %q", code, errOut)
	}
}

// portalFor makes an active portal with subdomain sub; it returns its id.
func portalFor(t *testing.T, p *proc, teamID, sub string) string {
	t.Helper()
	_, tok := login(t, p.url, "owner@studio.example", "owner-password-1")
	var portal struct{ ID string }
	if code := do(t, "POST", p.url+"/v1/teams/"+teamID+"/portals", "X-User-Token", tok, `{"name":"Drop","subdomain":"`+sub+`","active":true}`, &portal); code != 201 {
		t.Fatalf("portal: %d", code)
	}
	return portal.ID
}

// TestAgentWatchDownload: a watch-download automation started before two
// packages arrive through a portal fetches each exactly once, verified,
// into its own folder; stopped and started again, it fetches only the
// package that arrived while it was stopped.
func TestAgentWatchDownload(t *testing.T) {
	p, teamID, key := agentServer(t)
	portalFor(t, p, teamID, "dailies")
	env := []string{"HAUL_AGENT_HOME=" + t.TempDir(), "HAUL_AGENT_URL=" + p.url, "HAUL_AGENT_API_KEY=" + key}
	dest := t.TempDir()
	t0 := time.Now().UTC().Add(-time.Second)
	// A package received before the watch starts is not fetched.
	src := t.TempDir()
	send := func(name string, seed uint64) string {
		t.Helper()
		path := filepath.Join(src, name, "clip.mov")
		sum := b3(seeded(t, path, seed, 2<<20+int64(seed)))
		if _, errOut, code := runHaul(t, []string{"HAUL_AGENT_HOME=" + t.TempDir()}, "upload", filepath.Join(src, name), "--portal", "dailies", "--server", p.url, "--sender", "dit@vendor.example"); code != 0 {
			t.Fatalf("portal upload %s: %d %s", name, code, errOut)
		}
		return sum
	}
	send("Before", 1)
	time.Sleep(20 * time.Millisecond)
	start := func() (*exec.Cmd, *lockedBuf) {
		cmd := haul(t, env, "watch", "download", "--portal", "dailies", "--dest", dest, "--interval", "200ms")
		var out lockedBuf
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, &out
	}
	waitFor := func(out *lockedBuf, n int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); strings.Count(out.String(), "Fetched") < n; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("fetched %d packages, want %d:\n%s", strings.Count(out.String(), "Fetched"), n, out.String())
			}
		}
	}
	w, out := start()
	time.Sleep(500 * time.Millisecond) // the watch records when it started
	sums := map[string]string{"Day 1": send("Day 1", 2), "Day 2": send("Day 2", 3)}
	waitFor(out, 2)
	w.Process.Signal(syscall.SIGTERM)
	w.Wait()
	sums["Day 3"] = send("Day 3", 4)
	w, out2 := start()
	waitFor(out2, 1)
	time.Sleep(600 * time.Millisecond) // a few more polls: nothing else comes
	w.Process.Signal(syscall.SIGTERM)
	w.Wait()
	if n := strings.Count(out2.String(), "Fetched"); n != 1 || !strings.Contains(out2.String(), "Day 3") {
		t.Fatalf("after the restart the watch fetched %d packages:\n%s", n, out2.String())
	}
	entries, _ := os.ReadDir(dest)
	if len(entries) != 3 {
		t.Fatalf("dest holds %d folders, want 3 (Before is not fetched): %v", len(entries), entries)
	}
	for _, e := range entries {
		name := strings.Fields(e.Name())[0] + " " + strings.Fields(e.Name())[1]
		got := fileB3(t, filepath.Join(dest, e.Name(), name, "clip.mov"))
		if got != sums[name] {
			t.Errorf("%s: %s, want %s", e.Name(), got, sums[name])
		}
	}
	// Every portal, back-filled from before the first package: a folder
	// per portal, all four packages.
	all := t.TempDir()
	if out, errOut, code := runHaul(t, env, "watch", "download", "--all", "--dest", all, "--since", t0.Format(time.RFC3339), "--once"); code != 0 || strings.Count(out, "Fetched") != 4 {
		t.Fatalf("watch download --all: %d\n%s%s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(filepath.Join(all, "dailies")); len(entries) != 4 {
		t.Fatalf("--all: %d folders under dailies/, want 4", len(entries))
	}
}

// TestAgentDownloadCorruptionAndHostilePaths: a file damaged on disk before
// its verification is detected and fetched again; a server answer with
// "../" in a file's path is refused and nothing is written outside the
// destination.
func TestAgentDownloadCorruptionAndHostilePaths(t *testing.T) {
	p, _, key := agentServer(t)
	env := []string{"HAUL_AGENT_HOME=" + t.TempDir(), "HAUL_AGENT_URL=" + p.url, "HAUL_AGENT_API_KEY=" + key}
	src := filepath.Join(t.TempDir(), "Reel")
	want := b3(seeded(t, filepath.Join(src, "reel.mov"), 5, 5<<20))
	evs, out, code := agentJSON(t, env, "upload", src, "--link", "--json")
	if code != 0 {
		t.Fatalf("upload: %d %s", code, out)
	}
	_, link, _ := strings.Cut(lastEvent(evs, "done")["links"].([]any)[0].(string), ": ")

	// Corruption before verification: flipped once, fetched again.
	dest := t.TempDir()
	flips := 0
	var stdout, stderr strings.Builder
	a := &agent.App{Stdout: &stdout, Stderr: &stderr, Home: t.TempDir(), Getenv: func(string) string { return "" },
		BeforeVerify: func(path string) {
			if flips == 0 {
				flipByte(t, path, 12345)
			}
			flips++
		}}
	if err := a.Run(context.Background(), []string{"download", link, "--dest", dest, "--json"}); err != nil {
		t.Fatalf("download: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if flips != 2 || !strings.Contains(stdout.String(), "failed verification") || !strings.Contains(stdout.String(), `"refetched":1`) {
		t.Fatalf("verifications %d; output:\n%s", flips, stdout.String())
	}
	if got := fileB3(t, filepath.Join(dest, "Reel", "Reel", "reel.mov")); got != want {
		t.Fatalf("after the refetch: %s, want %s", got, want)
	}

	// A hostile answer: a proxy rewrites the file list's path to climb out.
	target, _ := url.Parse(p.url)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(res *http.Response) error {
		if !strings.HasSuffix(res.Request.URL.Path, "/files") || res.Request.Method != "GET" {
			return nil
		}
		b, _ := io.ReadAll(res.Body)
		b = regexp.MustCompile(`"path":"[^"]*"`).ReplaceAll(b, []byte(`"path":"../../escaped"`))
		res.Body = io.NopCloser(bytes.NewReader(b))
		res.ContentLength = int64(len(b))
		res.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	hostile := httptest.NewServer(rp)
	defer hostile.Close()
	dest2 := filepath.Join(t.TempDir(), "in", "here")
	_, errOut, code := runHaul(t, env, "download", strings.Replace(link, p.url, hostile.URL, 1), "--dest", dest2)
	if code != 7 || !strings.Contains(errOut, "unsafe file path") {
		t.Fatalf("hostile path: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(dest2)), "escaped")); !os.IsNotExist(err) {
		t.Fatalf("something was written outside the destination: %v", err)
	}
}

// TestAgentTransfersPauseResumeCancel: a running upload shows in haul
// transfers; pause stops its bytes, resume finishes it; cancel stops
// another and deletes its half-sent package (exit code 8).
func TestAgentTransfersPauseResumeCancel(t *testing.T) {
	p, teamID, key := agentServer(t)
	home := t.TempDir()
	env := []string{"HAUL_AGENT_HOME=" + home, "HAUL_AGENT_URL=" + p.url, "HAUL_AGENT_API_KEY=" + key}
	src := filepath.Join(t.TempDir(), "take.mov")
	want := b3(seeded(t, src, 11, 60<<20))
	start := func(name string) (*exec.Cmd, *lockedBuf, chan int) {
		cmd := haul(t, env, "upload", src, "--link", "--name", name, "--chunk-size", "8M", "--limit-rate", "15M", "--no-dedup", "--json")
		var out lockedBuf
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exit := make(chan int, 1)
		go func() {
			err := cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			exit <- code
		}()
		return cmd, &out, exit
	}
	// transfer finds the transfer named name in haul transfers.
	transfer := func(name string) (id, state, pct string) {
		out, _, _ := runHaul(t, env, "transfers")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 6 && strings.Contains(line, name) {
				return f[0], f[2], f[3]
			}
		}
		return "", "", ""
	}
	_, out, exit := start("Paused take")
	var id, state string
	for deadline := time.Now().Add(20 * time.Second); state != "running" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		id, state, _ = transfer("Paused take")
	}
	if state != "running" {
		t.Fatalf("haul transfers: %q %q\n%s", id, state, out.String())
	}
	time.Sleep(time.Second)
	if o, e, code := runHaul(t, env, "transfers", "pause", id); code != 0 {
		t.Fatalf("pause: %d %s %s", code, o, e)
	}
	for deadline := time.Now().Add(10 * time.Second); state != "paused" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, state, _ = transfer("Paused take")
	}
	_, _, pct1 := transfer("Paused take")
	time.Sleep(1500 * time.Millisecond)
	_, state, pct2 := transfer("Paused take")
	if state != "paused" || pct1 != pct2 || pct1 == "100" {
		t.Fatalf("paused: state %s, progress %s then %s", state, pct1, pct2)
	}
	runHaul(t, env, "transfers", "resume", id)
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("the resumed upload: exit %d\n%s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the resumed upload did not finish:\n%s", out.String())
	}
	if _, state, _ = transfer("Paused take"); state != "done" {
		t.Fatalf("after resuming: %s", state)
	}

	// Cancel: exit 8, the package deleted.
	_, out, exit = start("Cancelled take")
	for deadline := time.Now().Add(20 * time.Second); state != "running" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		id, state, _ = transfer("Cancelled take")
	}
	time.Sleep(500 * time.Millisecond)
	runHaul(t, env, "transfers", "cancel", id)
	select {
	case code := <-exit:
		if code != 8 {
			t.Fatalf("the cancelled upload: exit %d\n%s", code, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the cancelled upload did not stop")
	}
	_, tok := login(t, p.url, "owner@studio.example", "owner-password-1")
	var list struct {
		Records []struct{ Name, State string } `json:"records"`
	}
	do(t, "GET", p.url+"/v1.1/teams/"+teamID+"/packages?status[]=new&status[]=finalized", "X-User-Token", tok, "", &list)
	if len(list.Records) != 1 || list.Records[0].Name != "Paused take" {
		t.Fatalf("live packages after the cancel: %+v (want only the finished one)", list.Records)
	}
	_ = want
}

// TestAgentWatchUploadDeleteAfter: a watch folder sends files to a portal
// (access code, form answers) once they stop changing, deletes each source
// only after the server holds it with the same BLAKE3, and never sends a
// file twice across restarts; a file still being written waits.
func TestAgentWatchUploadDeleteAfter(t *testing.T) {
	p, teamID, _ := agentServer(t)
	_, tok := login(t, p.url, "owner@studio.example", "owner-password-1")
	var portal struct{ ID string }
	if code := do(t, "POST", p.url+"/v1/teams/"+teamID+"/portals", "X-User-Token", tok, `{"name":"Ingest","subdomain":"ingest","active":true,"access_code":"lab-code-9"}`, &portal); code != 201 {
		t.Fatalf("portal: %d", code)
	}
	form := `{"name":"Ingest","delivery_formats":["json"],"fields":[{"name":"project","label":"Project","type":"short_text","visibility":"required"},{"name":"reel","label":"Reel","type":"number","visibility":"optional"}]}`
	if code := do(t, "POST", p.url+"/v1/portals/"+portal.ID+"/form", "X-User-Token", tok, form, nil); code != 201 {
		t.Fatalf("form: %d", code)
	}
	env := []string{"HAUL_AGENT_HOME=" + t.TempDir()}
	dir := t.TempDir()
	old := time.Now().Add(-time.Minute)
	sums := map[string]string{}
	for name, size := range map[string]int64{"A001.mov": 3 << 20, "sub/A002.wav": 400_000} {
		sums[name] = b3(seeded(t, filepath.Join(dir, name), uint64(size), size))
		os.Chtimes(filepath.Join(dir, name), old, old)
	}
	seeded(t, filepath.Join(dir, "growing.mov"), 9, 1000) // just written: not settled
	args := []string{"watch", "upload", dir, "--portal", "ingest", "--server", p.url, "--sender", "dit@vendor.example",
		"--access-code", "lab-code-9", "--form", "project=Night Shift", "--form", "reel=4", "--settle", "30s", "--delete-after", "--once"}
	if out, errOut, code := runHaul(t, env, args...); code != 0 {
		t.Fatalf("watch upload: %d\n%s%s", code, out, errOut)
	}
	for name := range sums {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s was not deleted after it was sent: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "growing.mov")); err != nil {
		t.Fatalf("the file still being written was touched: %v", err)
	}
	// Again: nothing new is settled, nothing is sent.
	if out, errOut, code := runHaul(t, env, args...); code != 0 || strings.Contains(out, "Package") {
		t.Fatalf("second pass: %d\n%s%s", code, out, errOut)
	}
	var inbox struct {
		Records []struct {
			ID         string `json:"id"`
			FormDataID string `json:"form_data_id"`
		} `json:"records"`
	}
	do(t, "GET", p.url+"/v1.1/teams/"+teamID+"/inbox", "X-User-Token", tok, "", &inbox)
	if len(inbox.Records) != 1 || inbox.Records[0].FormDataID == "" {
		t.Fatalf("inbox: %+v (want one package with its form answers)", inbox.Records)
	}
	var pkg struct {
		AccessToken string `json:"access_token"`
	}
	do(t, "GET", p.url+"/v1.1/teams/"+teamID+"/packages/"+inbox.Records[0].ID, "X-User-Token", tok, "", &pkg)
	var files []struct{ Kind, Name, Path, Digest string }
	do(t, "GET", p.url+"/v1/packages/"+inbox.Records[0].ID+"/files", "X-Package-Token", pkg.AccessToken, "", &files)
	got := map[string]string{}
	for _, f := range files {
		if f.Kind == "file" && f.Name != "metadata.json" {
			got[strings.TrimPrefix(f.Path+"/"+f.Name, "/")] = f.Digest
		}
	}
	if len(got) != 2 || got["A001.mov"] != sums["A001.mov"] || got["sub/A002.wav"] != sums["sub/A002.wav"] {
		t.Fatalf("package files %v, want %v", got, sums)
	}
}

// TestAgentSelfSignedTLS: against a LAN appliance with a self-signed CA,
// haul login without the CA fails with exit code 5 and says how to trust
// it; with --ca (the PEM `haul tls ca` prints) it logs in and uploads.
func TestAgentSelfSignedTLS(t *testing.T) {
	data := t.TempDir()
	caFile := filepath.Join(data, "tls", "ca.crt")
	roots := func() *x509.CertPool {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil
		}
		return poolOf(b)
	}
	p, _ := startTLSServe(t, data, roots, "HAUL_TLS_MODE=self_signed", "HAUL_BOOTSTRAP_OWNER_EMAIL=owner@studio.example", "HAUL_BOOTSTRAP_OWNER_PASSWORD=owner-password-1")
	env := []string{"HAUL_AGENT_HOME=" + t.TempDir(), "HAUL_AGENT_PASSWORD=owner-password-1"}
	_, errOut, code := runHaul(t, env, "login", "--url", p.url, "--email", "owner@studio.example")
	if code != 5 || !strings.Contains(errOut, "not trusted") || !strings.Contains(errOut, "haul tls ca") {
		t.Fatalf("login without the CA: exit %d, %q", code, errOut)
	}
	ca := filepath.Join(t.TempDir(), "haul-ca.pem")
	pem, _, _ := runHaul(t, nil, "tls", "ca", "--data", data)
	os.WriteFile(ca, []byte(pem), 0o644)
	if out, errOut, code := runHaul(t, env, "login", "--url", p.url, "--email", "owner@studio.example", "--ca", ca); code != 0 {
		t.Fatalf("login with --ca: %d %s %s", code, out, errOut)
	}
	src := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(src, []byte("over TLS"), 0o644)
	if out, errOut, code := runHaul(t, env, "upload", src, "--link"); code != 0 || !strings.Contains(out, "link: https://") {
		t.Fatalf("upload over TLS: %d %s %s", code, out, errOut)
	}
}

// TestAgentHelp: `haul help` and `haul <cmd> --help` show the same usage
// line for every agent command; a bad flag is exit code 2.
func TestAgentHelp(t *testing.T) {
	help, _, code := runHaul(t, nil, "help")
	if code != 0 || !strings.Contains(help, "Exit codes:") {
		t.Fatalf("haul help: %d %q", code, help)
	}
	for _, cmd := range []string{"login", "logout", "upload", "download", "watch", "transfers", "limits"} {
		_, errOut, code := runHaul(t, []string{"HAUL_AGENT_HOME=" + t.TempDir()}, cmd, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d", cmd, code)
		}
		lines := strings.Split(errOut, "\n")
		if len(lines) < 2 || !strings.Contains(help, strings.TrimSpace(lines[1])) {
			t.Errorf("%s --help says %q, which haul help does not", cmd, lines[1])
		}
	}
	if _, errOut, code := runHaul(t, []string{"HAUL_AGENT_HOME=" + t.TempDir()}, "upload", "--frobnicate"); code != 2 || !strings.Contains(errOut, "frobnicate") {
		t.Fatalf("a bad flag: exit %d %q", code, errOut)
	}
}

// TestAgentUploadOrphanedFile: an upload killed after adding a file but
// before its multipart upload started leaves an unfinished file in the
// package; the same command again removes it, sends the file, and the
// package is really finalized (a finalize refused is never reported as
// success).
func TestAgentUploadOrphanedFile(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := "http://" + ln.Addr().String()
	p, teamID, key := agentServer(t, "HAUL_SERVER_PUBLIC_URL="+front)
	target, _ := url.Parse(p.url)
	rp := httputil.NewSingleHostReverseProxy(target)
	var held atomic.Bool
	hang := make(chan struct{})
	defer close(hang)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The first multipart create never answers: the agent is killed
		// while it waits.
		if strings.Contains(r.URL.RawQuery, "uploads") && r.Method == "POST" && held.CompareAndSwap(false, true) {
			<-hang
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	env := []string{"HAUL_AGENT_HOME=" + t.TempDir(), "HAUL_AGENT_URL=" + front, "HAUL_AGENT_API_KEY=" + key}
	src := filepath.Join(t.TempDir(), "Cut")
	want := b3(seeded(t, filepath.Join(src, "cut.mov"), 21, 6<<20))
	args := []string{"upload", src, "--link", "--json"}
	cmd := haul(t, env, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); !held.Load() && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	if !held.Load() {
		t.Fatal("the agent never started the multipart upload")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	evs, out, code := agentJSON(t, env, args...)
	done := lastEvent(evs, "done")
	if code != 0 || done == nil {
		t.Fatalf("the re-run: exit %d\n%s", code, out)
	}
	_, tok := login(t, p.url, "owner@studio.example", "owner-password-1")
	var pkg struct {
		AccessToken string `json:"access_token"`
		State       string `json:"state"`
	}
	do(t, "GET", p.url+"/v1.1/teams/"+teamID+"/packages/"+done["package_id"].(string), "X-User-Token", tok, "", &pkg)
	var files []struct{ Kind, Name, Digest, State string }
	do(t, "GET", p.url+"/v1/packages/"+done["package_id"].(string)+"/files", "X-Package-Token", pkg.AccessToken, "", &files)
	n := 0
	for _, f := range files {
		if f.Kind == "file" {
			n++
			if f.Digest != want {
				t.Errorf("%s: %s, want %s", f.Name, f.Digest, want)
			}
		}
	}
	if pkg.State != "finalized" || n != 1 {
		t.Fatalf("package %s with %d files (%+v); want finalized with one", pkg.State, n, files)
	}
}

// TestAgentWatchUploadToRecipients: a watch folder sending to recipients
// (a team package, each recipient with a link) once its files settle.
func TestAgentWatchUploadToRecipients(t *testing.T) {
	p, teamID, key := agentServer(t)
	env := []string{"HAUL_AGENT_HOME=" + t.TempDir(), "HAUL_AGENT_URL=" + p.url, "HAUL_AGENT_API_KEY=" + key}
	dir := t.TempDir()
	old := time.Now().Add(-time.Minute)
	want := b3(seeded(t, filepath.Join(dir, "render", "frame_0001.exr"), 31, 500_000))
	os.Chtimes(filepath.Join(dir, "render", "frame_0001.exr"), old, old)
	out, errOut, code := runHaul(t, env, "watch", "upload", dir, "--to", "comp@post.example", "--settle", "10s", "--once")
	if code != 0 || !strings.Contains(out, "comp@post.example: http") {
		t.Fatalf("watch upload --to: %d\n%s%s", code, out, errOut)
	}
	_, tok := login(t, p.url, "owner@studio.example", "owner-password-1")
	var list struct {
		Records []struct {
			ID         string   `json:"id"`
			Recipients []string `json:"recipients"`
			State      string   `json:"state"`
		} `json:"records"`
	}
	do(t, "GET", p.url+"/v1.1/teams/"+teamID+"/packages", "X-User-Token", tok, "", &list)
	if len(list.Records) != 1 || list.Records[0].State != "finalized" || len(list.Records[0].Recipients) != 1 {
		t.Fatalf("packages: %+v", list.Records)
	}
	var pkg struct {
		AccessToken string `json:"access_token"`
	}
	do(t, "GET", p.url+"/v1.1/teams/"+teamID+"/packages/"+list.Records[0].ID, "X-User-Token", tok, "", &pkg)
	var files []struct{ Kind, Name, Path, Digest string }
	do(t, "GET", p.url+"/v1/packages/"+list.Records[0].ID+"/files", "X-Package-Token", pkg.AccessToken, "", &files)
	if len(files) < 1 || files[0].Path != "render" || files[0].Name != "frame_0001.exr" || files[0].Digest != want {
		t.Fatalf("files: %+v", files)
	}
	if _, err := os.Stat(filepath.Join(dir, "render", "frame_0001.exr")); err != nil {
		t.Fatalf("without --delete-after the source stays: %v", err)
	}
}
