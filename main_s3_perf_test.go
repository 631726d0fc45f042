//go:build !race

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"haul/client"
	"haul/store/chunk/chunktest"
	"haul/store/s3chunk/s3test"
)

// The S3 backend figures, measured by `make bench` (HAUL_BENCH=1): one
// file of HAUL_BENCH_MIB (default 4096) MiB of generated data, against
// versitygw on loopback (a fresh one over a fresh directory each run):
//
//	plain S3 upload    minio-go PutObject of the bytes (multipart, 64 MiB parts, 4 at once)
//	plain S3 download  minio-go GetObject of them, read and dropped
//	haul upload        the API flow to haul serve with storage.backend = "s3" (4 connections, 64 MiB parts)
//	haul download      one GET of the file's signed URL, read and dropped
//
// Plain and haul alternate three times each; the target is haul ≥ 0.7 ×
// plain for both directions.
func TestS3Performance(t *testing.T) {
	if os.Getenv("HAUL_BENCH") == "" {
		t.Skip("set HAUL_BENCH=1 (make bench) to measure the S3 backend")
	}
	size := chunktest.BenchSize()
	src := newGenData(51, size)
	ctx := context.Background()
	figs := map[string]*chunktest.Figure{}
	fig := func(name string) *chunktest.Figure {
		if figs[name] == nil {
			figs[name] = &chunktest.Figure{Name: name}
		}
		return figs[name]
	}
	buf := make([]byte, 1<<20)
	for round := range 3 {
		// Plain S3, the same client library haul uses.
		s3 := s3test.Start(t)
		mc, err := minio.New(strings.TrimPrefix(s3.Endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, ""), Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := mc.MakeBucket(ctx, "plain", minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := mc.PutObject(ctx, "plain", "big.bin", io.NewSectionReader(src, 0, size), size, minio.PutObjectOptions{PartSize: 64 << 20, NumThreads: 4}); err != nil {
			t.Fatal(err)
		}
		fig("plain S3 upload").Add(float64(size) / time.Since(start).Seconds() / 1e9)
		start = time.Now()
		obj, err := mc.GetObject(ctx, "plain", "big.bin", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.CopyBuffer(io.Discard, obj, buf)
		obj.Close()
		if n != size {
			t.Fatalf("plain download: %d bytes", n)
		}
		fig("plain S3 download").Add(float64(size) / time.Since(start).Seconds() / 1e9)
		s3.Stop()
		os.RemoveAll(s3.Dir)

		// haul on S3.
		s3 = s3test.Start(t)
		data := t.TempDir()
		p := startServe(t, data, append(s3.Env(fmt.Sprintf("haul-%d", round)), "HAUL_BOOTSTRAP_OWNER_EMAIL="+benchEmail, "HAUL_BOOTSTRAP_OWNER_PASSWORD="+benchPassword, "HAUL_LOG_LEVEL=warn")...)
		c := client.New(p.url)
		if _, err := c.Login(ctx, benchEmail, benchPassword); err != nil {
			t.Fatal(err)
		}
		teams, _ := c.Teams(ctx)
		pkg, err := c.CreatePackage(ctx, teams[0].ID, client.CreatePackageRequest{Name: "s3 bench"})
		if err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		f, err := c.UploadFile(ctx, pkg.AccessToken, pkg.ID, "big.bin", "", src, size, 64<<20, 4)
		if err != nil {
			t.Fatalf("haul upload: %v\n%s", err, p.stderr.String())
		}
		fig("haul upload").Add(float64(size) / time.Since(start).Seconds() / 1e9)
		u, err := c.DownloadURL(ctx, pkg.AccessToken, pkg.ID, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		n, _ = io.CopyBuffer(io.Discard, res.Body, buf)
		res.Body.Close()
		if n != size {
			t.Fatalf("haul download: %d bytes", n)
		}
		fig("haul download").Add(float64(size) / time.Since(start).Seconds() / 1e9)
		p.stop(t)
		s3.Stop()
		os.RemoveAll(s3.Dir)
		os.RemoveAll(data)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\nthe S3 backend against plain S3 (minio-go, versitygw on loopback), %d MiB, 3 alternating runs (GB/s: median [spread])\n", size>>20)
	for _, name := range []string{"plain S3 upload", "haul upload", "plain S3 download", "haul download"} {
		f := figs[name]
		fmt.Fprintf(&out, "  %-18s %6.2f  [%3.0f%%]  runs %s\n", f.Name, f.Med(), 100*f.Spread(), f.RunsString())
	}
	for _, dir := range []string{"upload", "download"} {
		r := figs["haul "+dir].Med() / figs["plain S3 "+dir].Med()
		fmt.Fprintf(&out, "  %-40s %5.2f  (target ≥ 0.7)  %s\n", "haul "+dir+" / plain S3 "+dir, r, targetMark(r >= 0.7, "BELOW TARGET"))
	}
	fmt.Print(out.String())
}
