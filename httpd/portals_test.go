package httpd_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"haul/core"
)

// portal creates a portal as the owner with the given settings (name and
// subdomain filled in when missing) and returns it.
func (e *env) portal(tok string, fields map[string]any) map[string]any {
	e.t.Helper()
	body := map[string]any{"name": "Dailies drop", "active": true}
	for k, v := range fields {
		body[k] = v
	}
	if body["subdomain"] == nil {
		body["subdomain"] = "drop-" + strings.ToLower(core.NewID()[20:])
	}
	return e.must(201, "POST", "/v1/teams/"+e.TeamID+"/portals", body, userToken(tok)).Map(e.t)
}

// portalPackage creates a package through a portal; it returns the
// answer (want 201) for the caller to read id and access_token.
func (e *env) portalPackage(want int, id string, body map[string]any, creds ...cred) resp {
	e.t.Helper()
	return e.must(want, "POST", "/v1/portals/"+id+"/packages", body, creds...)
}

func TestPortalManagement(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	team := "/v1/teams/" + e.TeamID + "/portals"

	// Defaults: inactive, regular; secrets only as has_…
	p := e.must(201, "POST", team, map[string]any{"name": "Vendors", "subdomain": "Vendors-In", "access_code": "let me in",
		"download_password": "dl pass", "recipients": []string{"Producer@Studio.example"}}, apiKey(o.APIKey)).Map(t)
	hasKeys(t, "portal", p, "id", "name", "subdomain", "message", "active", "has_access_code", "has_download_password", "access_level",
		"recipients", "cc_recipients", "primary_color", "logo_url", "file_types", "max_file_size", "package_name_format", "terms_of_service")
	if p["active"] != false || p["subdomain"] != "vendors-in" || p["has_access_code"] != true || p["has_download_password"] != true ||
		p["access_level"] != "regular" || p["recipients"].([]any)[0] != "producer@studio.example" {
		t.Fatalf("portal = %v", p)
	}
	id := p["id"].(string)
	got := e.must(200, "GET", "/v1.1/portals/"+id, nil, userToken(o.Token))
	for _, secret := range []string{"let me in", "dl pass", "argon2"} {
		if bytes.Contains(got.Body, []byte(secret)) {
			t.Fatalf("the portal shows %q: %s", secret, got.Body)
		}
	}

	// Subdomains: length, characters, reserved names, uniqueness.
	for _, c := range []struct{ sub, words string }{
		{"ab", "3 to 53"},
		{strings.Repeat("a", 54), "3 to 53"},
		{"-abc", "hyphen"},
		{"ab_c", "letters"},
		{"ab.c", "letters"},
		{"www", "reserved"},
		{"Admin", "reserved"},
		{"xn--bcher-kva", "punycode"},
	} {
		r := e.must(400, "POST", team, map[string]any{"name": "x", "subdomain": c.sub}, userToken(o.Token))
		if r.errField(t) != "subdomain" || !strings.Contains(r.ErrMsg(t), c.words) {
			t.Errorf("subdomain %q: %s", c.sub, r.Body)
		}
	}
	if r := e.must(409, "POST", team, map[string]any{"name": "x", "subdomain": "VENDORS-IN"}, userToken(o.Token)); !strings.Contains(r.ErrMsg(t), "taken") {
		t.Fatalf("duplicate subdomain: %s", r.Body)
	}
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "x", "subdomain": "priv-a", "access_level": "private"}, "access_code"},
		{map[string]any{"name": "x", "subdomain": "fmt-a", "package_name_format_enabled": true, "package_name_format": map[string]any{"value": "([a-z", "label": "x"}}, "package_name_format"},
		{map[string]any{"name": "x", "subdomain": "col-a", "primary_color": "red; background:url(x)"}, "primary_color"},
		{map[string]any{"name": "x", "subdomain": "exp-a", "expiry_enabled": true}, "expiry"},
		{map[string]any{"name": "x", "subdomain": "days-a", "custom_expiry_days": -1}, "custom_expiry_days"},
		{map[string]any{"name": "x", "subdomain": "logo-a", "logo_url": "https://tracker.example/logo.png"}, "logo_url"},
		{map[string]any{"name": "x", "subdomain": "acl-a", "access_list": []string{"nobody"}}, "access_list"},
	} {
		if r := e.must(400, "POST", team, c.body, userToken(o.Token)); r.errField(t) != c.field {
			t.Errorf("%v: %s", c.body, r.Body)
		}
	}

	// Update keeps what is not sent; has_access_code false clears it.
	u := e.must(200, "PUT", "/v1/portals/"+id, map[string]any{"active": true, "has_access_code": false, "message": "Welcome"}, userToken(o.Token)).Map(t)
	if u["active"] != true || u["has_access_code"] != false || u["has_download_password"] != true || u["name"] != "Vendors" || u["message"] != "Welcome" {
		t.Fatalf("updated = %v", u)
	}
	e.portal(o.Token, map[string]any{"name": "Another", "subdomain": "another"})
	var l struct {
		Metadata struct{ Total int } `json:"metadata"`
		Records  []map[string]any    `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/portals?sort=-name", nil, userToken(o.Token)).JSON(t, &l)
	if l.Metadata.Total != 2 || l.Records[0]["name"] != "Vendors" {
		t.Fatalf("list = %+v", l)
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/portals?name=anoth", nil, userToken(o.Token)).JSON(t, &l)
	if l.Metadata.Total != 1 || l.Records[0]["subdomain"] != "another" {
		t.Fatalf("filtered = %+v", l)
	}

	// Branding: images only, served by haul.
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 100)...)
	if r := e.raw("PUT", e.URL+"/v1/portals/"+id+"/logo", png, -2, userToken(o.Token)); r.Status != 200 || !strings.Contains(string(r.Body), "/v1/portals/"+id+"/logo") {
		t.Fatalf("logo: %d %s", r.Status, r.Body)
	}
	if r := e.raw("GET", e.URL+"/v1/portals/"+id+"/logo", nil, -2); r.Status != 200 || r.Header.Get("Content-Type") != "image/png" || !bytes.Equal(r.Body, png) {
		t.Fatalf("serving the logo: %d %v", r.Status, r.Header)
	}
	if r := e.raw("PUT", e.URL+"/v1/portals/"+id+"/background", []byte(`<svg onload="alert(1)"/>`), -2, userToken(o.Token)); r.Status != 415 {
		t.Fatalf("an SVG: %d %s", r.Status, r.Body)
	}
	if r := e.raw("PUT", e.URL+"/v1/portals/"+id+"/background", make([]byte, 3<<20), -2, userToken(o.Token)); r.Status != 413 {
		t.Fatalf("a 3 MiB image: %d", r.Status)
	}
	e.must(204, "DELETE", "/v1/portals/"+id, nil, userToken(o.Token))
	e.must(404, "GET", "/v1.1/portals/"+id, nil, userToken(o.Token))
	e.must(404, "GET", "/v1/portals/"+id+"/logo", nil)
}

// TestPortalPackageRules: every rule a sender meets, at the earliest
// point, with a message they can act on.
func TestPortalPackageRules(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	o := e.owner()
	p := e.portal(o.Token, map[string]any{"access_code": "open up", "package_name_format_enabled": true,
		"package_name_format":      map[string]any{"value": `[A-Z]{3}-[0-9]{4}.*`, "label": "SHOW-0001 Title"},
		"terms_of_service_enabled": true, "terms_of_service": map[string]any{"title": "Delivery terms", "checkbox_label": "I agree"},
		"file_type_restriction_enabled": true, "file_type_restriction_exclude": true, "file_types": []string{"EXE", ".bat"},
		"package_size_restriction_enabled": true, "max_file_count": 2, "max_file_size": 200_000, "max_package_size": 300_000})
	id := p["id"].(string)
	good := map[string]any{"name": "ABC-0001 Rushes", "sender": "Vendor@Post.example", "access_code": "open up", "terms_accepted": true}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	a := header("X-Forwarded-For", "203.0.113.5")
	for _, c := range []struct {
		body   map[string]any
		status int
		field  string
		words  string
	}{
		{with("name", "rushes"), 400, "name", "SHOW-0001 Title"},
		{with("terms_accepted", false), 400, "terms_accepted", "Delivery terms"},
		{with("sender", "not an address"), 400, "sender", ""},
		{with("name", ""), 400, "name", "required"},
	} {
		r := e.portalPackage(c.status, id, c.body, a)
		if r.errField(t) != c.field || !strings.Contains(r.ErrMsg(t), c.words) {
			t.Errorf("%v: %s", c.body, r.Body)
		}
	}
	// The access code: header or body; wrong ones are rate limited per
	// address, even against the right code; another address gets in.
	hdr := with("access_code", "")
	e.portalPackage(201, id, hdr, a, header("X-Access-Code", "open up"))
	e.portalPackage(401, id, hdr, a)
	for range 5 {
		e.portalPackage(401, id, with("access_code", "guess"), a)
	}
	e.portalPackage(429, id, good, a)
	b := header("X-Forwarded-For", "198.51.100.8")
	pk := e.portalPackage(201, id, good, b).Map(t)
	pid, tok := pk["id"].(string), pk["access_token"].(string)
	if pk["sender"] != "vendor@post.example" || pk["portal_id"] != id {
		t.Fatalf("portal package = %v", pk)
	}

	// Files: type (case-insensitive, double and trailing-dot extensions),
	// declared size, size, count, package size.
	add := func(name string, size any) resp {
		return e.do("POST", "/v1/packages/"+pid+"/files", map[string]any{"kind": "file", "name": name, "size": size, "chunk_size": 64 << 10}, ptok(tok))
	}
	for _, c := range []struct {
		name   string
		size   any
		status int
		words  string
	}{
		{"Setup.EXE", 10, 400, "not accepted"},
		{"movie.mp4.exe", 10, 400, "not accepted"},
		{"run.bat.", 10, 400, "not accepted"},
		{"clip.mov", nil, 400, "declare the file's size"},
		{"big.mov", 200_001, 413, "at most 195.3 KiB"},
	} {
		r := add(c.name, c.size)
		if r.Status != c.status || !strings.Contains(r.ErrMsg(t), c.words) {
			t.Errorf("file %s: %d %s", c.name, r.Status, r.Body)
		}
	}
	e.must(201, "POST", "/v1/packages/"+pid+"/files", map[string]any{"kind": "file", "name": "a.exe.mov", "size": 150_000, "chunk_size": 64 << 10}, ptok(tok))
	if r := add("b.mov", 150_001); r.Status != 413 || !strings.Contains(r.ErrMsg(t), "packages of at most") {
		t.Fatalf("package size: %d %s", r.Status, r.Body)
	}
	e.must(201, "POST", "/v1/packages/"+pid+"/files", map[string]any{"kind": "file", "name": "b.mov", "size": 10, "chunk_size": 64 << 10}, ptok(tok))
	if r := add("c.mov", 10); r.Status != 400 || !strings.Contains(r.ErrMsg(t), "at most 2 files") {
		t.Fatalf("file count: %d %s", r.Status, r.Body)
	}

	// An empty received package is not finalized (it would only mail its
	// receipt and notifications).
	empty := e.portalPackage(201, id, good, b).Map(t)
	if r := e.must(400, "POST", "/v1/packages/"+empty["id"].(string)+"/finalize", nil, ptok(empty["access_token"].(string))); !strings.Contains(r.ErrMsg(t), "at least one file") {
		t.Fatalf("empty finalize: %s", r.Body)
	}

	// Inactive and expired portals refuse uploads.
	e.must(200, "PUT", "/v1/portals/"+id, map[string]any{"active": false}, userToken(o.Token))
	if r := e.portalPackage(403, id, good, b); !strings.Contains(r.ErrMsg(t), "not accepting uploads") {
		t.Fatalf("inactive: %s", r.Body)
	}
	e.must(403, "POST", "/v1/packages/"+pid+"/files", map[string]any{"kind": "file", "name": "late.mov", "size": 1, "chunk_size": 64 << 10}, ptok(tok))
	e.must(200, "PUT", "/v1/portals/"+id, map[string]any{"active": true, "expiry_enabled": true, "expiry": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, userToken(o.Token))
	e.portalPackage(201, id, good, b)
	e.must(404, "POST", "/v1/portals/01M8EJ1T16ZPHT2JP7QXFXTCM8/packages", good)
}

// TestPortalAccessCodeParallelGuesses: guesses sent at once are charged
// before any is checked.
func TestPortalAccessCodeParallelGuesses(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	id := e.portal(o.Token, map[string]any{"access_code": "open up"})["id"].(string)
	var wg sync.WaitGroup
	var checked, limited atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch e.do("POST", "/v1/portals/"+id+"/packages", map[string]any{"name": "x", "sender": "v@post.example", "access_code": "guess"}).Status {
			case 401:
				checked.Add(1)
			case 429:
				limited.Add(1)
			}
		}()
	}
	wg.Wait()
	if checked.Load() != 5 || limited.Load() != 15 {
		t.Fatalf("%d checked, %d limited; want 5 and 15", checked.Load(), limited.Load())
	}
}

// TestPortalForms: a portal with a form refuses packages without a valid,
// unused response; the response's package fields fill the package.
func TestPortalForms(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	id := e.portal(o.Token, nil)["id"].(string)
	f := e.must(201, "POST", "/v1/portals/"+id+"/form", map[string]any{"name": "Delivery", "delivery_formats": []string{"json"}}, userToken(o.Token)).Map(t)
	if fs := f["fields"].([]any); len(fs) != 3 || fs[0].(map[string]any)["type"] != "sender_email" {
		t.Fatalf("default fields = %v", f["fields"])
	}
	e.must(409, "POST", "/v1/portals/"+id+"/form", map[string]any{"name": "Again"}, userToken(o.Token))
	e.must(200, "PUT", "/v1/portals/"+id+"/form", map[string]any{"name": "Delivery", "delivery_formats": []string{"json", "csv"}, "fields": []map[string]any{
		{"name": "sender_email", "label": "Email", "type": "sender_email", "visibility": "required"},
		{"name": "package_name", "label": "Title", "type": "package_name", "visibility": "required"},
		{"name": "camera", "label": "Camera", "type": "dropdown", "visibility": "required", "options": []string{"Alexa", "Venice"}},
		{"name": "reels", "label": "Reels", "type": "number", "visibility": "optional"},
	}}, userToken(o.Token))
	respond := func(want int, values map[string]any) resp {
		return e.must(want, "POST", "/v1/portals/"+id+"/form/responses", map[string]any{"values": values})
	}
	for _, c := range []struct {
		values map[string]any
		field  string
	}{
		{map[string]any{"package_name": "Day 1", "camera": "Alexa"}, "sender_email"},
		{map[string]any{"sender_email": "v@post.example", "package_name": "Day 1", "camera": "RED"}, "camera"},
		{map[string]any{"sender_email": "v@post.example", "package_name": "Day 1", "camera": "Alexa", "reels": 1.5}, "reels"},
		{map[string]any{"sender_email": "v@post.example", "package_name": "Day 1", "camera": "Alexa", "lens": "50mm"}, "lens"},
	} {
		if r := respond(400, c.values); r.errField(t) != c.field {
			t.Errorf("%v: %s", c.values, r.Body)
		}
	}
	rid := respond(201, map[string]any{"sender_email": "V@Post.example", "package_name": "Day 1", "camera": "Venice", "reels": 3}).Map(t)["id"].(string)
	if r := e.portalPackage(400, id, map[string]any{"name": "x", "sender": "v@post.example"}); r.errField(t) != "form_data_id" {
		t.Fatalf("without a response: %s", r.Body)
	}
	pk := e.portalPackage(201, id, map[string]any{"form_data_id": rid}).Map(t)
	if pk["name"] != "Day 1" || pk["sender"] != "v@post.example" {
		t.Fatalf("package from the response = %v", pk)
	}
	if r := e.portalPackage(400, id, map[string]any{"form_data_id": rid}); !strings.Contains(r.ErrMsg(t), "used for another package") {
		t.Fatalf("reused response: %s", r.Body)
	}
	other := e.portal(o.Token, nil)["id"].(string)
	if r := e.portalPackage(400, other, map[string]any{"name": "x", "sender": "v@post.example", "form_data_id": rid}); r.errField(t) != "form_data_id" {
		t.Fatalf("another portal's response: %s", r.Body)
	}

	// Delivery; a sender's own metadata.json is kept and the form's is
	// numbered.
	tok := pk["access_token"].(string)
	pid := pk["id"].(string)
	u := e.addFile(pid, tok, "metadata.json", []byte(`{"mine":true}`), 64<<10)
	if r := u.finalize([]string{u.put(u.partURLs(0, 1)[0], 1)}, 13); r.Status != 200 {
		t.Fatal(string(r.Body))
	}
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, ptok(tok))
	full := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+pid, nil, userToken(o.Token)).Map(t)["access_token"].(string)
	names := map[string]string{}
	for _, f := range e.must(200, "GET", "/v1/packages/"+pid+"/files", nil, ptok(full)).array(t) {
		names[f["name"].(string)] = f["id"].(string)
	}
	if names["metadata.json"] == "" || names["metadata (2).json"] == "" || names["metadata.csv"] == "" {
		t.Fatalf("files = %v", names)
	}
	if got := string(e.raw("GET", e.fileURL(pid, names["metadata.json"], full), nil, -2).Body); got != `{"mine":true}` {
		t.Fatalf("the sender's metadata.json = %q", got)
	}
	if got := string(e.raw("GET", e.fileURL(pid, names["metadata (2).json"], full), nil, -2).Body); !strings.Contains(got, `"camera":"Venice"`) && !strings.Contains(got, `"camera": "Venice"`) {
		t.Fatalf("the form's metadata = %s", got)
	}
	// The portal's activities: the upload and the recipients' links.
	var acts struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/activities?portals[]="+id+"&activity_types[]=package_upload_to_masv", nil, userToken(o.Token)).JSON(t, &acts)
	if len(acts.Records) != 1 || acts.Records[0]["package_id"] != pid || acts.Records[0]["activity_state"] != "complete" {
		t.Fatalf("portal activities = %v", acts.Records)
	}
	e.must(204, "DELETE", "/v1/portals/"+id+"/form", nil, userToken(o.Token))
	e.portalPackage(201, id, map[string]any{"name": "No form now", "sender": "v@post.example"})
}

// TestInboxVisibility: received packages follow their portal: a
// teamspace's portal is seen by its members (and owner, admins), a private
// portal's by its access list only, any other by the team but guests.
func TestInboxVisibility(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	inSpace := e.addPerson(o.Token, "in@studio.example", core.RoleMember)
	outside := e.addPerson(o.Token, "out@studio.example", core.RoleMember)
	guest := e.addPerson(o.Token, "guest@studio.example", core.RoleGuest)
	space := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/spaces", map[string]any{"name": "Editorial", "member_ids": []string{inSpace.MemberID}}, userToken(o.Token)).Map(t)["id"].(string)
	send := func(fields map[string]any) string {
		id := e.portal(o.Token, fields)["id"].(string)
		body := map[string]any{"name": "from " + id[20:], "sender": "v@post.example"}
		if fields["access_code"] != nil {
			body["access_code"] = fields["access_code"]
		}
		return e.portalPackage(201, id, body).Map(t)["id"].(string)
	}
	open := send(nil)
	spaced := send(map[string]any{"teamspace_id": space})
	private := send(map[string]any{"access_level": "private", "access_code": "pc", "access_list": []string{outside.MemberID}})
	sees := func(p *person) map[string]bool {
		var l struct {
			Records []map[string]any `json:"records"`
		}
		e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/inbox?status[]=new", nil, userToken(p.Token)).JSON(t, &l)
		out := map[string]bool{}
		for _, r := range l.Records {
			out[r["id"].(string)] = true
		}
		return out
	}
	for _, c := range []struct {
		who  *person
		want []string
	}{
		{o, []string{open, spaced}},
		{inSpace, []string{open, spaced}},
		{outside, []string{open, private}},
		{guest, nil},
	} {
		got := sees(c.who)
		if len(got) != len(c.want) {
			t.Errorf("%s sees %v, want %v", c.who.Email, got, c.want)
		}
		for _, w := range c.want {
			if !got[w] {
				t.Errorf("%s does not see %s", c.who.Email, w)
			}
		}
	}
	e.must(403, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+private, nil, userToken(o.Token))
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+private, nil, userToken(outside.Token))
	// Deleting a portal never widens who reads its packages: they fall
	// back to the owner and admins (and the package's teamspace).
	var portals struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/portals?limit=100", nil, userToken(o.Token)).JSON(t, &portals)
	for _, pt := range portals.Records {
		e.must(204, "DELETE", "/v1/portals/"+pt["id"].(string), nil, userToken(o.Token))
	}
	e.must(403, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+private, nil, userToken(inSpace.Token))
	e.must(403, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+open, nil, userToken(outside.Token))
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+spaced, nil, userToken(inSpace.Token))
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+private, nil, userToken(o.Token))
	// The inbox holds only received packages, the package list only the
	// team's own.
	own, _ := e.newPackage(userToken(o.Token), "not received")
	if sees(o)[own] {
		t.Fatal("a team package is in the inbox")
	}
	var sent struct {
		Records []map[string]any `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages?status[]=new", nil, userToken(o.Token)).JSON(t, &sent)
	if len(sent.Records) != 1 || sent.Records[0]["id"] != own {
		t.Fatalf("the package list = %v", sent.Records)
	}
}

