package httpd_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/zeebo/blake3"
)

// This file uploads the way a client written from MASV's documentation
// does (shared/reference/masv-api.md §4, §5): plain net/http, JSON into
// generic maps, blueprints replayed exactly, the UploadId pulled out of
// S3's XML. haul's test chunk store has 64 KiB blocks, and the harness
// lowers min_chunk_size so that parts are 256 KiB.

const testChunk = 256 << 10

// randomData returns n reproducible pseudo-random bytes.
func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// replay sends a blueprint (or any absolute URL) with body and headers.
func (s *masvScript) replay(method, url string, body io.Reader, hdr ...string) answer {
	s.t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return answer{method: method, path: url, status: res.StatusCode, header: res.Header, raw: raw}
}

// blueprintOf reads a blueprint object.
func blueprintOf(t *testing.T, what string, v any) (method, url string, headers map[string]any) {
	t.Helper()
	m, ok := v.(obj)
	if !ok {
		t.Fatalf("%s: want a blueprint object, got %v", what, v)
	}
	method, _ = m["method"].(string)
	url, _ = m["url"].(string)
	headers, _ = m["headers"].(obj)
	if method == "" || url == "" || headers == nil {
		t.Fatalf("%s: blueprint lacks method, url or headers: %v", what, m)
	}
	return method, url, headers
}

func hdrList(h map[string]any) []string {
	var out []string
	for k, v := range h {
		out = append(out, k, fmt.Sprint(v))
	}
	return out
}

// uploadIDOf pulls the UploadId out of InitiateMultipartUploadResult XML.
func uploadIDOf(t *testing.T, a answer) string {
	t.Helper()
	var r struct {
		XMLName  xml.Name
		Bucket   string
		Key      string
		UploadID string `xml:"UploadId"`
	}
	if err := xml.Unmarshal(a.raw, &r); err != nil || r.XMLName.Local != "InitiateMultipartUploadResult" || r.UploadID == "" {
		t.Fatalf("not an InitiateMultipartUploadResult: %v: %s", err, a.raw)
	}
	return r.UploadID
}

// s3ErrorCode returns the Code of an S3 XML error document.
func s3ErrorCode(t *testing.T, raw []byte) string {
	t.Helper()
	var e struct {
		XMLName xml.Name
		Code    string
		Message string
	}
	if err := xml.Unmarshal(raw, &e); err != nil || e.XMLName.Local != "Error" || e.Code == "" || e.Message == "" {
		t.Fatalf("not an S3 error document: %v: %s", err, raw)
	}
	return e.Code
}

func TestE2EMASVUpload(t *testing.T) { e2eMASVUpload(t, newEnv(t)) }

