package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
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

var _ = exec.Command
var _ = time.Now
