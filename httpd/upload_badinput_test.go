package httpd_test

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestUploadBadInput refuses every kind of bad upload input with the right
// status and a message naming the rule, and loses nothing durable.
func TestUploadBadInput(t *testing.T) {
	// The 15 TB declaration below must pass the space reservation: the
	// free-space check is replaced (TestSpaceReservations tests the real one).
	e := newEnv(t, func(o *envOptions) { o.space = fitsAll{} })
	o := e.owner()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "bad input")
	otherPid, otherTok := e.newPackage(apiKey(o.APIKey), "another")
	u := e.addFile(pid, ptok, "clip.mov", randomData(5, 3*testChunk+777), testChunk)
	urls := u.partURLs(0, 4)
	etag1 := u.put(urls[0], 1)
	base := e.logical()
	filesPath := "/v1/packages/" + pid + "/files"

	t.Run("credentials on package routes", func(t *testing.T) {
		e := e.as(t)
		body := map[string]any{"kind": "file", "name": "x.bin", "path": ""}
		for _, c := range []struct {
			name   string
			cr     cred
			status int
			msg    string
		}{
			{"none", noCred(), 401, "X-Package-Token"},
			{"garbage", header("X-Package-Token", "not-a-token"), 401, "not valid"},
			{"user token as package token", header("X-Package-Token", o.Token), 401, "not valid"},
			{"another package's token", header("X-Package-Token", otherTok), 403, "another package"},
			// MASV §1.1: API keys never work on package-token routes. haul
			// answers 401 (the credential the route needs is missing) and
			// says where the package token comes from.
			{"API key", apiKey(o.APIKey), 401, "API keys and user tokens do not work on package routes"},
			{"user token", userToken(o.Token), 401, "API keys and user tokens do not work on package routes"},
		} {
			for _, q := range []struct {
				method, path string
				body         any
			}{
				{"POST", filesPath, body},
				{"GET", filesPath, nil},
				{"POST", "/v1/packages/" + pid + "/finalize", nil},
				{"DELETE", "/v1/packages/" + pid, nil},
			} {
				r := e.do(q.method, q.path, q.body, c.cr)
				if r.Status != c.status || !strings.Contains(r.ErrMsg(t), c.msg) {
					t.Errorf("%s: %s %s: %d %s, want %d %q", c.name, q.method, q.path, r.Status, r.Body, c.status, c.msg)
				}
			}
		}
		_ = otherPid
	})

	t.Run("signed URLs", func(t *testing.T) {
		e := e.as(t)
		q := url.Values{"partNumber": {"2"}, "uploadId": {u.uploadID}}
		tampered := strings.Replace(urls[1], "partNumber=2", "partNumber=3", 1)
		otherSig := urls[1][:strings.Index(urls[1], "X-Haul-Signature=")] + urls[2][strings.Index(urls[2], "X-Haul-Signature="):]
		otherFile := strings.Replace(urls[1], u.fid, u.pid, 1)
		for _, c := range []struct {
			name, method, url string
			status            int
			code              string
		}{
			{"part number changed", "PUT", tampered, 403, "SignatureDoesNotMatch"},
			{"signature of another part", "PUT", otherSig, 403, "SignatureDoesNotMatch"},
			{"another path", "PUT", otherFile, 403, "SignatureDoesNotMatch"},
			{"PUT URL used for GET", "GET", urls[1], 403, "SignatureDoesNotMatch"},
			{"expiry moved", "PUT", strings.Replace(urls[1], "X-Haul-Expires=", "X-Haul-Expires=9", 1), 403, "SignatureDoesNotMatch"},
			{"unsigned", "PUT", e.URL + "/s3/" + pid + "/" + u.fid + "?partNumber=2&uploadId=" + u.uploadID, 403, "AccessDenied"},
			{"expired", "PUT", u.signed("PUT", q, time.Now().Add(-time.Minute)), 403, "AccessDenied"},
			{"wrong upload id", "PUT", u.signed("PUT", url.Values{"partNumber": {"2"}, "uploadId": {"01ARZ3NDEKTSV4RRFFQ69G5FAV"}}, time.Now().Add(time.Hour)), 404, "NoSuchUpload"},
			{"part 0", "PUT", u.signed("PUT", url.Values{"partNumber": {"0"}, "uploadId": {u.uploadID}}, time.Now().Add(time.Hour)), 400, "InvalidArgument"},
			{"part 10001", "PUT", u.signed("PUT", url.Values{"partNumber": {"10001"}, "uploadId": {u.uploadID}}, time.Now().Add(time.Hour)), 400, "InvalidArgument"},
			{"part past the declared size", "PUT", u.signed("PUT", url.Values{"partNumber": {"5"}, "uploadId": {u.uploadID}}, time.Now().Add(time.Hour)), 400, "InvalidArgument"},
		} {
			r := e.raw(c.method, c.url, u.part(2), -2)
			if r.Status != c.status || s3ErrorCode(t, r.Body) != c.code {
				t.Errorf("%s: %d %s, want %d %s", c.name, r.Status, r.Body, c.status, c.code)
			}
		}
		if n := e.logical(); n != base {
			t.Errorf("refused requests changed logical bytes %d → %d", base, n)
		}
	})

	t.Run("oversize and short parts", func(t *testing.T) {
		e := e.as(t)
		big := randomData(6, testChunk+1)
		r := e.raw("PUT", urls[1], big, -2)
		if r.Status != 400 || s3ErrorCode(t, r.Body) != "EntityTooLarge" {
			t.Errorf("oversize part (Content-Length): %d %s", r.Status, r.Body)
		}
		r = e.raw("PUT", urls[1], big, -1)
		if r.Status != 400 || s3ErrorCode(t, r.Body) != "EntityTooLarge" {
			t.Errorf("oversize part (chunked): %d %s", r.Status, r.Body)
		}
		// The last part may hold only what remains of the declared size.
		r = e.raw("PUT", urls[3], randomData(7, 778), -1)
		if r.Status != 400 || s3ErrorCode(t, r.Body) != "EntityTooLarge" {
			t.Errorf("oversize last part: %d %s", r.Status, r.Body)
		}
		u.shortPut(urls[1], 2)
		ps := u.listParts()
		if len(ps) != 1 || ps[0].PartNumber != 1 || ps[0].ETag != etag1 {
			t.Errorf("ListParts after refused parts = %+v, want part 1 only", ps)
		}
		if n := e.logical(); n != base {
			t.Errorf("refused parts changed logical bytes %d → %d", base, n)
		}
	})

	t.Run("finalize", func(t *testing.T) {
		e := e.as(t)
		etags := []string{etag1, u.put(urls[1], 2), u.put(urls[2], 3), u.put(urls[3], 4)}
		fin := "/v1/packages/" + pid + "/files/" + u.fid + "/finalize"
		size := len(u.data)
		extras := func(nums []int, tags []string) []map[string]any {
			var out []map[string]any
			for i, n := range nums {
				out = append(out, map[string]any{"partNumber": n, "etag": tags[i]})
			}
			return out
		}
		for _, c := range []struct {
			name   string
			body   map[string]any
			status int
			code   string
			msg    string
		}{
			{"missing part", map[string]any{"chunk_extras": extras([]int{1, 3, 4}, []string{etags[0], etags[2], etags[3]}), "size": size}, 400, "InvalidPart", "part 2 is missing"},
			{"out of order", map[string]any{"chunk_extras": extras([]int{2, 1}, etags), "size": size}, 400, "InvalidPartOrder", "ascending"},
			{"wrong ETag", map[string]any{"chunk_extras": extras([]int{1, 2, 3, 4}, []string{etags[0], etags[2], etags[2], etags[3]}), "size": size}, 400, "InvalidPart", "part 2: the ETag"},
			{"wrong size", map[string]any{"chunk_extras": extras([]int{1, 2, 3, 4}, etags), "size": size + 1}, 400, "validation_failed", "does not match"},
			{"short of the declared size", map[string]any{"chunk_extras": extras([]int{1, 2, 3}, etags), "size": 3 * testChunk}, 400, "validation_failed", "declared with size"},
			{"wrong upload id", map[string]any{"chunk_extras": extras([]int{1, 2, 3, 4}, etags), "size": size, "file_extras": map[string]string{"upload_id": "nope"}}, 404, "NoSuchUpload", "does not exist"},
			{"bad part number", map[string]any{"chunk_extras": []map[string]any{{"partNumber": "one", "etag": etags[0]}}, "size": size}, 400, "validation_failed", "partNumber"},
		} {
			r := e.do("POST", fin, c.body, u.tok())
			var b struct{ Errors []struct{ Code, Msg string } }
			r.JSON(t, &b)
			if r.Status != c.status || len(b.Errors) != 1 || b.Errors[0].Code != c.code || !strings.Contains(b.Errors[0].Msg, c.msg) {
				t.Errorf("%s: %d %s, want %d %s %q", c.name, r.Status, r.Body, c.status, c.code, c.msg)
			}
		}
		if ps := u.listParts(); len(ps) != 4 {
			t.Errorf("refused finalizes lost parts: %+v", ps)
		}
		// A non-final part short of chunk_size: a file of undeclared size.
		v := e.addFileUndeclared(pid, ptok, "undeclared.bin")
		vurls := v.partURLs(0, 2)
		r1 := e.raw("PUT", vurls[0], randomData(8, testChunk-1), -2)
		r2 := e.raw("PUT", vurls[1], randomData(9, 10), -2)
		r := v.finalize([]string{r1.Header.Get("ETag"), r2.Header.Get("ETag")}, testChunk+9)
		if r.Status != 400 || !strings.Contains(r.ErrMsg(t), "every part but the last must hold chunk_size") {
			t.Errorf("short non-final part: %d %s", r.Status, r.Body)
		}
		if r := u.finalize(etags, size); r.Status != 200 || r.Map(t)["digest"] != u.wantDigest() {
			t.Fatalf("finalize: %d %s", r.Status, r.Body)
		}
	})

	t.Run("file names and sizes", func(t *testing.T) {
		e := e.as(t)
		long := strings.Repeat("a", 256)
		for _, c := range []struct {
			name   string
			body   map[string]any
			field  string
			msg    string
			status int
		}{
			{"traversal in path", map[string]any{"name": "x", "path": "a/../../etc"}, "path", "path traversal", 400},
			{"dot-dot name", map[string]any{"name": "..", "path": ""}, "name", "path traversal", 400},
			{"absolute path", map[string]any{"name": "x", "path": "/etc"}, "path", "absolute", 400},
			{"drive path", map[string]any{"name": "x", "path": `C:\Users`}, "path", "absolute", 400},
			{"backslash", map[string]any{"name": "x", "path": `a\b`}, "path", "backslash", 400},
			{"separator in name", map[string]any{"name": "a/b", "path": ""}, "name", "path separator", 400},
			{"NUL", map[string]any{"name": "a\x00b", "path": ""}, "name", "NUL", 400},
			{"control character", map[string]any{"name": "a\x1bb", "path": ""}, "name", "control character", 400},
			{"empty segment", map[string]any{"name": "x", "path": "a//b"}, "path", "empty segment", 400},
			{"long name", map[string]any{"name": long, "path": ""}, "name", "maximum is 255 bytes per name", 400},
			{"long path", map[string]any{"name": "x", "path": strings.Repeat("abcdefgh/", 456)}, "path", "maximum is 4096", 400},
			{"no name", map[string]any{"path": "a"}, "name", "name is required", 400},
			{"bad kind", map[string]any{"kind": "zip_mac", "name": "x"}, "kind", "not supported", 400},
			{"chunk too small", map[string]any{"name": "x", "chunk_size": 1000}, "chunk_size", "min_chunk_size", 400},
			{"too many parts", map[string]any{"name": "x", "size": int64(15e12), "chunk_size": 100 << 20}, "chunk_size", "use a chunk_size of at least 1500512256", 400},
		} {
			r := e.do("POST", "/v1/packages/"+otherPid+"/files", c.body, header("X-Package-Token", otherTok))
			if r.Status != c.status || r.errField(t) != c.field || !strings.Contains(r.ErrMsg(t), c.msg) {
				t.Errorf("%s: %d %s, want %d on %s with %q", c.name, r.Status, r.Body, c.status, c.field, c.msg)
			}
		}
		// NFC: a decomposed é is stored composed.
		m := e.must(201, "POST", "/v1/packages/"+otherPid+"/files", map[string]any{"name": "cafe\u0301.mov", "path": "ete\u0301/x"}, header("X-Package-Token", otherTok)).Map(t)
		if f := m["file"].(map[string]any); f["name"] != "caf\u00e9.mov" || f["path"] != "et\u00e9/x" {
			t.Errorf("NFC: %v", f)
		}
		// A 15 TB file with a valid chunk size is accepted; parts 1 and
		// 10,000 get URLs.
		m = e.must(201, "POST", "/v1/packages/"+otherPid+"/files", map[string]any{"name": "huge.bin", "size": int64(15e12), "chunk_size": 1500000000}, header("X-Package-Token", otherTok)).Map(t)
		fid := m["file"].(map[string]any)["id"].(string)
		r := e.raw("POST", m["create_blueprint"].(map[string]any)["url"].(string), nil, -2)
		uid := uploadIDOf(t, answer{status: r.Status, raw: r.Body})
		for _, start := range []int{0, 9999} {
			var bps []map[string]any
			e.must(200, "POST", "/v1/packages/"+otherPid+"/files/"+fid+"?start="+itoa(start)+"&count=5", map[string]string{"upload_id": uid}, header("X-Package-Token", otherTok)).JSON(t, &bps)
			if len(bps) == 0 || !strings.Contains(bps[0]["url"].(string), "partNumber="+itoa(start+1)+"&") {
				t.Errorf("huge file part URLs from %d: %v", start, bps)
			}
		}
		if r := e.do("POST", "/v1/packages/"+otherPid+"/files/"+fid+"?start=10000&count=1", map[string]string{"upload_id": uid}, header("X-Package-Token", otherTok)); r.Status != 400 {
			t.Errorf("start past the last part: %d %s", r.Status, r.Body)
		}
	})

	t.Run("locked and oversized bodies", func(t *testing.T) {
		e := e.as(t)
		// The package still has unfinished files (undeclared.bin).
		if r := e.do("POST", "/v1/packages/"+pid+"/finalize", nil, u.tok()); r.Status != 409 || !strings.Contains(r.ErrMsg(t), "undeclared.bin") {
			t.Errorf("finalize with an unfinished file: %d %s", r.Status, r.Body)
		}
		// JSON bodies stay capped at 1 MiB although bodies now stream:
		// announced (refused without reading the body) or chunked (refused
		// after 1 MiB). Raw connections, since the server stops reading
		// and a client still writing may see a reset instead of the answer.
		big := `{"name":"` + strings.Repeat("x", 1<<20) + `"}`
		for _, chunked := range []bool{false, true} {
			if line := rawStatus(t, e.URL, "POST", "/v1/teams/"+e.TeamID+"/packages", big, chunked, "X-API-KEY: "+o.APIKey); !strings.Contains(line, " 413 ") {
				t.Errorf("2 MiB JSON body (chunked %v): %q", chunked, line)
			}
		}
		if r := e.do("POST", "/v1/teams/"+e.TeamID+"/packages", map[string]any{"name": "x", "recipients": distinctEmails(31)}, apiKey(o.APIKey)); r.Status != 400 || r.errField(t) != "recipients" {
			t.Errorf("31 recipients: %d %s", r.Status, r.Body)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// addFileUndeclared adds a file without size (minimal MASV clients send
// only kind, name and path) at the test chunk size and starts its upload.
func (e *env) addFileUndeclared(pid, ptok, name string) *upload {
	e.t.Helper()
	m := e.must(201, "POST", "/v1/packages/"+pid+"/files", map[string]any{"kind": "file", "name": name, "path": "", "chunk_size": testChunk},
		header("X-Package-Token", ptok)).Map(e.t)
	u := &upload{e: e, pid: pid, ptok: ptok, fid: m["file"].(map[string]any)["id"].(string), chunk: testChunk}
	r := e.raw("POST", m["create_blueprint"].(map[string]any)["url"].(string), nil, -2)
	u.uploadID = uploadIDOf(e.t.(*testing.T), answer{status: r.Status, raw: r.Body})
	return u
}

func distinctEmails(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "r" + strconv.Itoa(i) + "@post.example"
	}
	return out
}

// rawStatus sends a request over a raw connection, writing the body in the
// background (announced but cut after 64 KiB, or chunked), and returns
// the status line.
func rawStatus(t *testing.T, base, method, path, body string, chunked bool, headers ...string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n", method, path)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if chunked {
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	}
	go func() {
		conn.Write([]byte(b.String()))
		if !chunked {
			// fasthttp reads up to 8 KiB ahead before the handler runs;
			// past that the server must answer without the rest.
			conn.Write([]byte(body[:64<<10]))
			return
		}
		for i := 0; i < len(body); i += 64 << 10 {
			piece := body[i:min(i+64<<10, len(body))]
			if _, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", len(piece), piece); err != nil {
				return
			}
		}
		conn.Write([]byte("0\r\n\r\n"))
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	return line
}
