//go:build !race

package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runUntil starts the agent with --json and SIGKILLs it once a progress
// event reports at least frac of the bytes; it returns the events seen.
func runUntil(t *testing.T, env []string, frac float64, args ...string) []map[string]any {
	t.Helper()
	cmd := haul(t, env, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuf
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		evs = append(evs, ev)
		if ev["event"] == "progress" && ev["done"].(float64) >= frac*ev["bytes"].(float64) {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break
		}
	}
	io.Copy(io.Discard, out)
	cmd.Wait()
	if !killed {
		t.Fatalf("the agent finished before it could be killed (%d events); stderr:\n%s", len(evs), stderr.String())
	}
	return evs
}

// parts returns the parts of name the events say were sent (or held).
func parts(evs []map[string]any, name string, sent bool) map[int]bool {
	out := map[int]bool{}
	for _, ev := range evs {
		if ev["event"] == "part" && ev["name"] == name && ev["sent"] == sent {
			out[int(ev["part"].(float64))] = true
		}
	}
	return out
}

// TestAgentUploadKillResume: haul upload sends a folder tree with a 2 GB
// file with 4 connections; it is SIGKILLed a third of the way; the same
// command run again finishes the same package, re-sending no part the
// server had acknowledged (only those in flight at the kill), and the
// package's digests are b3sum's of the sources.
func TestAgentUploadKillResume(t *testing.T) {
	p, teamID, key := agentServer(t, "HAUL_STORAGE_PARITY_SHARDS=0")
	env := []string{"HAUL_AGENT_HOME=" + t.TempDir(), "HAUL_AGENT_URL=" + p.url, "HAUL_AGENT_API_KEY=" + key}
	src := t.TempDir()
	card := filepath.Join(src, "Card B")
	const big = 2_000_000_000
	os.MkdirAll(filepath.Join(card, "CLIPS"), 0o755)
	f, err := os.Create(filepath.Join(card, "CLIPS", "B001.mov"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, io.NewSectionReader(newGenData(77, big), 0, big)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	seeded(t, filepath.Join(card, "CLIPS", "B002.mov"), 78, 3<<20)
	seeded(t, filepath.Join(card, "sound", "B002.wav"), 79, 700_000)
	args := []string{"upload", card, "--to", "lab@post.example", "--connections", "4", "--chunk-size", "64M", "--json"}

	run1 := runUntil(t, env, 0.35, append(args, "--limit-rate", "250M")...)
	acked := parts(run1, "Card B/CLIPS/B001.mov", true)
	if len(acked) == 0 {
		t.Fatal("no part was acknowledged before the kill")
	}
	run2, out, code := agentJSON(t, env, args...)
	done := lastEvent(run2, "done")
	if code != 0 || done == nil {
		t.Fatalf("the re-run: exit %d\n%s", code, out)
	}
	sent2 := parts(run2, "Card B/CLIPS/B001.mov", true)
	held2 := parts(run2, "Card B/CLIPS/B001.mov", false)
	const nparts = (big + 64<<20 - 1) / (64 << 20)
	for k := range sent2 {
		if acked[k] {
			t.Errorf("part %d was acknowledged before the kill and sent again", k)
		}
	}
	if len(held2)+len(sent2) != nparts || len(held2) < len(acked) {
		t.Fatalf("parts: %d acknowledged before the kill; the re-run found %d held and sent %d, of %d", len(acked), len(held2), len(sent2), nparts)
	}
	// What the re-run sent beyond the parts never started is at most one
	// part per connection (those in flight at the kill).
	if extra := len(sent2) - (nparts - len(acked)); extra > 4 {
		t.Fatalf("the re-run sent %d parts more than were missing", extra)
	}
	t.Logf("killed after %d of %d parts acknowledged; the re-run found %d held and sent %d (%.0f MB)", len(acked), nparts, len(held2), len(sent2), done["bytes_sent"].(float64)/1e6)

	// The package is the one the first run made, and its digests are b3sum's.
	var pkg struct {
		AccessToken string `json:"access_token"`
		State       string `json:"state"`
	}
	_, tok := login(t, p.url, "owner@studio.example", "owner-password-1")
	do(t, "GET", p.url+"/v1.1/teams/"+teamID+"/packages/"+done["package_id"].(string), "X-User-Token", tok, "", &pkg)
	var list struct {
		Metadata struct{ Total int } `json:"metadata"`
	}
	do(t, "GET", p.url+"/v1.1/teams/"+teamID+"/packages?status[]=new&status[]=finalized", "X-User-Token", tok, "", &list)
	if pkg.State != "finalized" || list.Metadata.Total != 1 {
		t.Fatalf("package %s is %s; the team has %d packages (want the one)", done["package_id"], pkg.State, list.Metadata.Total)
	}
	var files []struct{ Kind, Name, Path, Digest string }
	do(t, "GET", p.url+"/v1/packages/"+done["package_id"].(string)+"/files", "X-Package-Token", pkg.AccessToken, "", &files)
	n := 0
	for _, f := range files {
		if f.Kind != "file" {
			continue
		}
		n++
		if want := b3sum(t, filepath.Join(src, f.Path, f.Name)); f.Digest != want {
			t.Errorf("%s/%s: digest %s, b3sum says %s", f.Path, f.Name, f.Digest, want)
		}
	}
	if n != 3 {
		t.Fatalf("%d files in the package, want 3", n)
	}
}

// b3sum is b3sum's digest of a file (Go's BLAKE3 where b3sum is absent
// and CI is unset).
func b3sum(t *testing.T, path string) string {
	t.Helper()
	if _, err := exec.LookPath("b3sum"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but b3sum is missing: .ci/run installs it")
		}
		return fileB3(t, path)
	}
	out, err := exec.Command("b3sum", "--no-names", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestAgentDownloadKillResume: haul download with 4 connections is
// SIGKILLed 70 % of the way; the same command again fetches only what is
// missing (at most one segment per connection again) and verifies.
func TestAgentDownloadKillResume(t *testing.T) {
	p, _, key := agentServer(t)
	env := []string{"HAUL_AGENT_HOME=" + t.TempDir(), "HAUL_AGENT_URL=" + p.url, "HAUL_AGENT_API_KEY=" + key}
	src := filepath.Join(t.TempDir(), "grade.mov")
	const size = 300 << 20
	f, _ := os.Create(src)
	io.Copy(f, io.NewSectionReader(newGenData(91, size), 0, size))
	f.Close()
	evs, out, code := agentJSON(t, env, "upload", src, "--link", "--json")
	if code != 0 {
		t.Fatalf("upload: %d\n%s", code, out)
	}
	links := lastEvent(evs, "done")["links"].([]any)
	_, link, _ := strings.Cut(links[0].(string), ": ")

	dest := t.TempDir()
	args := []string{"download", link, "--dest", dest, "--connections", "4", "--json"}
	run1 := runUntil(t, env, 0.7, append(args, "--limit-rate", "60M")...)
	var doneAtKill float64
	for _, ev := range run1 {
		if ev["event"] == "progress" {
			doneAtKill = ev["done"].(float64)
		}
	}
	partial := filepath.Join(dest, "grade.mov", "grade.mov"+".haulpart")
	if _, err := os.Stat(partial); err != nil {
		t.Fatalf("no partial file after the kill: %v", err)
	}
	start := time.Now()
	run2, out, code := agentJSON(t, env, args...)
	done := lastEvent(run2, "done")
	if code != 0 || done == nil {
		t.Fatalf("the re-run: exit %d\n%s", code, out)
	}
	fetched := done["bytes_fetched"].(float64)
	if fetched > size-doneAtKill+4*16<<20 || fetched >= size {
		t.Fatalf("the re-run fetched %.0f bytes; %.0f of %d were there at the kill", fetched, doneAtKill, size)
	}
	if got, want := fileB3(t, filepath.Join(dest, "grade.mov", "grade.mov")), b3sum(t, src); got != want {
		t.Fatalf("downloaded %s, source %s", got, want)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Fatalf("the partial file is still there: %v", err)
	}
	t.Logf("killed at %.0f MB; the re-run fetched %.0f MB in %v", doneAtKill/1e6, fetched/1e6, time.Since(start).Round(time.Millisecond))
}
