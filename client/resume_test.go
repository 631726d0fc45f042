package client_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/zeebo/blake3"

	"haul/client"
)

// countingTransport counts the request body bytes sent through it.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = countingBody{req.Body, &t.n}
	}
	return t.next.RoundTrip(req)
}

// TestUploadFileByContent uploads a file, then the same file into another
// package by content (≤ 1 % of its bytes travel), then a copy with one
// byte changed (only that part travels); digests are b3sum's.
func TestUploadFileByContent(t *testing.T) {
	ctx := context.Background()
	url, teamID, key := uploadServer(t)
	const chunk = 256 << 10
	data := make([]byte, 16*chunk+12345)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	digest := func(b []byte) string { h := blake3.Sum256(b); return hex.EncodeToString(h[:]) }

	tr := &countingTransport{next: http.DefaultTransport}
	c := client.New(url)
	c.APIKey = key
	c.HTTP = &http.Client{Transport: tr}

	pk, err := c.CreatePackage(ctx, teamID, client.CreatePackageRequest{Name: "first"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.UploadFile(ctx, pk.AccessToken, pk.ID, "a.bin", "", bytes.NewReader(data), int64(len(data)), chunk, 4)
	if err != nil || f.Digest != digest(data) {
		t.Fatalf("first upload: %+v, %v", f, err)
	}

	pk2, err := c.CreatePackage(ctx, teamID, client.CreatePackageRequest{Name: "again"})
	if err != nil {
		t.Fatal(err)
	}
	sent := tr.n.Load()
	res, err := c.UploadFileByContent(ctx, teamID, pk2.AccessToken, pk2.ID, "a.bin", "", bytes.NewReader(data), int64(len(data)), chunk, 4, client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wire := tr.n.Load() - sent
	t.Logf("by content: %d request body bytes on the wire for %d bytes of file; %+v", wire, len(data), res)
	if res.File.Digest != digest(data) || res.File.State != "finalized" {
		t.Errorf("file by content = %+v, want digest %s", res.File, digest(data))
	}
	if res.BytesSent != 0 || res.PartsByReference != 17 || res.PartsUploaded != 0 {
		t.Errorf("result %+v: want every part by reference", res)
	}
	if wire > int64(len(data))/100 {
		t.Errorf("%d bytes travelled, more than 1%% of %d", wire, len(data))
	}

	// One byte changed in part 7: that part travels, nothing else.
	changed := append([]byte(nil), data...)
	changed[6*chunk+100] ^= 1
	pk3, err := c.CreatePackage(ctx, teamID, client.CreatePackageRequest{Name: "changed"})
	if err != nil {
		t.Fatal(err)
	}
	sent = tr.n.Load()
	res, err = c.UploadFileByContent(ctx, teamID, pk3.AccessToken, pk3.ID, "a.bin", "", bytes.NewReader(changed), int64(len(changed)), chunk, 4, client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wire = tr.n.Load() - sent
	if res.File.Digest != digest(changed) {
		t.Errorf("changed file digest %s, want %s", res.File.Digest, digest(changed))
	}
	if res.BytesSent != chunk || res.PartsUploaded != 1 || res.PartsByReference != 16 {
		t.Errorf("changed file: %+v, want one part of %d bytes sent", res, chunk)
	}
	if wire < chunk || wire > chunk+int64(len(data))/100 {
		t.Errorf("changed file: %d bytes on the wire, want %d plus at most 1%%", wire, chunk)
	}

	// Without a user credential the client refuses before sending anything.
	bare := client.New(url)
	if _, err := bare.UploadFileByContent(ctx, teamID, pk3.AccessToken, pk3.ID, "b.bin", "", bytes.NewReader(data), int64(len(data)), chunk, 1, client.UploadOptions{}); err == nil {
		t.Error("UploadFileByContent without a credential succeeded")
	}
}
