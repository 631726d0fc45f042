package httpd_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"haul/core"
)

// upload is one file being uploaded through the API, driven by the tests
// below with the harness's helpers.
type upload struct {
	e                 *env
	pid, ptok, fid    string
	uploadID          string
	data              []byte
	chunk             int
	createURL, method string
}

// newPackage creates a package as cr and returns its id and token.
func (e *env) newPackage(cr cred, name string) (string, string) {
	e.t.Helper()
	m := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/packages", map[string]any{"name": name}, cr).Map(e.t)
	return m["id"].(string), m["access_token"].(string)
}

// addFile adds a file of data to the package and starts its upload.
func (e *env) addFile(pid, ptok, name string, data []byte, chunk int) *upload {
	e.t.Helper()
	m := e.must(201, "POST", "/v1/packages/"+pid+"/files", map[string]any{"kind": "file", "name": name, "path": "",
		"size": len(data), "chunk_size": chunk}, header("X-Package-Token", ptok)).Map(e.t)
	u := &upload{e: e, pid: pid, ptok: ptok, fid: m["file"].(map[string]any)["id"].(string), data: data, chunk: chunk}
	bp := m["create_blueprint"].(map[string]any)
	u.createURL = bp["url"].(string)
	r := e.raw("POST", u.createURL, nil, -2)
	if r.Status != 200 {
		e.t.Fatalf("create upload: %d %s", r.Status, r.Body)
	}
	var x struct {
		UploadID string `xml:"UploadId"`
	}
	if err := xml.Unmarshal(r.Body, &x); err != nil || x.UploadID == "" {
		e.t.Fatalf("InitiateMultipartUploadResult: %v %s", err, r.Body)
	}
	u.uploadID = x.UploadID
	return u
}

