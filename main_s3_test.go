//go:build !race

package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"haul/client"
	"haul/store/s3chunk/s3test"
)

// TestS3BackendEndToEnd: haul serve with storage.backend = "s3" over a
// real S3 server (versitygw): a 48 MiB file goes up through the API flow
// with 4 connections; the S3 server is killed mid-upload and started
// again, the parts in flight fail with a retryable error and the client's
// retries finish the upload; the file downloads through a link with its
// digest; a portal delivers too; haul fsck checks every object; then the
// appliance, which began on S3, moves onto local disks and still serves
// the file.
func TestS3BackendEndToEnd(t *testing.T) {
	s3 := s3test.Start(t)
	data := t.TempDir()
	env := append(s3.Env("haul-e2e"), "HAUL_BOOTSTRAP_OWNER_EMAIL=owner@studio.example", "HAUL_BOOTSTRAP_OWNER_PASSWORD=owner-password-1")
	p := startServe(t, data, env...)
	ctx := context.Background()
	c := client.New(p.url)
	if _, err := c.Login(ctx, "owner@studio.example", "owner-password-1"); err != nil {
		t.Fatal(err)
	}
	teams, err := c.Teams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const size = 48 << 20
	src := newGenData(61, size)
	pkg, err := c.CreatePackage(ctx, teams[0].ID, client.CreatePackageRequest{Name: "over S3"})
	if err != nil {
		t.Fatal(err)
	}
	// Kill the S3 server once a few parts are in; start it again a
	// second later.
	var parts int
	done := make(chan struct{})
	opt := client.UploadOptions{Retries: 8, RetryWait: 300 * time.Millisecond, OnPart: func(int, int64, bool) {
		parts++
		if parts == 3 {
			go func() {
				s3.Stop()
				time.Sleep(time.Second)
				s3.Restart(t)
				close(done)
			}()
		}
	}}
	f, err := c.UploadFileWith(ctx, pkg.AccessToken, pkg.ID, "grade.mov", "", src, size, 5<<20, 4, opt)
	if err != nil {
		t.Fatalf("upload over S3: %v\nserver log:\n%s", err, p.stderr.String())
	}
	<-done
	if want := hexDigest(src); f.Digest != want {
		t.Fatalf("digest %s, want %s", f.Digest, want)
	}
	if !strings.Contains(p.stderr.String(), "503") && !strings.Contains(p.stderr.String(), "object store failed") {
		t.Logf("no failed part logged (the kill landed between parts)")
	}
	if _, err := c.FinalizePackage(ctx, pkg.AccessToken, pkg.ID); err != nil {
		t.Fatal(err)
	}
	l, err := c.CreateLink(ctx, pkg.AccessToken, pkg.ID, client.CreateLinkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	linkID := l.URL[strings.LastIndex(l.URL, "/")+1 : strings.Index(l.URL, "?")]
	opened, err := c.OpenLink(ctx, linkID, l.DownloadSecret, "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.DownloadURL(ctx, opened.PackageToken, opened.PackageID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	h := blake3.New()
	n, _ := io.Copy(h, res.Body)
	res.Body.Close()
	if n != size || hex.EncodeToString(h.Sum(nil)) != f.Digest {
		t.Fatalf("download: %d bytes, digest %x", n, h.Sum(nil))
	}

	// A portal delivers into the S3 store too.
	_, tok := login(t, p.url, "owner@studio.example", "owner-password-1")
	var portal struct{ ID string }
	if code := do(t, "POST", p.url+"/v1/teams/"+teams[0].ID+"/portals", "X-User-Token", tok, `{"name":"Drop","subdomain":"s3drop","active":true}`, &portal); code != 201 {
		t.Fatalf("portal: %d", code)
	}
	pp, err := client.New(p.url).CreatePortalPackage(ctx, portal.ID, client.PortalPackageRequest{Name: "vendor", Sender: "dit@vendor.example"})
	if err != nil {
		t.Fatal(err)
	}
	small := newGenData(62, 3<<20)
	if pf, err := c.UploadFile(ctx, pp.AccessToken, pp.ID, "clip.mov", "", small, 3<<20, 0, 2); err != nil || pf.Digest != hexDigest(small) {
		t.Fatalf("portal upload over S3: %v", err)
	}
	if _, err := c.FinalizePackage(ctx, pp.AccessToken, pp.ID); err != nil {
		t.Fatal(err)
	}

	p.stop(t)
	out, errOut, code := runHaul(t, env, "fsck", "--data", data)
	if code != 0 || !strings.Contains(out, `"missing": 0`) || !strings.Contains(out, `"damaged": 0`) {
		t.Fatalf("haul fsck over S3: %d\n%s%s", code, out, errOut)
	}

	// An appliance that began on S3 moves onto local disks (it has no
	// chunk directory yet, only the metadata snapshots beside it).
	out, errOut, code = runHaul(t, env, "admin", "migrate-store", "--to", "local", "--data", data)
	if code != 0 || !strings.Contains(out, "every one verified") {
		t.Fatalf("migrate-store --to local: %d\n%s%s", code, out, errOut)
	}
	p = startServe(t, data, append(env, "HAUL_STORAGE_BACKEND=local")...)
	c = client.New(p.url)
	opened, err = c.OpenLink(ctx, linkID, l.DownloadSecret, "")
	if err != nil {
		t.Fatal(err)
	}
	if u, err = c.DownloadURL(ctx, opened.PackageToken, opened.PackageID, f.ID); err != nil {
		t.Fatal(err)
	}
	res, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	h = blake3.New()
	n, _ = io.Copy(h, res.Body)
	res.Body.Close()
	if n != size || hex.EncodeToString(h.Sum(nil)) != f.Digest {
		t.Fatalf("download from the local disks after the move: %d bytes, digest %x", n, h.Sum(nil))
	}
}

// TestMigrateStoreBothWays: a local store of more than 1,000 blocks moves
// to S3 (4 data and 2 parity objects a block) with haul admin
// migrate-store; the appliance then runs from S3 and
// every file downloads with its digest; running the command again moves
// nothing; haul fsck finds every object sound; then everything moves back
// (--to local) and the appliance runs from its disks again, every digest
// intact and fsck clean.
func TestMigrateStoreBothWays(t *testing.T) {
	s3 := s3test.Start(t)
	data := t.TempDir()
	local := []string{"HAUL_BOOTSTRAP_OWNER_EMAIL=owner@studio.example", "HAUL_BOOTSTRAP_OWNER_PASSWORD=owner-password-1", "HAUL_STORAGE_BLOCK_SIZE=64KiB",
		"HAUL_STORAGE_DATA_SHARDS=4", "HAUL_STORAGE_PARITY_SHARDS=1"}
	p := startServe(t, data, local...)
	ctx := context.Background()
	c := client.New(p.url)
	if _, err := c.Login(ctx, "owner@studio.example", "owner-password-1"); err != nil {
		t.Fatal(err)
	}
	teams, _ := c.Teams(ctx)
	pkg, err := c.CreatePackage(ctx, teams[0].ID, client.CreatePackageRequest{Name: "to move"})
	if err != nil {
		t.Fatal(err)
	}
	type sent struct {
		id, digest string
		size       int64
	}
	var files []sent
	for i, size := range []int64{40 << 20, 25 << 20, 200_000, 1} {
		src := newGenData(uint64(70+i), size)
		f, err := c.UploadFile(ctx, pkg.AccessToken, pkg.ID, fmt.Sprintf("f%d.bin", i), "", src, size, 5<<20, 4)
		if err != nil {
			t.Fatal(err)
		}
		if f.Digest != hexDigest(src) {
			t.Fatalf("upload %d: digest", i)
		}
		files = append(files, sent{f.ID, f.Digest, size})
	}
	if _, err := c.FinalizePackage(ctx, pkg.AccessToken, pkg.ID); err != nil {
		t.Fatal(err)
	}
	p.stop(t)

	// On S3 as 4 data and 2 parity objects a block (the migration writes them).
	env := append(append(append([]string{}, local...), s3.Env("haul-migrated")...), "HAUL_STORAGE_S3_PARITY_SHARDS=2", "HAUL_STORAGE_BACKEND=local")
	// Switched to S3 before the move: refused, saying what to do.
	s3first := append(append([]string{}, local...), s3.Env("haul-migrated")...)
	if _, errOut, code := runHaul(t, s3first, "admin", "list-users", "--data", data); code == 0 || !strings.Contains(errOut, "migrate-store --to s3") {
		t.Fatalf("opening a local store as S3: %d %s", code, errOut)
	}
	out, errOut, code := runHaul(t, env, "admin", "migrate-store", "--data", data)
	if code != 0 || !strings.Contains(out, "every one verified") {
		t.Fatalf("migrate-store: %d\n%s%s", code, out, errOut)
	}
	var moved int
	fmt.Sscanf(out[strings.Index(out, "Moved ")+len("Moved "):], "%d", &moved)
	if moved < 1000 {
		t.Fatalf("moved %d blocks, want over 1,000:\n%s", moved, out)
	}
	if out, _, code := runHaul(t, env, "admin", "migrate-store", "--data", data); code != 0 || !strings.Contains(out, "Moving 0 blocks") {
		t.Fatalf("second run: %d\n%s", code, out)
	}

	// Run from S3: every file reads back with its digest.
	s3env := append(append([]string{}, local...), append(s3.Env("haul-migrated"), "HAUL_STORAGE_S3_PARITY_SHARDS=2")...)
	p = startServe(t, data, s3env...)
	c = client.New(p.url)
	if _, err := c.Login(ctx, "owner@studio.example", "owner-password-1"); err != nil {
		t.Fatal(err)
	}
	full, err := c.TeamPackage(ctx, teams[0].ID, pkg.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkAll := func(where string) {
		t.Helper()
		for _, f := range files {
			u, err := c.DownloadURL(ctx, full.AccessToken, pkg.ID, f.id)
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			h := blake3.New()
			n, _ := io.Copy(h, res.Body)
			res.Body.Close()
			if n != f.size || hex.EncodeToString(h.Sum(nil)) != f.digest {
				t.Fatalf("file %s %s: %d bytes, digest %x, want %s", f.id, where, n, h.Sum(nil), f.digest)
			}
		}
	}
	checkAll("on S3")
	p.stop(t)
	if out, errOut, code := runHaul(t, s3env, "fsck", "--data", data); code != 0 || !strings.Contains(out, `"missing": 0`) {
		t.Fatalf("fsck: %d\n%s%s", code, out, errOut)
	}

	// And back to the local disks.
	out, errOut, code = runHaul(t, s3env, "admin", "migrate-store", "--to", "local", "--data", data)
	if code != 0 || !strings.Contains(out, "every one verified") {
		t.Fatalf("migrate-store --to local: %d\n%s%s", code, out, errOut)
	}
	p = startServe(t, data, local...)
	c = client.New(p.url)
	if _, err := c.Login(ctx, "owner@studio.example", "owner-password-1"); err != nil {
		t.Fatal(err)
	}
	if full, err = c.TeamPackage(ctx, teams[0].ID, pkg.ID); err != nil {
		t.Fatal(err)
	}
	checkAll("back on the local disks")
	p.stop(t)
	if out, errOut, code := runHaul(t, local, "fsck", "--data", data); code != 0 {
		t.Fatalf("fsck of the local store: %d\n%s%s", code, out, errOut)
	}
}
