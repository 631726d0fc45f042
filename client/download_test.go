package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"haul/client"
)

// cutter cuts the body of the first four download responses after limit
// bytes, as a dropping hotel connection would.
type cutter struct {
	next  http.RoundTripper
	limit int64
	n     atomic.Int32
	cuts  atomic.Int32
}

func (c *cutter) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(req)
	if err != nil || !strings.Contains(req.URL.Path, "/dl/") || c.n.Add(1) > 4 {
		return res, err
	}
	c.cuts.Add(1)
	res.Body = &cutBody{r: io.LimitReader(res.Body, c.limit), c: res.Body}
	return res, nil
}

type cutBody struct {
	r io.Reader
	c io.Closer
}

func (b *cutBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer (injected)")}
	}
	return n, err
}
func (b *cutBody) Close() error { return b.c.Close() }

// TestClientDownload: a link opened with the client, a file downloaded
// through transfers cut every other time (resumed with ranges, checked
// against the digest), a partial local copy continued, a damaged copy
// refused, and the download reported complete.
func TestClientDownload(t *testing.T) {
	ctx := context.Background()
	base, team, key := uploadServer(t)
	c := client.New(base)
	c.APIKey = key
	data := make([]byte, 900_000)
	for i := range data {
		data[i] = byte(i*7 + i/1000)
	}
	pkg, err := c.CreatePackage(ctx, team, client.CreatePackageRequest{Name: "to download"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadFile(ctx, pkg.AccessToken, pkg.ID, "clip.mov", "", bytes.NewReader(data), int64(len(data)), 64<<10, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FinalizePackage(ctx, pkg.AccessToken, pkg.ID); err != nil {
		t.Fatal(err)
	}
	link, err := c.CreateLink(ctx, pkg.AccessToken, pkg.ID, client.CreateLinkRequest{Password: "pw for the link"})
	if err != nil || !link.Active || link.DownloadSecret == "" {
		t.Fatalf("CreateLink = %+v, %v", link, err)
	}
	anon := client.New(base)
	if _, err := anon.OpenLink(ctx, link.ID, link.DownloadSecret, "wrong"); client.StatusOf(err) != 401 {
		t.Fatalf("wrong password: %v", err)
	}
	opened, err := anon.OpenLink(ctx, link.ID, link.DownloadSecret, "pw for the link")
	if err != nil || opened.PackageID != pkg.ID || opened.PackageSize != int64(len(data)) {
		t.Fatalf("OpenLink = %+v, %v", opened, err)
	}
	files, err := anon.Files(ctx, opened.PackageToken, pkg.ID)
	if err != nil || len(files) != 2 {
		t.Fatalf("Files = %+v, %v", files, err)
	}
	if err := anon.CompleteDownload(ctx, opened.PackageToken, pkg.ID); client.StatusOf(err) != 409 {
		t.Fatalf("complete before downloading: %v", err)
	}

	cut := &cutter{next: http.DefaultTransport, limit: 100_000}
	anon.HTTP = &http.Client{Transport: cut}
	dst, err := os.Create(filepath.Join(t.TempDir(), "clip.mov"))
	if err != nil {
		t.Fatal(err)
	}
	if err := anon.Download(ctx, opened.PackageToken, pkg.ID, files[0], dst, client.DownloadOptions{RetryWait: 1}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst.Name()); string(got) != string(data) || cut.cuts.Load() != 4 {
		t.Fatalf("downloaded %d bytes through %d cuts", len(got), cut.cuts.Load())
	}
	if err := anon.CompleteDownload(ctx, opened.PackageToken, pkg.ID); err != nil {
		t.Fatalf("complete: %v", err)
	}
	if ls, err := c.Links(ctx, pkg.AccessToken, pkg.ID); err != nil || len(ls) != 1 || ls[0].AccessCount != 1 || ls[0].AccessedAt == nil {
		t.Fatalf("Links = %+v, %v", ls, err)
	}

	// A partial copy left by a crash continues; a damaged one is refused.
	anon.HTTP = nil
	part := filepath.Join(t.TempDir(), "part.mov")
	os.WriteFile(part, data[:300_000], 0o644)
	f, _ := os.OpenFile(part, os.O_RDWR, 0)
	if err := anon.Download(ctx, opened.PackageToken, pkg.ID, files[0], f, client.DownloadOptions{}); err != nil {
		t.Fatalf("continuing a partial copy: %v", err)
	}
	bad := append([]byte{}, data[:300_000]...)
	bad[10] ^= 1
	damaged := filepath.Join(t.TempDir(), "bad.mov")
	os.WriteFile(damaged, bad, 0o644)
	g, _ := os.OpenFile(damaged, os.O_RDWR, 0)
	if err := anon.Download(ctx, opened.PackageToken, pkg.ID, files[0], g, client.DownloadOptions{}); !errors.Is(err, client.ErrDigestMismatch) {
		t.Fatalf("a damaged partial copy: %v", err)
	}
}