func e2eMASVUpload(t *testing.T, e *env) {
	s := &masvScript{t: t, base: e.URL, hc: &http.Client{}}
	tok, _, teamID := s.masvLogin(ownerEmail, ownerPassword)
	key := s.call("POST", "/v1/teams/"+teamID+"/api_keys", obj{"name": "uploader", "state": "active"}, "X-User-Token", tok).want(t, 201).object(t)["key"].(string)

	spec := s.call("GET", "/v1/system/packages/spec", nil).want(t, 200).object(t)
	hasKeys(t, "spec", spec, "max_chunk_count", "max_chunk_size", "min_chunk_size", "block_size")
	if spec["max_chunk_count"] != 10000.0 || spec["max_chunk_size"] != float64(5<<30) || spec["block_size"] != float64(64<<10) {
		t.Errorf("spec = %v", spec)
	}

	// §4.1: a team package, with an API key.
	pkg := s.call("POST", "/v1/teams/"+teamID+"/packages", obj{"name": "Dailies", "description": "day 3",
		"recipients": []string{"editor@post.example"}, "password": "", "access_limit": 5}, "X-API-KEY", key).want(t, 201).object(t)
	hasKeys(t, "package", pkg, "id", "name", "description", "sender", "access_token", "state", "created_at", "updated_at",
		"size", "total_files", "expiry", "access_limit", "contains_virus", "teamspace_id")
	if pkg["state"] != "new" || pkg["sender"] != ownerEmail || pkg["contains_virus"] != false || pkg["access_limit"] != 5.0 {
		t.Errorf("package = %v", pkg)
	}
	for _, k := range []string{"created_at", "updated_at", "expiry"} {
		if !masvTime.MatchString(pkg[k].(string)) {
			t.Errorf("package %s = %v, not MASV's time format", k, pkg[k])
		}
	}
	pid, ptok := pkg["id"].(string), pkg["access_token"].(string)

	// §5.2: add a file of 3.4 parts; its last part ends off any 1 KiB edge.
	data := randomData(1, 3*testChunk+100_003)
	add := s.call("POST", "/v1/packages/"+pid+"/files", obj{"kind": "file", "name": "clip.mov", "path": "reel 1/day 3",
		"last_modified": "2026-01-02T03:04:05.000Z", "size": len(data), "chunk_size": testChunk}, "X-Package-Token", ptok).want(t, 201).object(t)
	hasKeys(t, "add file", add, "file", "create_blueprint", "max_chunks_count", "max_chunk_size", "min_chunk_size")
	fid := sub(t, "add file", add, "file")["id"].(string)
	if add["max_chunks_count"] != 10000.0 {
		t.Errorf("max_chunks_count = %v", add["max_chunks_count"])
	}

	// §5.3: run the create blueprint exactly.
	if body, ok := add["create_blueprint"].(obj)["body"]; !ok || body != "" {
		t.Errorf("create_blueprint body = %v, want \"\"", body)
	}
	method, url, headers := blueprintOf(t, "create_blueprint", add["create_blueprint"])
	if method != "POST" || !strings.Contains(url, "?uploads&") {
		t.Errorf("create_blueprint = %s %s", method, url)
	}
	uploadID := uploadIDOf(t, s.replay(method, url, strings.NewReader(""), hdrList(headers)...).want(t, 200))

	// §5.4: every part URL at once.
	n := (len(data) + testChunk - 1) / testChunk
	parts := s.call("POST", fmt.Sprintf("/v1/packages/%s/files/%s?start=0&count=%d", pid, fid, n), obj{"upload_id": uploadID},
		"X-Package-Token", ptok).want(t, 200)
	var bps []any
	if err := json.Unmarshal(parts.raw, &bps); err != nil || len(bps) != n {
		t.Fatalf("part blueprints: %v: %s", err, parts.raw)
	}

	// §5.5: PUT each part, keep the ETags; then finalize the file with
	// every spelling clients use.
	var extras []obj
	for i, bp := range bps {
		method, url, headers := blueprintOf(t, "part", bp)
		if method != "PUT" || !strings.Contains(url, fmt.Sprintf("partNumber=%d", i+1)) || !strings.Contains(url, "uploadId="+uploadID) {
			t.Fatalf("part %d blueprint = %s %s", i+1, method, url)
		}
		chunk := data[i*testChunk : min((i+1)*testChunk, len(data))]
		a := s.replay(method, url, bytes.NewReader(chunk), append(hdrList(headers), "Content-Type", "application/binary")...).want(t, 200)
		etag := a.header.Get("ETag")
		if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
			t.Fatalf("part %d: ETag %q is not quoted", i+1, etag)
		}
		switch i % 3 {
		case 0:
			extras = append(extras, obj{"partNumber": fmt.Sprint(i + 1), "etag": etag})
		case 1:
			extras = append(extras, obj{"partNumber": i + 1, "etag": strings.Trim(etag, `"`)})
		case 2:
			extras = append(extras, obj{"part_number": i + 1, "etag": etag})
		}
	}
	fin := s.call("POST", "/v1/packages/"+pid+"/files/"+fid+"/finalize", obj{"chunk_extras": extras,
		"file_extras": obj{"upload_id": uploadID}, "size": len(data), "chunk_size": testChunk}, "X-Package-Token", ptok).want(t, 200).object(t)
	want := blake3.Sum256(data)
	if fin["digest"] != hex.EncodeToString(want[:]) || fin["size"] != float64(len(data)) {
		t.Errorf("finalized file = %v, want digest %x", fin, want)
	}

	// §5.6: finalize the package without a body.
	s.replay("POST", e.URL+"/v1/packages/"+pid+"/finalize", nil, "X-Package-Token", ptok).want(t, 200)

	// §6.3: the file list, with haul's digest (b3sum of the bytes).
	files := s.call("GET", "/v1/packages/"+pid+"/files", nil, "X-Package-Token", ptok).want(t, 200).array(t)
	// The file, then the zip of the package (MASV's zip_windows entry).
	if len(files) != 2 || files[1]["kind"] != "zip_windows" || files[1]["id"] != "zip" {
		t.Fatalf("files = %v", files)
	}
	hasKeys(t, "file", files[0], "id", "kind", "name", "path", "size", "last_modified", "virus_detected", "digest")
	f := files[0]
	if f["id"] != fid || f["kind"] != "file" || f["name"] != "clip.mov" || f["path"] != "reel 1/day 3" || f["size"] != float64(len(data)) ||
		f["virus_detected"] != false || f["digest"] != hex.EncodeToString(want[:]) || f["last_modified"] != "2026-01-02T03:04:05.000Z" {
		t.Errorf("file = %v", f)
	}

	// §4.4: the lists and the get show it finalized, with its size.
	list := s.call("GET", "/v1.1/teams/"+teamID+"/packages", nil, "X-API-KEY", key).want(t, 200).object(t)
	recs := arr(t, "packages", list, "records")
	if sub(t, "packages", list, "metadata")["total"] != 1.0 || len(recs) != 1 {
		t.Fatalf("packages = %v", list)
	}
	if r := recs[0].(obj); r["id"] != pid || r["state"] != "finalized" || r["size"] != float64(len(data)) || r["total_files"] != 1.0 {
		t.Errorf("listed package = %v", r)
	}
	legacy := s.call("GET", "/v1/teams/"+teamID+"/packages", nil, "X-User-Token", tok).want(t, 200).array(t)
	if len(legacy) != 1 || legacy[0]["id"] != pid {
		t.Errorf("legacy list = %v", legacy)
	}
	got := s.call("GET", "/v1.1/teams/"+teamID+"/packages/"+pid, nil, "X-API-KEY", key).want(t, 200).object(t)
	if got["state"] != "finalized" || got["access_token"] == "" {
		t.Errorf("package = %v", got)
	}

	// A finalized package is locked.
	s.call("POST", "/v1/packages/"+pid+"/files", obj{"kind": "file", "name": "late.mov", "path": ""}, "X-Package-Token", ptok).wantError(t, 409)

	// Deleting archives it and releases every block.
	s.replay("DELETE", e.URL+"/v1/packages/"+pid, nil, "X-Package-Token", ptok).want(t, 204)
	st, err := e.Svc.ChunkStats(t.Context())
	// (Blocks at zero references may stay indexed until compaction frees
	// them; what counts is that nothing references them.)
	if err != nil || st.UniqueBytes != 0 || st.LogicalBytes != 0 {
		t.Errorf("after delete: %+v (%v); want none", st, err)
	}
	arch := s.call("GET", "/v1.1/teams/"+teamID+"/packages?status[]=archived", nil, "X-API-KEY", key).want(t, 200).object(t)
	if r := arr(t, "archived", arch, "records"); len(r) != 1 || r[0].(obj)["state"] != "archived" {
		t.Errorf("archived list = %v", arch)
	}
}