// raw sends a request to an absolute URL; size is the Content-Length to
// announce (-1: chunked, -2: that of body).
func (e *env) raw(method, url string, body []byte, size int64, creds ...cred) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	if size == -1 {
		rd = io.MultiReader(bytes.NewReader(body)) // hides the length: chunked
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if size == -1 {
		req.ContentLength = -1
	}
	for _, c := range creds {
		c.set(req.Header)
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

func (u *upload) tok() cred { return header("X-Package-Token", u.ptok) }

// partURLs returns the PUT URLs of parts start+1..start+count.
func (u *upload) partURLs(start, count int) []string {
	u.e.t.Helper()
	var bps []core.Blueprint
	u.e.must(200, "POST", fmt.Sprintf("/v1/packages/%s/files/%s?start=%d&count=%d", u.pid, u.fid, start, count),
		map[string]string{"upload_id": u.uploadID}, u.tok()).JSON(u.e.t, &bps)
	out := make([]string, len(bps))
	for i, bp := range bps {
		if bp.Method != "PUT" {
			u.e.t.Fatalf("part blueprint method %q", bp.Method)
		}
		out[i] = bp.URL
	}
	return out
}

// part returns the bytes of part n (from 1).
func (u *upload) part(n int) []byte {
	return u.data[(n-1)*u.chunk : min(n*u.chunk, len(u.data))]
}

func (u *upload) parts() int { return max(1, (len(u.data)+u.chunk-1)/u.chunk) }

// put uploads part n and returns its ETag.
func (u *upload) put(url string, n int) string {
	u.e.t.Helper()
	r := u.e.raw("PUT", url, u.part(n), -2)
	if r.Status != 200 || r.Header.Get("ETag") == "" {
		u.e.t.Fatalf("PUT part %d: %d %s", n, r.Status, r.Body)
	}
	return r.Header.Get("ETag")
}

// uploadURLs returns the ListParts and Abort URLs.
func (u *upload) uploadURLs() core.UploadBlueprints {
	u.e.t.Helper()
	var out core.UploadBlueprints
	u.e.must(200, "GET", "/v1/packages/"+u.pid+"/files/"+u.fid+"/uploads/"+u.uploadID, nil, u.tok()).JSON(u.e.t, &out)
	return out
}

type listedPart struct {
	PartNumber int
	ETag       string
	Size       int64
}

func (u *upload) listParts() []listedPart {
	u.e.t.Helper()
	bp := u.uploadURLs().ListParts
	r := u.e.raw(bp.Method, bp.URL, nil, -2)
	if r.Status != 200 {
		u.e.t.Fatalf("ListParts: %d %s", r.Status, r.Body)
	}
	var x struct {
		XMLName xml.Name
		Parts   []listedPart `xml:"Part"`
	}
	if err := xml.Unmarshal(r.Body, &x); err != nil || x.XMLName.Local != "ListPartsResult" {
		u.e.t.Fatalf("ListPartsResult: %v %s", err, r.Body)
	}
	return x.Parts
}

// finalize finalizes the file with the given ETags (part i+1 = etags[i]).
func (u *upload) finalize(etags []string, size int) resp {
	u.e.t.Helper()
	var extras []map[string]any
	for i, et := range etags {
		extras = append(extras, map[string]any{"partNumber": fmt.Sprint(i + 1), "etag": et})
	}
	return u.e.do("POST", "/v1/packages/"+u.pid+"/files/"+u.fid+"/finalize", map[string]any{"chunk_extras": extras,
		"file_extras": map[string]string{"upload_id": u.uploadID}, "size": size}, u.tok())
}

func (u *upload) wantDigest() string {
	h := blake3.Sum256(u.data)
	return hex.EncodeToString(h[:])
}

// logical returns the chunk store's logical bytes (references × length).
func (e *env) logical() int64 {
	e.t.Helper()
	st, err := e.Svc.ChunkStats(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return st.LogicalBytes
}

// TestUploadResume uploads parts 1 and 2, sees them in ListParts, asks for
// the URLs of the rest, re-sends parts (idempotent, replacing), and gets
// the right digest with no reference left over.
func TestUploadResume(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "resume")
	u := e.addFile(pid, ptok, "big.bin", randomData(2, 4*testChunk+5000), testChunk)

	urls := u.partURLs(0, 2)
	etags := []string{u.put(urls[0], 1), u.put(urls[1], 2)}
	ps := u.listParts()
	if len(ps) != 2 || ps[0].PartNumber != 1 || ps[1].PartNumber != 2 || ps[0].ETag != etags[0] || ps[1].Size != testChunk {
		t.Fatalf("ListParts after 2 parts = %+v (etags %v)", ps, etags)
	}

	// The client "crashed": it asks for the URLs of the parts it lacks.
	rest := u.partURLs(2, 100) // shortened to the file's 5 parts
	if len(rest) != 3 {
		t.Fatalf("part URLs from 3: %d, want 3", len(rest))
	}
	for i, url := range rest {
		etags = append(etags, u.put(url, i+3))
	}

	// Re-sending a part gives the same ETag and holds no extra reference;
	// a different body replaces it.
	before := e.logical()
	if again := u.put(urls[0], 1); again != etags[0] {
		t.Errorf("re-sent part 1: ETag %s, want %s", again, etags[0])
	}
	if after := e.logical(); after != before {
		t.Errorf("re-sending part 1 changed logical bytes %d → %d", before, after)
	}
	other := randomData(3, testChunk)
	r := e.raw("PUT", urls[0], other, -2)
	if r.Status != 200 || r.Header.Get("ETag") == etags[0] {
		t.Fatalf("replacing part 1: %d, ETag %s", r.Status, r.Header.Get("ETag"))
	}
	if got := u.finalize(etags, len(u.data)); got.Status != 400 || !strings.Contains(got.ErrMsg(t), "part 1: the ETag") {
		t.Errorf("finalize with the replaced part's old ETag: %d %s", got.Status, got.Body)
	}
	u.put(urls[0], 1) // back to the real bytes
	if n := e.logical(); n != int64(len(u.data)) {
		t.Errorf("logical bytes before finalize = %d, want %d", n, len(u.data))
	}

	f := u.finalize(etags, len(u.data))
	if f.Status != 200 || f.Map(t)["digest"] != u.wantDigest() {
		t.Fatalf("finalize: %d %s, want digest %s", f.Status, f.Body, u.wantDigest())
	}
	if again := u.finalize(etags, len(u.data)); again.Status != 200 {
		t.Errorf("finalizing again: %d %s", again.Status, again.Body)
	}
	if n := e.logical(); n != int64(len(u.data)) {
		t.Errorf("logical bytes after finalize = %d, want %d", n, len(u.data))
	}
	// The parts passed to the file: the upload is gone.
	if r := e.do("GET", "/v1/packages/"+pid+"/files/"+u.fid+"/uploads/"+u.uploadID, nil, u.tok()); r.Status != 409 {
		t.Errorf("upload URLs after finalize: %d %s", r.Status, r.Body)
	}

	// Abort of another file's upload releases its parts.
	v := e.addFile(pid, ptok, "dropped.bin", randomData(4, 2*testChunk), testChunk)
	vurls := v.partURLs(0, 2)
	v.put(vurls[0], 1)
	abort := v.uploadURLs().Abort
	if r := e.raw(abort.Method, abort.URL, nil, -2); r.Status != 204 {
		t.Fatalf("abort: %d %s", r.Status, r.Body)
	}
	if n := e.logical(); n != int64(len(u.data)) {
		t.Errorf("logical bytes after abort = %d, want %d", n, len(u.data))
	}
	if r := e.raw("PUT", vurls[1], v.part(2), -2); r.Status != 404 || s3ErrorCode(t, r.Body) != "NoSuchUpload" {
		t.Errorf("PUT to an aborted upload: %d %s", r.Status, r.Body)
	}
	// Finalizing the package names the unfinished file.
	r = e.do("POST", "/v1/packages/"+pid+"/finalize", nil, u.tok())
	if r.Status != 409 || !strings.Contains(r.ErrMsg(t), "dropped.bin") {
		t.Errorf("finalize package with an unfinished file: %d %s", r.Status, r.Body)
	}

	// Removing files: the aborted one, and a finalized one (its size
	// leaves the package's) whose bytes another file still shares.
	e.must(204, "DELETE", "/v1/packages/"+pid+"/files/"+v.fid, nil, u.tok())
	twin := e.addFile(pid, ptok, "twin.bin", u.data, testChunk)
	var twinTags []string
	for i, url := range twin.partURLs(0, 5) {
		twinTags = append(twinTags, twin.put(url, i+1))
	}
	if r := twin.finalize(twinTags, len(u.data)); r.Status != 200 {
		t.Fatalf("finalize twin: %d %s", r.Status, r.Body)
	}
	e.must(204, "DELETE", "/v1/packages/"+pid+"/files/"+twin.fid, nil, u.tok())
	if n := e.logical(); n != int64(len(u.data)) {
		t.Errorf("logical bytes after removing the twin = %d, want %d", n, len(u.data))
	}
	var left []map[string]any
	e.must(200, "GET", "/v1/packages/"+pid+"/files", nil, u.tok()).JSON(t, &left)
	if len(left) != 1 || left[0]["name"] != "big.bin" {
		t.Errorf("files after removals = %v", left)
	}
	if r := e.do("DELETE", "/v1/packages/"+pid+"/files/"+twin.fid, nil, u.tok()); r.Status != 404 {
		t.Errorf("removing a removed file: %d %s", r.Status, r.Body)
	}

	// Deleting the package releases the finalized file's blocks and the
	// parts of unfinished uploads (in many small transactions: the
	// harness releases 5 blocks per transaction).
	w := e.addFile(pid, ptok, "half.bin", randomData(11, 3*testChunk), testChunk)
	wurls := w.partURLs(0, 3)
	w.put(wurls[0], 1)
	w.put(wurls[2], 3)
	e.must(204, "DELETE", "/v1/packages/"+pid, nil, u.tok())
	if n := e.logical(); n != 0 {
		t.Errorf("logical bytes after delete = %d, want 0", n)
	}
	e.must(204, "DELETE", "/v1/packages/"+pid, nil, u.tok())
	if r := e.raw("PUT", wurls[1], w.part(2), -2); r.Status != 403 || s3ErrorCode(t, r.Body) != "AccessDenied" {
		t.Errorf("PUT into a deleted package: %d %s", r.Status, r.Body)
	}
	if r := e.do("GET", "/v1/packages/"+pid+"/files", nil, u.tok()); r.Status != 410 {
		t.Errorf("files of a deleted package: %d %s", r.Status, r.Body)
	}
}

// TestUploadCORS checks that browsers may call the package routes and the
// data plane and read ETags.
func TestUploadCORS(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/s3/01ARZ3NDEKTSV4RRFFQ69G5FAV/01ARZ3NDEKTSV4RRFFQ69G5FAW?partNumber=1", "/v1/packages/01ARZ3NDEKTSV4RRFFQ69G5FAV/files"} {
		req, _ := http.NewRequest("OPTIONS", e.URL+path, nil)
		req.Header.Set("Origin", "https://uploader.example")
		req.Header.Set("Access-Control-Request-Method", "PUT")
		req.Header.Set("Access-Control-Request-Headers", "x-package-token, content-type")
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		if res.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-Package-Token") ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PUT") || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "ETag") {
			t.Errorf("preflight %s: %d %v", path, res.StatusCode, h)
		}
	}
	if r := e.do("GET", "/v1/system/packages/spec", nil); r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("spec without CORS: %v", r.Header)
	}
	if r := e.do("GET", "/v1/teams", nil); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("team routes must not allow cross-origin calls: %v", r.Header)
	}
}

