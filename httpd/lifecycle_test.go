package httpd_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"haul/core"
)

// fitsAll is a free-space check that always passes (a test declaring
// sizes no temp disk holds).
type fitsAll struct{}

func (fitsAll) CanFit(int64) error { return nil }

// declare adds a file of declared size to a package (no upload started).
func (e *env) declare(pid, ptok, name string, size, chunk int64) resp {
	e.t.Helper()
	return e.do("POST", "/v1/packages/"+pid+"/files", map[string]any{"kind": "file", "name": name, "size": size, "chunk_size": chunk},
		header("X-Package-Token", ptok))
}

// physical returns the chunk store's bytes in segment files.
func (e *env) physical() int64 {
	e.t.Helper()
	st, err := e.Svc.ChunkStats(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return st.PhysicalBytes
}

// TestSpaceReservations: with the real chunk store's free-space check, two
// declarations that fit alone but not together: the second gets 507
// before any byte moves, and fits once the first is deleted. The team's
// quota refuses a declaration over it, naming the quota. A new Service
// over the same store recomputes the reservations.
func TestSpaceReservations(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	ctx := context.Background()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "space")

	t.Run("free space", func(t *testing.T) {
		e := e.as(t)
		st, err := e.Chunks.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// What the store lets fill: free less its reserve (1 % of the
		// disk, at least 256 MiB). At 4+2 shards a declaration takes 1.5 ×
		// its size (plus headers): 40 % of the room each is 60 % alone
		// and 120 % together.
		avail := st.FreeBytes - max(256<<20, st.CapacityBytes/100)
		if avail < 64<<20 {
			t.Skipf("the temp disk has only %d bytes above the chunk store's reserve", avail)
		}
		size := avail * 4 / 10
		chunk := max((size/10000+(1<<20))&^((1<<20)-1), 64<<10)
		before := e.physical()
		r := e.declare(pid, ptok, "first.bin", size, chunk)
		if r.Status != 201 {
			t.Fatalf("first declaration of %d bytes: %d %s", size, r.Status, r.Body)
		}
		first := r.Map(t)["file"].(map[string]any)["id"].(string)
		r = e.declare(pid, ptok, "second.bin", size, chunk)
		if r.Status != 507 {
			t.Fatalf("second declaration: %d %s, want 507", r.Status, r.Body)
		}
		if msg := r.ErrMsg(t); !strings.Contains(msg, "insufficient storage") || !strings.Contains(msg, "reserved") || !strings.Contains(msg, "try again") {
			t.Errorf("507 message does not say what to do: %q", msg)
		}
		if got := e.physical(); got != before {
			t.Errorf("bytes moved for a refused declaration: physical %d → %d", before, got)
		}
		u, err := e.Svc.Reserved(ctx, e.TeamID)
		if err != nil || u.Files != 1 || u.Bytes != size {
			t.Errorf("reservations after the refusal: %+v %v, want one of %d", u, err, size)
		}
		e.must(204, "DELETE", "/v1/packages/"+pid+"/files/"+first, nil, header("X-Package-Token", ptok))
		if u, _ := e.Svc.Reserved(ctx, e.TeamID); u.Files != 0 {
			t.Errorf("reservation kept after the file's deletion: %+v", u)
		}
		r = e.declare(pid, ptok, "second.bin", size, chunk)
		if r.Status != 201 {
			t.Fatalf("second declaration after deleting the first: %d %s", r.Status, r.Body)
		}
		e.must(204, "DELETE", "/v1/packages/"+pid+"/files/"+r.Map(t)["file"].(map[string]any)["id"].(string), nil, header("X-Package-Token", ptok))
	})

	t.Run("quota", func(t *testing.T) {
		e := e.as(t)
		team := e.must(200, "PUT", "/v1/teams/"+e.TeamID, map[string]any{"storage_quota_bytes": 1 << 20}, apiKey(o.APIKey)).Map(t)
		if team["storage_quota_bytes"] != float64(1<<20) {
			t.Fatalf("team view: %v", team)
		}
		if r := e.do("PUT", "/v1/teams/"+e.TeamID, map[string]any{"storage_quota_bytes": -1}, apiKey(o.APIKey)); r.Status != 400 || r.errField(t) != "storage_quota_bytes" {
			t.Errorf("negative quota: %d %s", r.Status, r.Body)
		}
		r := e.declare(pid, ptok, "two-mib.bin", 2<<20, testChunk)
		if r.Status != 507 || !strings.Contains(r.ErrMsg(t), "storage_quota_bytes") {
			t.Fatalf("2 MiB under a 1 MiB quota: %d %s", r.Status, r.Body)
		}
		// Uploaded and finalized bytes count; so do reservations.
		data := randomData(41, 600<<10)
		u := e.addFile(pid, ptok, "stored.bin", data, testChunk)
		var etags []string
		for i, url := range u.partURLs(0, u.parts()) {
			etags = append(etags, u.put(url, i+1))
		}
		if r := u.finalize(etags, len(data)); r.Status != 200 {
			t.Fatalf("finalize: %d %s", r.Status, r.Body)
		}
		if r := e.declare(pid, ptok, "over.bin", 500<<10, testChunk); r.Status != 507 || !strings.Contains(r.ErrMsg(t), "storage_quota_bytes") {
			t.Errorf("600 KiB stored + 500 KiB under 1 MiB: %d %s", r.Status, r.Body)
		}
		r = e.declare(pid, ptok, "fits.bin", 400<<10, testChunk)
		if r.Status != 201 {
			t.Fatalf("600 KiB stored + 400 KiB under 1 MiB: %d %s", r.Status, r.Body)
		}
		if r := e.declare(pid, ptok, "one-more.bin", 100<<10, testChunk); r.Status != 507 {
			t.Errorf("the reservation does not count against the quota: %d %s", r.Status, r.Body)
		}

		// A restart recomputes the reservation (the file is new with a
		// declared size).
		fresh := core.NewService(core.Deps{Store: e.Meta, Chunks: e.Chunks})
		if err := fresh.LoadReservations(ctx); err != nil {
			t.Fatal(err)
		}
		if u, err := fresh.Reserved(ctx, e.TeamID); err != nil || u.Files != 1 || u.Bytes != 400<<10 {
			t.Errorf("reservations after a restart: %+v %v, want fits.bin's 400 KiB", u, err)
		}
		e.must(200, "PUT", "/v1/teams/"+e.TeamID, map[string]any{"storage_quota_bytes": 0}, apiKey(o.APIKey))
		if r := e.declare(pid, ptok, "unlimited.bin", 2<<20, testChunk); r.Status != 201 {
			t.Errorf("quota 0 (none): %d %s", r.Status, r.Body)
		}
	})
}

