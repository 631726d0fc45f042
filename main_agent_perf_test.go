//go:build !race

package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"haul/client"
	"haul/store/chunk/chunktest"
)

// The agent figures, measured by `make bench` (HAUL_BENCH=1): one file of
// HAUL_BENCH_MIB (default 4096) MiB on disk, sent with 4 connections and
// 64 MiB parts to a freshly started haul serve (a new data directory each
// run, so no run dedups against another), then fetched through a link
// with 4 connections, caches dropped before each run (root only):
//
//	agent upload     haul upload FILE --link --no-dedup (the binary, a child process)
//	client upload    client.UploadFileWith on the same file, then finalize and a link
//	agent download   haul download LINK (4 ranged connections, BLAKE3 checked)
//	client download  client.Download into a file (one stream, BLAKE3 checked)
//
// Agent and client alternate three times each; the target is agent ≥ 0.9 ×
// client for both directions (the agent adds no bottleneck of its own).
func TestAgentPerformance(t *testing.T) {
	if os.Getenv("HAUL_BENCH") == "" {
		t.Skip("set HAUL_BENCH=1 (make bench) to measure the agent")
	}
	size := chunktest.BenchSize()
	base := t.TempDir()
	src := filepath.Join(base, "source.bin")
	writeRawFile(t, src, newGenData(41, size))
	want := b3sum(t, src)
	ctx := context.Background()
	figs := map[string]*chunktest.Figure{}
	fig := func(name string) *chunktest.Figure {
		if figs[name] == nil {
			figs[name] = &chunktest.Figure{Name: name}
		}
		return figs[name]
	}
	dropped := true
	for round := range 3 {
		for _, who := range []string{"agent", "client"} {
			data := filepath.Join(base, fmt.Sprintf("data-%d-%s", round, who))
			s := startBenchServer(t, data)
			key, err := s.c.CreateAPIKey(ctx, s.teamID, "bench", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			env := []string{"HAUL_AGENT_HOME=" + filepath.Join(base, "home-"+fmt.Sprint(round)+who), "HAUL_AGENT_URL=" + s.p.url, "HAUL_AGENT_API_KEY=" + key.Key}
			// Upload.
			dropped = dropPageCache() && dropped
			start := time.Now()
			var link string
			if who == "agent" {
				evs, out, code := agentJSON(t, env, "upload", src, "--link", "--no-dedup", "--connections", "4", "--chunk-size", "64M", "--json")
				if code != 0 {
					t.Fatalf("agent upload: %d\n%s", code, out)
				}
				_, link, _ = strings.Cut(lastEvent(evs, "done")["links"].([]any)[0].(string), ": ")
			} else {
				f, err := os.Open(src)
				if err != nil {
					t.Fatal(err)
				}
				pkg, err := s.c.CreatePackage(ctx, s.teamID, client.CreatePackageRequest{Name: "source.bin"})
				if err != nil {
					t.Fatal(err)
				}
				file, err := s.c.UploadFileWith(ctx, pkg.AccessToken, pkg.ID, "source.bin", "", f, size, 64<<20, 4, client.UploadOptions{})
				f.Close()
				if err != nil || file.Digest != want {
					t.Fatalf("client upload: %v (digest %v)", err, file)
				}
				if _, err := s.c.FinalizePackage(ctx, pkg.AccessToken, pkg.ID); err != nil {
					t.Fatal(err)
				}
				l, err := s.c.CreateLink(ctx, pkg.AccessToken, pkg.ID, client.CreateLinkRequest{})
				if err != nil {
					t.Fatal(err)
				}
				link = l.URL
			}
			fig(who + " upload").Add(float64(size) / time.Since(start).Seconds() / 1e9)

			// Download.
			dest := filepath.Join(base, "dest-"+who)
			os.RemoveAll(dest)
			os.MkdirAll(dest, 0o755)
			dropped = dropPageCache() && dropped
			start = time.Now()
			var got string
			if who == "agent" {
				if out, errOut, code := runHaul(t, env, "download", link, "--dest", dest, "--connections", "4", "--no-package-folder"); code != 0 {
					t.Fatalf("agent download: %d\n%s%s", code, out, errOut)
				}
				got = filepath.Join(dest, "source.bin")
			} else {
				c := client.New(s.p.url)
				u, err := url.Parse(link)
				if err != nil {
					t.Fatal(err)
				}
				opened, err := c.OpenLink(ctx, path.Base(u.Path), u.Query().Get("secret"), "")
				if err != nil {
					t.Fatal(err)
				}
				files, err := c.Files(ctx, opened.PackageToken, opened.PackageID)
				if err != nil {
					t.Fatal(err)
				}
				got = filepath.Join(dest, "source.bin")
				out, err := os.Create(got)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Download(ctx, opened.PackageToken, opened.PackageID, files[0], out, client.DownloadOptions{}); err != nil {
					t.Fatal(err)
				}
				out.Close()
			}
			fig(who + " download").Add(float64(size) / time.Since(start).Seconds() / 1e9)
			if info, err := os.Stat(got); err != nil || info.Size() != size {
				t.Fatalf("%s download: %v %v", who, info, err)
			}
			s.close(t)
			os.RemoveAll(dest)
		}
	}
	var out strings.Builder
	note := ""
	if !dropped {
		note = " (could not drop the page cache: not root)"
	}
	fmt.Fprintf(&out, "\nthe agent against client/ directly, %d MiB file on disk, 4 connections, a fresh server each run%s, 3 alternating runs (GB/s: median [spread])\n", size>>20, note)
	for _, name := range []string{"agent upload", "client upload", "agent download", "client download"} {
		f := figs[name]
		fmt.Fprintf(&out, "  %-18s %6.2f  [%3.0f%%]  runs %s\n", f.Name, f.Med(), 100*f.Spread(), f.RunsString())
	}
	for _, dir := range []string{"upload", "download"} {
		r := figs["agent "+dir].Med() / figs["client "+dir].Med()
		fmt.Fprintf(&out, "  %-40s %5.2f  (target ≥ 0.9)  %s\n", "agent "+dir+" / client "+dir, r, targetMark(r >= 0.9, "BELOW TARGET"))
	}
	fmt.Print(out.String())
}