// signed returns a data-plane URL signed by the server's keyring, for
// requests the API would never hand out.
func (u *upload) signed(method string, q neturl.Values, exp time.Time) string {
	path := core.DataPath(u.pid, u.fid)
	return u.e.URL + path + "?" + u.e.Svc.Keys().SignURL(method, path, q, exp, time.Now())
}

// shortPut sends part n announcing its full length but only half of it,
// then hangs up.
func (u *upload) shortPut(url string, n int) {
	u.e.t.Helper()
	pu, err := neturl.Parse(url)
	if err != nil {
		u.e.t.Fatal(err)
	}
	conn, err := net.Dial("tcp", pu.Host)
	if err != nil {
		u.e.t.Fatal(err)
	}
	body := u.part(n)
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", pu.RequestURI(), pu.Host, len(body))
	conn.Write(body[:len(body)/2])
	conn.(*net.TCPConn).CloseWrite()
	// The server answers (an error) or just closes; either way nothing may
	// be stored.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if strings.Contains(line, " 200 ") {
		u.e.t.Errorf("short body answered %q", line)
	}
	conn.Close()
}

// slowReader yields its data in pieces with pauses in between.
type slowReader struct {
	data  []byte
	piece int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	n := copy(p[:min(len(p), s.piece)], s.data)
	s.data = s.data[n:]
	return n, nil
}

// TestSlowPartOutlivesReadTimeout: a part that takes longer than the
// server's read timeout but keeps making progress is stored.
func TestSlowPartOutlivesReadTimeout(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.config.ReadTimeout = 500 * time.Millisecond })
	o := e.owner()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "slow")
	u := e.addFile(pid, ptok, "slow.bin", randomData(10, 100_000), testChunk)
	url := u.partURLs(0, 1)[0]
	req, _ := http.NewRequest("PUT", url, &slowReader{data: u.part(1), piece: 8 << 10, pause: 100 * time.Millisecond})
	req.ContentLength = int64(len(u.data))
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("slow part: %d %s", res.StatusCode, b)
	}
	if r := u.finalize([]string{res.Header.Get("ETag")}, len(u.data)); r.Status != 200 || r.Map(t)["digest"] != u.wantDigest() {
		t.Errorf("finalize: %d %s", r.Status, r.Body)
	}
}