// TestPortalUserAuthAndPublicFace: a portal for members only wants a
// login; the public face shows what an upload page needs and no secret.
func TestPortalUserAuthAndPublicFace(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	p := e.portal(o.Token, map[string]any{"subdomain": "members-only", "user_authentication_required": true, "access_code": "s3cr3t-code",
		"recipients": []string{"boss@studio.example"}, "download_password": "dl-s3cret"})
	id := p["id"].(string)
	e.portalPackage(401, id, map[string]any{"name": "x", "sender": "v@post.example", "access_code": "s3cr3t-code"})
	created := e.portalPackage(201, id, map[string]any{"name": "x", "access_code": "s3cr3t-code"}, userToken(o.Token))
	if bytes.Contains(created.Body, []byte("boss@studio.example")) {
		t.Fatalf("the sender sees the studio's recipients: %s", created.Body)
	}
	pk := created.Map(t)
	if pk["sender"] != ownerEmail {
		t.Fatalf("member's portal package = %v", pk)
	}
	pub := e.must(200, "GET", "/v1/subdomains/portals/Members-Only", nil)
	for _, secret := range []string{"s3cr3t-code", "dl-s3cret", "boss@studio.example", "argon2"} {
		if bytes.Contains(pub.Body, []byte(secret)) {
			t.Fatalf("the public face shows %q: %s", secret, pub.Body)
		}
	}
	m := pub.Map(t)
	if m["id"] != id || m["has_access_code"] != true || m["accepting_uploads"] != true || m["user_authentication_required"] != true {
		t.Fatalf("public face = %v", m)
	}
	e.must(404, "GET", "/v1/subdomains/portals/nobody-here", nil)
}

// TestPortalCannotTakeHaulsAddress: with public_url http://transfer.test
// and portal_domain test, no portal may be "transfer" (it would be haul's
// own host, and its page would replace haul's).
func TestPortalCannotTakeHaulsAddress(t *testing.T) {
	var addr string
	e := newEnv(t, func(o *envOptions) {
		o.config.PortalDomain = "test"
		o.serveOn = func(ln net.Listener) (net.Listener, string) {
			addr = ln.Addr().String()
			return ln, "http://transfer.test:" + strconv.Itoa(portNum(addr))
		}
		d := &net.Dialer{}
		o.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}}
	})
	o := e.owner()
	r := e.must(400, "POST", "/v1/teams/"+e.TeamID+"/portals", map[string]any{"name": "Sneaky", "subdomain": "transfer"}, userToken(o.Token))
	if r.errField(t) != "subdomain" || !strings.Contains(r.ErrMsg(t), "haul's own address") {
		t.Fatalf("a portal on haul's host: %s", r.Body)
	}
	e.portal(o.Token, map[string]any{"subdomain": "vendors"})
}
