package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"haul/core"
	"haul/core/config"
	"haul/store/chunk"
	"haul/store/chunk/chunktest"
)

// storedFile is a file put into a data directory in-process.
type storedFile struct {
	data   []byte
	blocks []core.Block
	digest core.Hash
}

// openData opens a data directory in-process with the default
// configuration, as haul fsck does.
func openData(t *testing.T, data string) (*appliance, config.Config) {
	t.Helper()
	cfg := config.Default()
	cfg.Server.DataDir = data
	app, err := open(context.Background(), cfg, slog.New(slog.DiscardHandler), openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return app, cfg
}

// runHaul runs haul with args and returns its stdout, its stderr and its
// exit code.
func runHaul(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := haul(t, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatalf("haul %v: %v", args, err)
	return "", "", 0
}

// jsonAfter decodes the JSON object printed after "title: " in out.
func jsonAfter(t *testing.T, out, title string, v any) {
	t.Helper()
	i := strings.Index(out, title+": {")
	if i < 0 {
		t.Fatalf("no %q report in:\n%s", title, out)
	}
	if err := json.NewDecoder(strings.NewReader(out[i+len(title)+2:])).Decode(v); err != nil {
		t.Fatalf("%q report: %v\n%s", title, err, out)
	}
}

// TestFsckCommand runs haul fsck on a data directory: clean, with a
// flipped byte in a shard (fails, reports it), --repair, clean again, and
// --rebuild-index, after which every file still reads back byte-exact.
func TestFsckCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	data := filepath.Join(t.TempDir(), "data")
	team := chunktest.Team("A")
	ctx := context.Background()

	app, cfg := openData(t, data)
	bs := int(cfg.Storage.BlockSize)
	env := chunktest.Env{Store: app.chunks, Meta: app.db, BlockSize: app.chunks.BlockSize()}
	var files []storedFile
	for i, c := range []struct{ size, part int }{
		{2*bs + 333, bs/2 + 1001}, // multi-block, parts not 1 KiB aligned; its first shard is flipped below
		{0, 1},
		{1, 1},
		{100<<10 + 7, 100<<10 + 7},
		{bs, bs},
	} {
		d := chunktest.Data(uint64(100+i), c.size)
		files = append(files, storedFile{data: d, blocks: chunktest.Put(t, env, team, d, c.part), digest: blake3.Sum256(d)})
	}
	nBlocks := 0
	for _, f := range files {
		nBlocks += len(f.blocks)
	}
	if err := app.close(); err != nil {
		t.Fatal(err)
	}

	type fsckReport struct {
		Blocks, Shards, Bad, Repaired, Unrecoverable, Torn, Orphans int64
	}
	fsck := func(wantCode int, args ...string) (string, fsckReport) {
		t.Helper()
		out, errOut, code := runHaul(t, nil, append([]string{"fsck", "--data", data}, args...)...)
		if (code == 0) != (wantCode == 0) {
			t.Fatalf("haul fsck %v: exit %d, want %s\nstdout:\n%s\nstderr:\n%s", args, code, map[bool]string{true: "0", false: "non-zero"}[wantCode == 0], out, errOut)
		}
		var rep fsckReport
		jsonAfter(t, out, "fsck", &rep)
		if verified := strings.Contains(out, "every block verifies"); verified != (code == 0) {
			t.Fatalf("haul fsck %v exited %d but says every block verifies: %v\n%s", args, code, verified, out)
		}
		return out, rep
	}

	if _, rep := fsck(0); rep.Blocks != int64(nBlocks) || rep.Bad != 0 || rep.Orphans != 0 {
		t.Fatalf("clean store: %+v, want %d blocks, nothing bad", rep, nBlocks)
	}

	// Flip a byte of the first record's shard data in shard 0's first
	// segment: shard 0 of the first block of the first file.
	segs, _ := filepath.Glob(filepath.Join(data, "chunks", "s000-*.seg"))
	sort.Strings(segs)
	if len(segs) == 0 {
		t.Fatal("no segment of shard 0")
	}
	flipByte(t, segs[0], 4096+17)

	out, rep := fsck(1)
	if rep.Bad < 1 || rep.Repaired != 0 {
		t.Fatalf("after a flipped byte: %+v, want bad > 0, nothing repaired", rep)
	}
	if !strings.Contains(out, `"bad": 1`) {
		t.Errorf("the report does not show the bad shard:\n%s", out)
	}
	if _, rep = fsck(0, "--repair"); rep.Bad != 1 || rep.Repaired != 1 {
		t.Fatalf("fsck --repair: %+v, want the bad shard repaired", rep)
	}
	if _, rep = fsck(0); rep.Bad != 0 || rep.Blocks != int64(nBlocks) {
		t.Fatalf("fsck after the repair: %+v", rep)
	}

	out, rep = fsck(0, "--rebuild-index")
	var rb chunk.RebuildReport
	jsonAfter(t, out, "index rebuilt", &rb)
	// Without file records every rebuilt block starts unreferenced.
	if rb.Blocks != int64(nBlocks) || rb.Unreferenced != int64(nBlocks) || rb.Torn != 1 || rb.Degraded != 0 || rep.Bad != 0 {
		t.Fatalf("fsck --rebuild-index: rebuild %+v, fsck %+v; want %d blocks, all unreferenced, the flipped record torn", rb, rep, nBlocks)
	}

	// Every file still reads back and digests right, though the rebuilt
	// entries have zero references: reads do not look at the count.
	app, _ = openData(t, data)
	defer app.close()
	err := app.db.View(ctx, func(tx core.Tx) error {
		return tx.Blocks(func(teamID string, h core.Hash, e *core.BlockEntry) bool {
			if e.Refs != 0 {
				t.Errorf("block %s of %s has %d references after the rebuild, want 0", h.Short(), teamID, e.Refs)
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		var buf bytes.Buffer
		if err := app.chunks.ReadRange(ctx, team, f.blocks, 0, int64(len(f.data)), &buf); err != nil {
			t.Fatalf("file %d after the rebuild: %v", i, err)
		}
		if !bytes.Equal(buf.Bytes(), f.data) {
			t.Fatalf("file %d reads back different after the rebuild", i)
		}
		d, err := app.chunks.Digest(ctx, team, f.blocks)
		if err != nil || d != f.digest {
			t.Fatalf("file %d digest after the rebuild: %v, %v", i, d, err)
		}
	}
}

// flipByte inverts the byte at off of the file name.
func flipByte(t *testing.T, name string, off int64) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// do makes a request with a header credential and a JSON body and
// decodes the answer into out (if not nil); it returns the status.
func do(t *testing.T, method, url, header, cred, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set(header, cred)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode < 300 {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return res.StatusCode
}

// TestOnlineBackupAndRestore backs the metadata up through a running
// server's admin socket and with the server stopped, restores each into
// a new data directory, and checks that the owner's password and an API
// key (signing keys, password and key hashes) work on the restored copy.
func TestOnlineBackupAndRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const email, password = "boss@studio.example", "boss-password-1"
	root := t.TempDir()
	data := filepath.Join(root, "data")
	owner := []string{"HAUL_BOOTSTRAP_OWNER_EMAIL=" + email, "HAUL_BOOTSTRAP_OWNER_PASSWORD=" + password}
	p := startServe(t, data, owner...)
	st, token := login(t, p.url, email, password)
	if st != 200 {
		t.Fatalf("owner login: status %d", st)
	}
	var teams []struct{ ID string }
	if st := do(t, "GET", p.url+"/v1/teams", "X-User-Token", token, "", &teams); st != 200 || len(teams) != 1 {
		t.Fatalf("teams: status %d, %d teams", st, len(teams))
	}
	var key struct{ ID, Key string }
	if st := do(t, "POST", p.url+"/v1/teams/"+teams[0].ID+"/api_keys", "X-User-Token", token, `{"name":"backup test"}`, &key); st != 201 || key.Key == "" {
		t.Fatalf("creating an API key: status %d", st)
	}
	if st := do(t, "GET", p.url+"/v1/teams", "X-API-KEY", key.Key, "", nil); st != 200 {
		t.Fatalf("the API key before the backup: status %d", st)
	}

	online := filepath.Join(root, "online.bak")
	out, errOut, code := runHaul(t, nil, "admin", "backup", online, "--data", data)
	if code != 0 || !strings.Contains(out, "online") {
		t.Fatalf("backup of the running server: exit %d\n%s\n%s", code, out, errOut)
	}
	// The running server is untouched by it.
	if st := do(t, "GET", p.url+"/v1/users/me", "X-User-Token", token, "", nil); st != 200 {
		t.Fatalf("the server after the online backup: status %d", st)
	}
	p.stop(t)

	offline := filepath.Join(root, "offline.bak")
	out, errOut, code = runHaul(t, nil, "admin", "backup", "--data", data, offline)
	if code != 0 || !strings.Contains(out, "offline") {
		t.Fatalf("backup of the stopped server: exit %d\n%s\n%s", code, out, errOut)
	}
	// A directory as the target gets a dated file inside it.
	bakDir := filepath.Join(root, "backups")
	os.Mkdir(bakDir, 0o700)
	if out, errOut, code := runHaul(t, nil, "admin", "backup", "--data", data, bakDir); code != 0 {
		t.Fatalf("backup into a directory: exit %d\n%s\n%s", code, out, errOut)
	}
	if m, _ := filepath.Glob(filepath.Join(bakDir, "haul-meta-*.bak")); len(m) != 1 {
		t.Fatalf("backup into a directory wrote %v", m)
	}
	// A mistyped data directory is an error, not an empty backup.
	if _, _, code := runHaul(t, nil, "admin", "backup", "--data", filepath.Join(root, "typo"), filepath.Join(root, "x.bak")); code == 0 {
		t.Fatal("backup of a data directory that does not exist succeeded")
	}

	for _, bak := range []string{online, offline} {
		t.Run(filepath.Base(bak), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "restored")
			out, errOut, code := runHaul(t, nil, "admin", "restore", bak, "--data", dir)
			if code != 0 || !strings.Contains(out, "Metadata restored") {
				t.Fatalf("restore: exit %d\n%s\n%s", code, out, errOut)
			}
			// Restoring over it again is refused.
			if _, _, code := runHaul(t, nil, "admin", "restore", bak, "--data", dir); code == 0 {
				t.Fatal("a second restore into the same directory succeeded")
			}
			p := startServe(t, dir)
			if strings.Contains(p.stdout.String(), "Password:") {
				t.Errorf("the restored server bootstrapped a new owner:\n%s", p.stdout.String())
			}
			// A token signed before the backup verifies: the signing keys came along.
			if st := do(t, "GET", p.url+"/v1/users/me", "X-User-Token", token, "", nil); st != 200 {
				t.Errorf("a token from before the backup: status %d, want 200", st)
			}
			st, tok := login(t, p.url, email, password)
			if st != 200 {
				t.Fatalf("owner login on the restored copy: status %d", st)
			}
			if st := do(t, "GET", p.url+"/v1/teams", "X-User-Token", tok, "", nil); st != 200 {
				t.Fatalf("teams on the restored copy: status %d", st)
			}
			if st := do(t, "GET", p.url+"/v1/teams", "X-API-KEY", key.Key, "", nil); st != 200 {
				t.Fatalf("the API key on the restored copy: status %d, want 200", st)
			}
			if st := do(t, "GET", p.url+"/v1/teams", "X-API-KEY", key.Key+"x", "", nil); st != 401 {
				t.Fatalf("a wrong API key on the restored copy: status %d, want 401", st)
			}
			p.stop(t)
		})
	}
}