// TestPackageExpiry: a finalized package past its expiry turns expired,
// its blocks' references are released (logical bytes drop to zero), the
// reservations of an expired new package go, a package.expired event is
// recorded, and adding or listing files is refused.
func TestPackageExpiry(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	ctx := context.Background()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "to expire")
	data := randomData(42, 3*testChunk+5)
	u := e.addFile(pid, ptok, "clip.mov", data, testChunk)
	var etags []string
	for i, url := range u.partURLs(0, u.parts()) {
		etags = append(etags, u.put(url, i+1))
	}
	if r := u.finalize(etags, len(data)); r.Status != 200 {
		t.Fatalf("finalize: %d %s", r.Status, r.Body)
	}
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, u.tok())
	// A second package, still new, with a part uploaded and a reservation.
	pid2, ptok2 := e.newPackage(apiKey(o.APIKey), "unfinished")
	u2 := e.addFile(pid2, ptok2, "half.bin", randomData(43, 2*testChunk), testChunk)
	u2urls := u2.partURLs(0, 2)
	u2.put(u2urls[0], 1)
	if e.logical() == 0 {
		t.Fatal("nothing stored")
	}
	if n, err := e.Svc.ExpirePackages(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("expiring before the expiry: %d %v", n, err)
	}
	if n, err := e.Svc.ExpirePackages(ctx, time.Now().Add(31*24*time.Hour)); err != nil || n != 2 {
		t.Fatalf("ExpirePackages = %d, %v; want 2", n, err)
	}
	if got := e.logical(); got != 0 {
		t.Errorf("logical bytes after expiry = %d, want 0", got)
	}
	if res, _ := e.Svc.Reserved(ctx, e.TeamID); res.Files != 0 {
		t.Errorf("reservations after expiry: %+v", res)
	}
	for _, p := range []string{pid, pid2} {
		m := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+p, nil, apiKey(o.APIKey)).Map(t)
		if m["state"] != "expired" {
			t.Errorf("package %s state %v, want expired", p, m["state"])
		}
	}
	if r := e.declare(pid2, ptok2, "late.bin", 10, testChunk); r.Status != 410 {
		t.Errorf("adding a file to an expired package: %d %s", r.Status, r.Body)
	}
	if r := e.do("GET", "/v1/packages/"+pid+"/files", nil, u.tok()); r.Status != 410 {
		t.Errorf("listing an expired package's files: %d %s", r.Status, r.Body)
	}
	if r := e.raw("PUT", u2urls[1], u2.part(2), -2); r.Status != 403 {
		t.Errorf("uploading a part to an expired package: %d %s", r.Status, r.Body)
	}
	var page struct {
		Records []struct {
			Type     string `json:"type"`
			TargetID string `json:"target_id"`
		} `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/events?types[]="+core.EvPackageExpired, nil, userToken(o.Token)).JSON(t, &page)
	if len(page.Records) != 2 {
		t.Errorf("package.expired events: %+v", page.Records)
	}
	// A second pass finds nothing more to do.
	if n, err := e.Svc.ExpirePackages(ctx, time.Now().Add(31*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("second pass: %d %v", n, err)
	}
}

// TestAbandonedUploads: parts are uploaded, the clock moves past
// abandoned_upload_hours, CleanAbandonedUploads releases them and resets
// the upload (ListParts finds no upload, no reference is left, the
// reservation is gone), and a client coming back starts a new upload.
func TestAbandonedUploads(t *testing.T) {
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	e := newEnv(t, func(o *envOptions) { o.now = clock })
	o := e.owner()
	ctx := context.Background()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "abandoned")
	data := randomData(44, 3*testChunk)
	u := e.addFile(pid, ptok, "left.bin", data, testChunk)
	urls := u.partURLs(0, 3)
	u.put(urls[0], 1)
	u.put(urls[1], 2)
	list := u.uploadURLs().ListParts
	if e.logical() == 0 || len(u.listParts()) != 2 {
		t.Fatal("parts not stored")
	}
	if res, _ := e.Svc.Reserved(ctx, e.TeamID); res.Files != 1 || res.Pending != int64(testChunk) {
		t.Errorf("reservation with two of three parts stored: %+v", res)
	}
	const maxAge = 48 * time.Hour
	offset.Store(int64(47 * time.Hour))
	if n, err := e.Svc.CleanAbandonedUploads(ctx, clock(), maxAge); err != nil || n != 0 {
		t.Fatalf("cleaning after 47 h: %d %v", n, err)
	}
	offset.Store(int64(49 * time.Hour))
	if n, err := e.Svc.CleanAbandonedUploads(ctx, clock(), maxAge); err != nil || n != 1 {
		t.Fatalf("cleaning after 49 h: %d %v, want 1", n, err)
	}
	if got := e.logical(); got != 0 {
		t.Errorf("logical bytes after cleaning = %d, want 0", got)
	}
	if r := e.raw(list.Method, list.URL, nil, -2); r.Status != 404 || !strings.Contains(string(r.Body), "NoSuchUpload") {
		t.Errorf("ListParts of the abandoned upload: %d %s", r.Status, r.Body)
	}
	err := e.Meta.View(ctx, func(tx core.Tx) error {
		parts, err := tx.UploadParts(u.uploadID)
		if len(parts) != 0 {
			t.Errorf("%d parts left", len(parts))
		}
		f, ferr := tx.File(u.fid)
		if ferr != nil {
			return ferr
		}
		if f.State != core.FileNew || f.UploadID != "" || !f.Abandoned {
			t.Errorf("file after cleaning: state %s upload %q abandoned %v", f.State, f.UploadID, f.Abandoned)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := e.Svc.Reserved(ctx, e.TeamID); res.Files != 0 {
		t.Errorf("reservation after cleaning: %+v", res)
	}
	if r := e.raw("PUT", urls[2], u.part(3), -2); r.Status != 404 || !strings.Contains(string(r.Body), "NoSuchUpload") {
		t.Errorf("a part for the abandoned upload: %d %s", r.Status, r.Body)
	}
	// A restart does not bring the reservation back.
	fresh := core.NewService(core.Deps{Store: e.Meta, Chunks: e.Chunks})
	if res, _ := fresh.Reserved(ctx, e.TeamID); res.Files != 0 {
		t.Errorf("reservation recomputed for an abandoned file: %+v", res)
	}
	// The client comes back: a new upload, reserved again, completes.
	r := e.raw("POST", u.createURL, nil, -2)
	if r.Status != 200 || strings.Contains(string(r.Body), u.uploadID) {
		t.Fatalf("new upload: %d %s", r.Status, r.Body)
	}
	if res, _ := e.Svc.Reserved(ctx, e.TeamID); res.Files != 1 {
		t.Errorf("reservation after restarting the upload: %+v", res)
	}
	u.uploadID = uploadIDOf(t, answer{status: r.Status, raw: r.Body})
	var etags []string
	for i, url := range u.partURLs(0, 3) {
		etags = append(etags, u.put(url, i+1))
	}
	if r := u.finalize(etags, len(data)); r.Status != 200 || !strings.Contains(string(r.Body), u.wantDigest()) {
		t.Fatalf("finalize after coming back: %d %s", r.Status, r.Body)
	}
	// A finalized file is never cleaned, however old its last part.
	offset.Store(int64(200 * time.Hour))
	if n, err := e.Svc.CleanAbandonedUploads(ctx, clock(), maxAge); err != nil || n != 0 {
		t.Errorf("cleaning a finalized file: %d %v", n, err)
	}
	if res, _ := e.Svc.Reserved(ctx, e.TeamID); res.Files != 0 {
		t.Errorf("reservation after finalize: %+v", res)
	}
}

// capacity is a free-space check of a store holding n more bytes.
type capacity int64

func (c capacity) CanFit(n int64) error {
	if n > int64(c) {
		return &core.Error{Op: "chunk.space", Kind: core.NoSpace, Msg: "insufficient storage (test capacity)"}
	}
	return nil
}

// TestSpaceReservationsConcurrent: declarations racing for room that
// holds three of them: exactly three get it.
func TestSpaceReservationsConcurrent(t *testing.T) {
	const size = 10 << 20
	e := newEnv(t, func(o *envOptions) { o.space = capacity(3*size + size/2) })
	o := e.owner()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "race")
	statuses := make(chan int, 10)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- e.declare(pid, ptok, fmt.Sprintf("f%d.bin", i), size, 1<<20).Status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[201] != 3 || count[507] != 7 {
		t.Errorf("statuses %v, want 3 × 201 and 7 × 507", count)
	}
	if u, _ := e.Svc.Reserved(context.Background(), e.TeamID); u.Files != 3 || u.Bytes != 3*size {
		t.Errorf("reservations %+v", u)
	}
}

// TestUndeclaredPartBesideReservations: a part of a file without a
// declared size (no reservation) must fit beside the reservations.
func TestUndeclaredPartBesideReservations(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.space = capacity(4 << 20) })
	o := e.owner()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "undeclared")
	u := e.addFileUndeclared(pid, ptok, "stream.bin")
	u.data, u.chunk = randomData(45, testChunk), testChunk
	url := u.partURLs(0, 1)[0]
	if r := e.declare(pid, ptok, "big.bin", 4<<20-testChunk/2, testChunk); r.Status != 201 {
		t.Fatalf("declaration: %d %s", r.Status, r.Body)
	}
	r := e.raw("PUT", url, u.part(1), -2)
	if r.Status != 507 || !strings.Contains(string(r.Body), "InsufficientStorage") || !strings.Contains(string(r.Body), "reserved") {
		t.Fatalf("undeclared part beside the reservation: %d %s", r.Status, r.Body)
	}
	if got := e.logical(); got != 0 {
		t.Errorf("logical bytes after the refusal: %d", got)
	}
}
