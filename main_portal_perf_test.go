//go:build !race

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"haul/client"
	"haul/store/chunk/chunktest"
)

// The portal upload figure of the portals issue, measured by `make bench`
// (HAUL_BENCH=1) against haul serve in a child process with the default
// storage geometry, over loopback HTTP:
//
//	first   HAUL_BENCH_MIB (default 1024 here) MiB of new seeded data as one file into a package
//	        created through an active portal without access code (POST /v1/portals/{id}/packages),
//	        uploaded with the portal sender's token (4 parts in flight), file and package finalized
//	second  the same bytes again through the portal into a new package: every block is stored
//	        already (dedup), so nothing new is written
//
// Three pairs, each on a fresh server with a fresh seed (the first of each
// pair is really new); the figure is the median of second / first.

// portalBenchSize is HAUL_BENCH_MIB, 1 GiB by default.
func portalBenchSize() int64 {
	if v, err := strconv.ParseInt(os.Getenv("HAUL_BENCH_MIB"), 10, 64); err == nil && v > 0 {
		return v << 20
	}
	return 1 << 30
}

// portalBenchCall sends a JSON request with the bench owner's user token
// (or none) and decodes the answer into out.
func portalBenchCall(t *testing.T, b *benchServer, auth bool, method, path string, in, out any, want int) {
	t.Helper()
	body, _ := json.Marshal(in)
	req, err := http.NewRequest(method, b.p.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth {
		req.Header.Set("X-User-Token", b.c.UserToken)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, raw, err)
		}
	}
}

// portalBenchPortal creates an active portal without access code and
// returns its id.
func portalBenchPortal(t *testing.T, b *benchServer) string {
	t.Helper()
	var pt struct{ ID string }
	portalBenchCall(t, b, true, "POST", "/v1/teams/"+b.teamID+"/portals", map[string]any{"name": "Bench portal", "subdomain": "bench-drop",
		"active": true, "recipients": []string{"producer@studio.example"}}, &pt, 201)
	return pt.ID
}

// portalUpload sends src through the portal into a new package (created
// without credentials, as an outside sender) and returns the file's digest
// and the seconds from creating the package to finalizing it.
func portalUpload(t *testing.T, b *benchServer, portalID, name string, src *genData) (string, float64, error) {
	ctx := context.Background()
	start := time.Now()
	var pkg client.Package
	portalBenchCall(t, b, false, "POST", "/v1/portals/"+portalID+"/packages", map[string]any{"name": name, "sender": "vendor@elsewhere.example"}, &pkg, 201)
	f, err := b.c.UploadFile(ctx, pkg.AccessToken, pkg.ID, name, "", src, src.size, 0, 4)
	if err != nil {
		return "", 0, err
	}
	if _, err := b.c.FinalizePackage(ctx, pkg.AccessToken, pkg.ID); err != nil {
		return "", 0, err
	}
	return f.Digest, time.Since(start).Seconds(), nil
}

// portalBenchPhysical returns the chunk store's physical bytes.
func portalBenchPhysical(t *testing.T, b *benchServer) int64 {
	t.Helper()
	var st struct {
		PhysicalBytes int64 `json:"physical_bytes"`
	}
	portalBenchCall(t, b, true, "GET", "/v1/system/storage", nil, &st, 200)
	return st.PhysicalBytes
}

func TestPortalPerformance(t *testing.T) {
	if os.Getenv("HAUL_BENCH") == "" {
		t.Skip("set HAUL_BENCH=1 (make bench) to measure portal uploads")
	}
	size := portalBenchSize()
	base := t.TempDir()
	var out strings.Builder
	began := time.Now()
	first, second := &chunktest.Figure{Name: "first (new data)"}, &chunktest.Figure{Name: "second (same data)"}
	var ratios []float64
	var maxGrowth int64
	for pair := range 3 {
		src := newGenData(uint64(300+pair), size)
		want := hexDigest(src)
		s := startBenchServer(t, filepath.Join(base, fmt.Sprint("data", pair)))
		portal := portalBenchPortal(t, s)
		got, secs1, err := portalUpload(t, s, portal, fmt.Sprintf("first-%d.bin", pair), src)
		if err != nil {
			t.Fatalf("first upload, pair %d: %v\nserver log:\n%s", pair, err, s.p.stderr.String())
		}
		if got != want {
			t.Fatalf("first upload, pair %d: digest %s, want %s", pair, got, want)
		}
		phys := portalBenchPhysical(t, s)
		got, secs2, err := portalUpload(t, s, portal, fmt.Sprintf("second-%d.bin", pair), src)
		if err != nil {
			t.Fatalf("second upload, pair %d: %v\nserver log:\n%s", pair, err, s.p.stderr.String())
		}
		if got != want {
			t.Fatalf("second upload, pair %d: digest %s, want %s", pair, got, want)
		}
		maxGrowth = max(maxGrowth, portalBenchPhysical(t, s)-phys)
		first.Add(float64(size) / secs1 / 1e9)
		second.Add(float64(size) / secs2 / 1e9)
		ratios = append(ratios, secs1/secs2)
		s.close(t)
	}
	fmt.Fprintf(&out, "\nportal uploads through haul serve over loopback HTTP, %d MiB, 4 parts in flight, 3 pairs (GB/s: median [spread])\n", size>>20)
	for _, f := range []*chunktest.Figure{first, second} {
		fmt.Fprintf(&out, "  %-22s %6.2f  [%3.0f%%]  runs %s\n", f.Name, f.Med(), 100*f.Spread(), f.RunsString())
	}
	rs := slices.Clone(ratios)
	slices.Sort(rs)
	med := rs[len(rs)/2]
	mark := "ok"
	if med < 1.5 {
		mark = "BELOW TARGET"
	}
	runs := make([]string, len(ratios))
	for i, r := range ratios {
		runs[i] = strconv.FormatFloat(r, 'f', 2, 64)
	}
	fmt.Fprintf(&out, "  %-44s %5.2f  (target ≥ 1.50)  %s  pairs %s\n", "second / first (median of pairs)", med, mark, strings.Join(runs, " "))
	fmt.Fprintf(&out, "  %-44s %d MiB (of %d MiB sent)\n", "physical bytes written by a second (worst)", maxGrowth>>20, size>>20)
	fmt.Fprintf(&out, "  (bench took %v)\n", time.Since(began).Round(time.Second))
	fmt.Print(out.String())
}
