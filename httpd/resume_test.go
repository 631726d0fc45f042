package httpd_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"haul/core"
)

// contentKey is a team's block key as GET …/block_key answers it.
type contentKey struct {
	key   []byte
	bsize int
}

func (e *env) blockKey(cr cred) contentKey {
	e.t.Helper()
	var out struct {
		BlockKey  string `json:"block_key"`
		BlockSize int    `json:"block_size"`
	}
	e.must(200, "GET", "/v1/teams/"+e.TeamID+"/block_key", nil, cr).JSON(e.t, &out)
	k, err := hex.DecodeString(out.BlockKey)
	if err != nil || len(k) != 32 || out.BlockSize <= 0 {
		e.t.Fatalf("block_key answer %+v", out)
	}
	return contentKey{key: k, bsize: out.BlockSize}
}

// refBlock is one block of a by_reference body.
type refBlock struct {
	Hash   string `json:"hash"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
}

// blocks cuts part n of u as the chunk store does and hashes its blocks
// with k.
func (k contentKey) blocks(u *upload, n int) []refBlock {
	off := (n - 1) * u.chunk
	end := min(off+u.chunk, len(u.data))
	var out []refBlock
	for off < end {
		l := min(k.bsize-off%k.bsize, end-off)
		out = append(out, refBlock{Hash: k.hash(u.data[off : off+l]), Offset: off, Length: l})
		off += l
	}
	return out
}

func (k contentKey) hash(b []byte) string {
	h, err := blake3.NewKeyed(k.key)
	if err != nil {
		panic(err)
	}
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (u *upload) byRef(n int, blocks []refBlock, creds ...cred) resp {
	u.e.t.Helper()
	return u.e.do("POST", fmt.Sprintf("/v1/packages/%s/files/%s/parts/%d/by_reference", u.pid, u.fid, n),
		map[string]any{"upload_id": u.uploadID, "blocks": blocks}, creds...)
}

func (u *upload) known(hashes []string, creds ...cred) resp {
	u.e.t.Helper()
	return u.e.do("POST", "/v1/packages/"+u.pid+"/files/"+u.fid+"/known_blocks", map[string]any{"hashes": hashes}, creds...)
}

// TestResumeByContent uploads a file, then records the same bytes in
// another package by reference only: same ETags, digest checked, one
// reference more per block; then every refusal.
func TestResumeByContent(t *testing.T) {
	e := newEnv(t, generousLimits)
	o := e.owner()
	data := randomData(40, 4*testChunk+5000)

	pid1, ptok1 := e.newPackage(apiKey(o.APIKey), "first")
	u1 := e.addFile(pid1, ptok1, "a.bin", data, testChunk)
	urls := u1.partURLs(0, 5)
	var etags []string
	for i, url := range urls {
		etags = append(etags, u1.put(url, i+1))
	}
	if f := u1.finalize(etags, len(data)); f.Status != 200 {
		t.Fatalf("finalize: %d %s", f.Status, f.Body)
	}

	k := e.blockKey(apiKey(o.APIKey))
	if k.bsize != 64<<10 {
		t.Fatalf("block_size %d, want %d", k.bsize, 64<<10)
	}
	if tk := e.blockKey(userToken(o.Token)); string(tk.key) != string(k.key) {
		t.Fatal("the key differs between API key and user token")
	}

	pid2, ptok2 := e.newPackage(apiKey(o.APIKey), "second")
	u2 := e.addFile(pid2, ptok2, "a.bin", data, testChunk)
	both := []cred{u2.tok(), apiKey(o.APIKey)}

	var hashes []string
	for n := 1; n <= u2.parts(); n++ {
		for _, b := range k.blocks(u2, n) {
			hashes = append(hashes, b.Hash)
		}
	}
	stranger := k.hash([]byte("never stored"))
	var kn struct{ Known []bool }
	r := u2.known(append(hashes, stranger), both...)
	if r.Status != 200 {
		t.Fatalf("known_blocks: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &kn)
	if len(kn.Known) != len(hashes)+1 || kn.Known[len(hashes)] {
		t.Fatalf("known = %v", kn.Known)
	}
	for i, v := range kn.Known[:len(hashes)] {
		if !v {
			t.Fatalf("block %d of the uploaded file is not known", i)
		}
	}

	before := e.logical()
	var refTags []string
	for n := 1; n <= u2.parts(); n++ {
		r := u2.byRef(n, k.blocks(u2, n), both...)
		var pr struct {
			PartNumber int    `json:"part_number"`
			ETag       string `json:"etag"`
			Size       int    `json:"size"`
		}
		if r.Status != 200 {
			t.Fatalf("by_reference part %d: %d %s", n, r.Status, r.Body)
		}
		r.JSON(t, &pr)
		if pr.ETag != etags[n-1] || r.Header.Get("ETag") != pr.ETag || pr.Size != len(u2.part(n)) || pr.PartNumber != n {
			t.Errorf("part %d by reference = %+v (header %s), want the uploaded part's ETag %s", n, pr, r.Header.Get("ETag"), etags[n-1])
		}
		refTags = append(refTags, pr.ETag)
	}
	// Sending a part by reference again replaces it: no reference more.
	if r := u2.byRef(2, k.blocks(u2, 2), both...); r.Status != 200 {
		t.Fatalf("part 2 by reference again: %d %s", r.Status, r.Body)
	}
	if got := e.logical(); got != before+int64(len(data)) {
		t.Errorf("logical bytes %d → %d, want +%d", before, got, len(data))
	}
	if ps := u2.listParts(); len(ps) != 5 || ps[4].Size != 5000 {
		t.Errorf("ListParts of the referenced upload = %+v", ps)
	}
	f := u2.finalize(refTags, len(data))
	if f.Status != 200 || f.Map(t)["digest"] != u2.wantDigest() {
		t.Fatalf("finalize by reference: %d %s, want digest %s", f.Status, f.Body, u2.wantDigest())
	}
	// No byte was sent, yet the file has its CRC-32 (the blocks' from the
	// index): the zip of the package passes archive/zip's checksum.
	e.must(200, "POST", "/v1/packages/"+pid2+"/finalize", nil, u2.tok())
	zb := e.raw("GET", e.fileURL(pid2, core.ZipID, ptok2), nil, -2).Body
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil || len(zr.File) != 1 {
		t.Fatalf("zip of the package: %v", err)
	}
	zf, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(zf); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file in the zip: %v", err)
	}

	// Refusals, on a third file whose first part is new bytes.
	pid3, ptok3 := e.newPackage(apiKey(o.APIKey), "third")
	changed := append([]byte(nil), data...)
	changed[10] ^= 0xff
	u3 := e.addFile(pid3, ptok3, "b.bin", changed, testChunk)
	both3 := []cred{u3.tok(), apiKey(o.APIKey)}
	wantErr := func(name string, r resp, status int, words ...string) {
		t.Helper()
		if r.Status != status {
			t.Errorf("%s: status %d, want %d: %s", name, r.Status, status, r.Body)
			return
		}
		msg := r.ErrMsg(t)
		for _, w := range words {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q lacks %q", name, msg, w)
			}
		}
	}
	before = e.logical()

	wantErr("unknown block", u3.byRef(1, k.blocks(u3, 1), both3...), 409, "blocks[0]", "not stored by this team", "nothing was committed")
	good2 := k.blocks(u3, 2)
	wantErr("bare package token", u3.byRef(2, good2, u3.tok()), 401, "X-API-KEY or X-User-Token")
	wantErr("bare package token, known_blocks", u3.known(hashes[:1], u3.tok()), 401, "X-API-KEY or X-User-Token")
	wantErr("user credential without package token", u3.byRef(2, good2, apiKey(o.APIKey)), 401, "X-Package-Token")
	wantErr("another package's token", u3.byRef(2, good2, u2.tok(), apiKey(o.APIKey)), 403, "another package")

	// A user of another team, holding this package's token: the team is
	// hidden from them, and so is everything about its blocks.
	const outEmail, outPassword = "outsider@elsewhere.example", "outsider-password-1"
	b, err := e.Svc.CreateTeam(context.Background(), core.BootstrapRequest{TeamName: "Elsewhere", OwnerEmail: outEmail, OwnerPassword: outPassword})
	if err != nil {
		t.Fatal(err)
	}
	outTok := e.login(outEmail, outPassword)
	wantErr("other team's user", u3.byRef(2, good2, u3.tok(), userToken(outTok)), 404, "not found")
	wantErr("other team's user, known_blocks", u3.known(hashes[:1], u3.tok(), userToken(outTok)), 404, "not found")
	wantErr("other team's user, block_key", e.do("GET", "/v1/teams/"+e.TeamID+"/block_key", nil, userToken(outTok)), 404, "not found")
	if r := e.do("GET", "/v1/teams/"+b.TeamID+"/block_key", nil, userToken(outTok)); r.Status != 200 {
		t.Errorf("outsider's own block key: %d %s", r.Status, r.Body)
	}
	// Portal senders cannot be modelled yet (there are no portals): when
	// they land, a portal's upload credential must be refused here too.
	guest := e.addPerson(o.Token, "guest@studio.example", core.RoleGuest)
	wantErr("guest", u3.byRef(2, good2, u3.tok(), userToken(guest.Token)), 403, "Guest")

	// Blocks that do not cover the part as the store cuts it.
	wantErr("gap", u3.byRef(2, []refBlock{good2[0], good2[2], good2[3]}, both3...), 400, "blocks[1] starts at offset", "contiguous")
	shifted := append([]refBlock(nil), good2...)
	shifted[0].Offset++
	wantErr("wrong start", u3.byRef(2, shifted, both3...), 400, "blocks[0] starts at offset", "part 2 starts at offset 262144")
	merged := []refBlock{{Hash: good2[0].Hash, Offset: good2[0].Offset, Length: 2 * k.bsize}, good2[2], good2[3]}
	wantErr("crossing a boundary", u3.byRef(2, merged, both3...), 400, "crosses the block boundary")
	short := append([]refBlock(nil), good2...)
	short[0].Length -= 1024
	wantErr("short inner block", u3.byRef(2, short, both3...), 400, "only the part's last block")
	wantErr("empty", u3.byRef(2, []refBlock{}, both3...), 400, "at least one block")
	last := k.blocks(u3, 5) // 5000 bytes
	wantErr("past the part's end", u3.byRef(5, []refBlock{{Hash: good2[0].Hash, Offset: last[0].Offset, Length: k.bsize}}, both3...), 400, "at most 5000 bytes")
	wantErr("length differs from the store's", u3.byRef(5, []refBlock{{Hash: good2[0].Hash, Offset: last[0].Offset, Length: 5000}}, both3...), 400, "65536 bytes long in the store, not 5000")
	wantErr("bad hash", u3.byRef(2, []refBlock{{Hash: "zz", Offset: good2[0].Offset, Length: k.bsize}}, both3...), 400, "blocks[0] must be 64 hex digits")
	wantErr("bad part number", e.do("POST", "/v1/packages/"+u3.pid+"/files/"+u3.fid+"/parts/x/by_reference", map[string]any{}, both3...), 400, "part_number")
	wantErr("wrong upload id", e.do("POST", "/v1/packages/"+u3.pid+"/files/"+u3.fid+"/parts/2/by_reference",
		map[string]any{"upload_id": "nope", "blocks": good2}, both3...), 404, "does not exist")
	tooMany := make([]string, core.MaxKnownBlocksQuery+1)
	for i := range tooMany {
		tooMany[i] = hashes[0]
	}
	wantErr("too many hashes", u3.known(tooMany, both3...), 400, "at most 10000")

	if ps := u3.listParts(); len(ps) != 0 {
		t.Errorf("refused calls left parts: %+v", ps)
	}
	if got := e.logical(); got != before {
		t.Errorf("refused calls changed logical bytes %d → %d", before, got)
	}

	// The mixed file: part 1 travels, parts 2..5 by reference.
	url := u3.partURLs(0, 1)[0]
	tags := []string{u3.put(url, 1)}
	for n := 2; n <= 5; n++ {
		r := u3.byRef(n, k.blocks(u3, n), both3...)
		if r.Status != 200 {
			t.Fatalf("part %d: %d %s", n, r.Status, r.Body)
		}
		tags = append(tags, r.Map(t)["etag"].(string))
	}
	if f := u3.finalize(tags, len(changed)); f.Status != 200 || f.Map(t)["digest"] != u3.wantDigest() {
		t.Fatalf("mixed finalize: %d %s, want %s", f.Status, f.Body, u3.wantDigest())
	}
}
