package httpd_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"haul/core"
)

// The portal and form of the portals issue's "Done when", end to end over
// HTTP: the studio sets up a portal with every rule and a form with every
// field type; an outside sender answers the form with tricky values,
// creates a package through the portal and uploads into it; the studio
// finds the package in its inbox with the answers delivered as
// metadata.json, metadata.csv and metadata.xml, and a link per recipient.

const (
	peAccessCode = "let-me-in-4242"
	peDLPassword = "download-secret-77"
	peSubdomain  = "dailies-e2e"
	pePortalName = "Dailies Drop Ünïcode"
)

var peRecipients = []string{"producer@studio.example", "editor@studio.example"}

// pePortal is a portal set up by the owner with its form.
type pePortal struct {
	ID     string
	Owner  *person
	Portal map[string]any
	Form   map[string]any
}

// peSetup creates the portal (every rule on) and its form (every field
// type) as the owner.
func peSetup(t *testing.T, e *env) *pePortal {
	t.Helper()
	o := e.owner()
	body := map[string]any{
		"name": pePortalName, "subdomain": strings.ToUpper(peSubdomain), "message": "Send your dailies here.",
		"active": true, "access_code": peAccessCode, "download_password": peDLPassword,
		"recipients":                    []string{"Producer@Studio.example", "editor@studio.example", "producer@studio.example"},
		"file_type_restriction_enabled": true, "file_types": []string{".mov", "BIN"},
		"package_size_restriction_enabled": true, "max_file_count": 3, "max_file_size": 1 << 20, "max_package_size": 2 << 20,
		"package_name_format_enabled": true,
		"package_name_format":         map[string]string{"value": "[A-Z]{3}-[0-9]{4}.*", "label": "SHOW-0001 Title"},
		"terms_of_service_enabled":    true,
		"terms_of_service": map[string]string{"title": "Delivery terms", "description": "You own what you send.",
			"checkbox_label": "I accept the delivery terms", "checkbox_url": "https://studio.example/terms"},
	}
	pt := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/portals", body, userToken(o.Token)).Map(t)
	if pt["subdomain"] != peSubdomain || pt["active"] != true || pt["has_access_code"] != true || pt["has_download_password"] != true {
		t.Fatalf("created portal = %v", pt)
	}
	if got := peStrings(pt["recipients"]); !slices.Equal(got, peRecipients) {
		t.Fatalf("portal recipients = %v, want %v (normalized, deduplicated)", got, peRecipients)
	}
	if got := peStrings(pt["file_types"]); !slices.Equal(got, []string{".mov", ".bin"}) {
		t.Fatalf("portal file_types = %v", got)
	}
	raw := e.must(200, "GET", "/v1.1/portals/"+pt["id"].(string), nil, apiKey(o.APIKey))
	for _, secret := range []string{peAccessCode, peDLPassword, "argon2", "access_code_hash", "download_password_hash"} {
		if bytes.Contains(raw.Body, []byte(secret)) {
			t.Errorf("the owner's portal view holds %q: %s", secret, raw.Body)
		}
	}

	fields := []map[string]any{
		{"name": "deliverables", "label": "Deliverables", "type": "checkbox", "visibility": "required", "options": []string{"ProRes", "DNxHR", "H.264"}, "position": 0},
		{"name": "priority", "label": "Priority", "type": "radio", "visibility": "required", "options": []string{"Low", "High"}, "position": 1},
		{"name": "camera", "label": "Camera", "type": "dropdown", "visibility": "optional", "options": []string{"ARRI", "RED", "Sony"}, "position": 2},
		{"name": "shoot_date", "label": "Shoot date", "type": "date", "visibility": "required", "position": 3},
		{"name": "title", "label": "Title", "type": "short_text", "visibility": "required", "position": 4},
		{"name": "notes", "label": "Notes", "type": "long_text", "visibility": "optional", "position": 5},
		{"name": "reel_count", "label": "Reel offset", "type": "number", "visibility": "optional", "position": 6},
		{"name": "spec_url", "label": "Delivery spec", "type": "url", "visibility": "readonly", "default_value": "https://studio.example/spec?a=1&b=2", "position": 7},
		{"name": "contact", "label": "Contact", "type": "email", "visibility": "optional", "position": 8},
		{"name": "pkg_name", "label": "Package name", "type": "package_name", "visibility": "required", "position": 9},
		{"name": "pkg_desc", "label": "Package description", "type": "package_description", "visibility": "optional", "position": 10},
		{"name": "sender", "label": "Your email", "type": "sender_email", "visibility": "required", "position": 11},
		{"name": "studio_code", "label": "Studio code", "type": "short_text", "visibility": "hidden", "default_value": "@internal-007", "position": 12},
		{"name": "unused", "label": "Left empty", "type": "short_text", "visibility": "optional", "position": 13},
	}
	def := map[string]any{"name": "Dailies metadata", "delivery_formats": []string{"json", "csv", "xml", "email_body"}, "fields": fields}
	f := e.must(201, "POST", "/v1/portals/"+pt["id"].(string)+"/form", def, apiKey(o.APIKey)).Map(t)
	if got := peStrings(f["delivery_formats"]); !slices.Equal(got, []string{"json", "csv", "xml", "email_body"}) {
		t.Fatalf("form delivery_formats = %v", got)
	}
	if fs, _ := f["fields"].([]any); len(fs) != len(fields) {
		t.Fatalf("form fields = %v", f["fields"])
	}
	e.must(409, "POST", "/v1/portals/"+pt["id"].(string)+"/form", def, apiKey(o.APIKey))
	return &pePortal{ID: pt["id"].(string), Owner: o, Portal: pt, Form: f}
}

func peStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// The sender's answers, and what each field must hold once delivered (the
// normalized value as text; checkbox choices joined with "; ").
const (
	peTitle    = `=HYPERLINK("http://evil.example/?q=1","Click me")`
	peNotesIn  = "<script>alert('x')</script>&\"'\r\nSecond line — café ☕ 撮影\r\n\tindented"
	peNotes    = "<script>alert('x')</script>&\"'\nSecond line — café ☕ 撮影\n\tindented"
	pePkgName  = "ABC-0042 Über Take"
	pePkgDesc  = "+SUM(A1:A9) and -1 more; naïve"
	peSenderIn = "  Sender.Person@Example.ORG "
	peSender   = "sender.person@example.org"
	peSpecURL  = "https://studio.example/spec?a=1&b=2"
)

var peValues = map[string]any{
	"deliverables": []string{"H.264", "ProRes"}, // given out of option order
	"Priority":     "High",                      // keys match case-insensitively
	"camera":       " RED ",
	"shoot_date":   "2026/03/14",
	"title":        peTitle,
	"notes":        peNotesIn,
	"reel_count":   -42,
	"contact":      "Contact.Person@Example.COM",
	"pkg_name":     pePkgName,
	"pkg_desc":     pePkgDesc,
	"sender":       peSenderIn,
	"unused":       "   ",
}

// peWant is every field's delivered value: type, JSON value, and the
// values as text (XML <value>s; CSV joins them with "; ").
type peWantField struct {
	name, typ string
	json      any // as encoding/json decodes with UseNumber
	texts     []string
}

var peWant = []peWantField{
	{"deliverables", "checkbox", []any{"ProRes", "H.264"}, []string{"ProRes", "H.264"}},
	{"priority", "radio", "High", []string{"High"}},
	{"camera", "dropdown", "RED", []string{"RED"}},
	{"shoot_date", "date", "2026-03-14", []string{"2026-03-14"}},
	{"title", "short_text", peTitle, []string{peTitle}},
	{"notes", "long_text", peNotes, []string{peNotes}},
	{"reel_count", "number", json.Number("-42"), []string{"-42"}},
	{"spec_url", "url", peSpecURL, []string{peSpecURL}},
	{"contact", "email", "contact.person@example.com", []string{"contact.person@example.com"}},
	{"pkg_name", "package_name", pePkgName, []string{pePkgName}},
	{"pkg_desc", "package_description", pePkgDesc, []string{pePkgDesc}},
	{"sender", "sender_email", peSender, []string{peSender}},
	{"studio_code", "short_text", "@internal-007", []string{"@internal-007"}},
	{"unused", "short_text", nil, nil},
}

// peCSV is what a CSV cell must hold for a text: formula characters
// neutralized by a single quote.
func peCSV(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func TestE2EPortalWithForm(t *testing.T) { e2ePortalWithForm(t, newEnv(t)) }

func e2ePortalWithForm(t *testing.T, e *env) {
	pp := peSetup(t, e)
	pid0 := pp.ID

	// The public face: no secret, no people.
	pub := e.must(200, "GET", "/v1/subdomains/portals/"+strings.ToUpper(peSubdomain), nil)
	for _, secret := range append([]string{peAccessCode, peDLPassword, "argon2", "hash", "recipients", "access_list", "creator", "@internal-007"}, peRecipients...) {
		if bytes.Contains(bytes.ToLower(pub.Body), []byte(strings.ToLower(secret))) {
			t.Errorf("the public portal holds %q: %s", secret, pub.Body)
		}
	}
	pm := pub.Map(t)
	if pm["id"] != pid0 || pm["name"] != pePortalName || pm["accepting_uploads"] != true || pm["has_access_code"] != true ||
		pm["team"] != "Studio" || pm["package_name_format_enabled"] != true || pm["terms_of_service_enabled"] != true {
		t.Fatalf("public portal = %v", pm)
	}
	if nf, _ := pm["package_name_format"].(map[string]any); nf["label"] != "SHOW-0001 Title" {
		t.Fatalf("public name format = %v", pm["package_name_format"])
	}
	if f, _ := pm["form"].(map[string]any); f == nil || len(f["fields"].([]any)) != len(peWant) {
		t.Fatalf("public form = %v", pm["form"])
	}
	e.must(404, "GET", "/v1/subdomains/portals/no-such-portal", nil)

	// Answering the form: refusals first (a value for the read-only url
	// field that differs from its default, an unknown field, a missing
	// required field), then the real answer.
	bad := func(field string, change func(map[string]any)) {
		t.Helper()
		v := map[string]any{}
		for k, x := range peValues {
			v[k] = x
		}
		change(v)
		r := e.must(400, "POST", "/v1/portals/"+pid0+"/form/responses", map[string]any{"values": v})
		if got := r.errField(t); got != field {
			t.Errorf("bad answer: field %q, want %q: %s", got, field, r.Body)
		}
	}
	bad("spec_url", func(v map[string]any) { v["spec_url"] = "https://evil.example/" })
	bad("nope", func(v map[string]any) { v["nope"] = "x" })
	bad("title", func(v map[string]any) { delete(v, "title") })
	bad("reel_count", func(v map[string]any) { v["reel_count"] = 1.5 })
	resp := e.must(201, "POST", "/v1/portals/"+pid0+"/form/responses", map[string]any{"values": peValues}).Map(t)
	formDataID, _ := resp["id"].(string)
	if formDataID == "" {
		t.Fatalf("form response = %v", resp)
	}

	// Creating the package: the access code (401 without or wrong), the
	// terms, the name's format, then the real one.
	create := map[string]any{"name": pePkgName, "sender": peSenderIn, "access_code": peAccessCode, "form_data_id": formDataID, "terms_accepted": true}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range create {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	e.must(401, "POST", "/v1/portals/"+pid0+"/packages", with("access_code", nil))
	e.must(401, "POST", "/v1/portals/"+pid0+"/packages", with("access_code", "wrong-code"))
	if r := e.must(400, "POST", "/v1/portals/"+pid0+"/packages", with("terms_accepted", false)); r.errField(t) != "terms_accepted" {
		t.Errorf("terms not accepted: %s", r.Body)
	}
	if r := e.must(400, "POST", "/v1/portals/"+pid0+"/packages", with("name", "abc-0042 lower case")); !strings.Contains(r.ErrMsg(t), "SHOW-0001 Title") {
		t.Errorf("name off format: %s", r.Body)
	}
	pk := e.must(201, "POST", "/v1/portals/"+pid0+"/packages", with("access_code", nil), header("X-Access-Code", peAccessCode)).Map(t)
	pid, stok := pk["id"].(string), pk["access_token"].(string)
	if pid == "" || stok == "" || pk["name"] != pePkgName || pk["sender"] != peSender || pk["state"] != "new" || pk["has_password"] != true {
		t.Fatalf("portal package = %v", pk)
	}
	if r := e.must(400, "POST", "/v1/portals/"+pid0+"/packages", create); r.errField(t) != "form_data_id" {
		t.Errorf("a used form response: %s", r.Body)
	}

	// Uploading as the sender: the portal's rules apply to files.
	if r := e.do("POST", "/v1/packages/"+pid+"/files", map[string]any{"kind": "file", "name": "notes.txt", "path": "", "size": 10, "chunk_size": 64 << 10}, ptok(stok)); r.Status != 400 {
		t.Errorf("a file type off the allow-list: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", "/v1/packages/"+pid+"/files", map[string]any{"kind": "file", "name": "huge.mov", "path": "", "size": 2 << 20, "chunk_size": 1 << 20}, ptok(stok)); r.Status != 413 {
		t.Errorf("a file over max_file_size: %d %s", r.Status, r.Body)
	}
	files := map[string][]byte{"A001_C002.mov": randomData(71, 300_000), "take2.BIN": randomData(72, 150_001)}
	digests := map[string]string{}
	for _, name := range []string{"A001_C002.mov", "take2.BIN"} {
		u := e.addFile(pid, stok, name, files[name], 64<<10)
		urls := u.partURLs(0, u.parts())
		etags := make([]string, len(urls))
		for i, url := range urls {
			etags[i] = u.put(url, i+1)
		}
		if r := u.finalize(etags, len(u.data)); r.Status != 200 || r.Map(t)["digest"] != u.wantDigest() {
			t.Fatalf("finalize %s: %d %s", name, r.Status, r.Body)
		}
		digests[name] = u.wantDigest()
	}
	// While uploading the sender sees the package's files, but manages
	// nothing.
	if l := e.must(200, "GET", "/v1/packages/"+pid+"/files", nil, ptok(stok)).array(t); len(l) != 2 {
		t.Errorf("files while uploading = %v", l)
	}
	e.must(403, "GET", "/v1/packages/"+pid+"/links", nil, ptok(stok))
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, ptok(stok))
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, ptok(stok)) // a retry

	// The sender's token after finalize: no links, expiry, change,
	// deletion, download nor listing.
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/packages/" + pid + "/links", map[string]any{"email": "thief@elsewhere.example"}},
		{"POST", "/v1/packages/" + pid + "/links", map[string]any{}},
		{"GET", "/v1/packages/" + pid + "/links", nil},
		{"PUT", "/v1/packages/" + pid + "/expiry", map[string]any{"expiry": future}},
		{"PUT", "/v1/packages/" + pid, map[string]any{"name": "ABC-0042 renamed"}},
		{"DELETE", "/v1/packages/" + pid, nil},
		{"GET", "/v1/packages/" + pid + "/files/zip/download", nil},
		{"GET", "/v1/packages/" + pid + "/files", nil},
	} {
		if r := e.do(c.method, c.path, c.body, ptok(stok)); r.Status != 403 {
			t.Errorf("%s %s with the sender's token after finalize: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}

	// The studio: the package is in the inbox.
	o := pp.Owner
	var inbox struct {
		Metadata struct{ Total int }
		Records  []map[string]any
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/inbox", nil, userToken(o.Token)).JSON(t, &inbox)
	var got map[string]any
	for _, r := range inbox.Records {
		if r["id"] == pid {
			got = r
		}
	}
	if got == nil || inbox.Metadata.Total != 1 || got["state"] != "finalized" || got["sender"] != peSender || got["total_files"] != 5.0 {
		t.Fatalf("inbox = %+v", inbox)
	}
	if n := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/inbox?portal="+strings.ReplaceAll(strings.ToLower(pePortalName), " ", "%20"), nil, userToken(o.Token)).Map(t)["metadata"].(map[string]any)["total"]; n != 1.0 {
		t.Errorf("inbox filtered by portal name: total %v", n)
	}
	full := e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+pid, nil, userToken(o.Token)).Map(t)["access_token"].(string)

	// The files: the sender's two and the three metadata files at the top.
	list := e.must(200, "GET", "/v1/packages/"+pid+"/files", nil, ptok(full)).array(t)
	meta := map[string]string{}
	for _, f := range list {
		name, _ := f["name"].(string)
		switch {
		case f["kind"] == "zip_windows":
		case digests[name] != "":
			if f["digest"] != digests[name] {
				t.Errorf("%s: digest %v, want %s", name, f["digest"], digests[name])
			}
		case strings.HasPrefix(name, "metadata."):
			if f["path"] != "" || f["state"] != "finalized" {
				t.Errorf("metadata file %v", f)
			}
			meta[name] = f["id"].(string)
		default:
			t.Errorf("unexpected file %v", f)
		}
	}
	if len(meta) != 3 || meta["metadata.json"] == "" || meta["metadata.csv"] == "" || meta["metadata.xml"] == "" {
		t.Fatalf("metadata files = %v (files %v)", meta, list)
	}
	fetch := func(name string) []byte {
		t.Helper()
		r := e.raw("GET", e.fileURL(pid, meta[name], full), nil, -2)
		if r.Status != 200 {
			t.Fatalf("download %s: %d %s", name, r.Status, r.Body)
		}
		return r.Body
	}
	peCheckJSON(t, fetch("metadata.json"), pid)
	peCheckCSV(t, fetch("metadata.csv"), pid)
	peCheckXML(t, fetch("metadata.xml"), pid)

	// The email body for the notifications: one line per present field,
	// long text continued on indented lines (no forged lines; a tab
	// becomes a space).
	var stored *core.Package
	if err := e.Meta.View(context.Background(), func(tx core.Tx) error {
		var err error
		stored, err = tx.Package(pid)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	wantBody := "Deliverables: ProRes, H.264\nPriority: High\nCamera: RED\nShoot date: 2026-03-14\nTitle: " + peTitle +
		"\nNotes: <script>alert('x')</script>&\"'\n  Second line — café ☕ 撮影\n   indented\nReel offset: -42\nDelivery spec: " + peSpecURL +
		"\nContact: contact.person@example.com\nPackage name: " + pePkgName + "\nPackage description: " + pePkgDesc +
		"\nYour email: " + peSender + "\nStudio code: @internal-007\n"
	if stored.FormEmailBody != wantBody {
		t.Errorf("email body =\n%s\nwant\n%s", stored.FormEmailBody, wantBody)
	}

	// One link per recipient, made at finalize, with the portal's
	// download password.
	links := e.must(200, "GET", "/v1/packages/"+pid+"/links", nil, ptok(full)).array(t)
	var emails []string
	for _, l := range links {
		emails = append(emails, fmt.Sprint(l["email"]))
		if l["password"] != "****" || l["active"] != true {
			t.Errorf("recipient link = %v", l)
		}
	}
	slices.Sort(emails)
	want := slices.Sorted(slices.Values(peRecipients))
	if !slices.Equal(emails, want) {
		t.Fatalf("recipient links for %v, want %v", emails, want)
	}
	// The link opens with the portal's download password only.
	l0 := links[0]
	e.must(401, "GET", "/v1/links/"+l0["id"].(string)+"?secret="+l0["download_secret"].(string), nil)
	dtok := e.openLink(l0["id"].(string), l0["download_secret"].(string), peDLPassword)
	if b := e.raw("GET", e.fileURL(pid, meta["metadata.json"], dtok), nil, -2); b.Status != 200 || !bytes.Contains(b.Body, []byte(pid)) {
		t.Errorf("metadata.json through a recipient's link: %d", b.Status)
	}
}

// peCheckJSON parses metadata.json and checks every value.
func peCheckJSON(t *testing.T, b []byte, pid string) {
	t.Helper()
	var doc struct {
		Form        string `json:"form"`
		PackageID   string `json:"package_id"`
		PackageName string `json:"package_name"`
		Sender      string `json:"sender"`
		SubmittedAt string `json:"submitted_at"`
		Fields      []struct {
			Name, Label, Type string
			Value             any
		} `json:"fields"`
		Values map[string]any `json:"values"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("metadata.json: %v\n%s", err, b)
	}
	if doc.Form != "Dailies metadata" || doc.PackageID != pid || doc.PackageName != pePkgName || doc.Sender != peSender {
		t.Errorf("metadata.json context: %+v", doc)
	}
	if ts, err := time.Parse(time.RFC3339, doc.SubmittedAt); err != nil || time.Since(ts) > time.Minute || time.Since(ts) < -time.Minute {
		t.Errorf("metadata.json submitted_at %q", doc.SubmittedAt)
	}
	if len(doc.Fields) != len(peWant) {
		t.Fatalf("metadata.json: %d fields, want %d:\n%s", len(doc.Fields), len(peWant), b)
	}
	for i, w := range peWant {
		f := doc.Fields[i]
		if f.Name != w.name || f.Type != w.typ || !peEqual(f.Value, w.json) {
			t.Errorf("metadata.json field %d = %s %s %#v, want %s %s %#v", i, f.Name, f.Type, f.Value, w.name, w.typ, w.json)
		}
		v, ok := doc.Values[w.name]
		if w.json == nil {
			if ok {
				t.Errorf("metadata.json values[%s] = %#v, want absent", w.name, v)
			}
		} else if !peEqual(v, w.json) {
			t.Errorf("metadata.json values[%s] = %#v, want %#v", w.name, v, w.json)
		}
	}
	if len(doc.Values) != len(peWant)-1 {
		t.Errorf("metadata.json values = %v", doc.Values)
	}
}

func peEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// peCheckCSV parses metadata.csv and checks every row.
func peCheckCSV(t *testing.T, b []byte, pid string) {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("metadata.csv: %v\n%s", err, b)
	}
	want := [][]string{{"name", "label", "type", "value"}, {"_form", "Form", "meta", "Dailies metadata"}, {"_package_id", "Package ID", "meta", pid},
		{"_package_name", "Package Name", "meta", pePkgName}, {"_sender", "Sender", "meta", peSender}}
	if len(rows) != len(want)+1+len(peWant) {
		t.Fatalf("metadata.csv: %d rows, want %d:\n%s", len(rows), len(want)+1+len(peWant), b)
	}
	for i, w := range want {
		if !slices.Equal(rows[i], w) {
			t.Errorf("metadata.csv row %d = %q, want %q", i, rows[i], w)
		}
	}
	if r := rows[len(want)]; r[0] != "_submitted_at" || len(r) != 4 {
		t.Errorf("metadata.csv submitted_at row %q", r)
	} else if _, err := time.Parse(time.RFC3339, r[3]); err != nil {
		t.Errorf("metadata.csv submitted_at %q: %v", r[3], err)
	}
	for i, w := range peWant {
		r := rows[len(want)+1+i]
		cell := peCSV(strings.Join(w.texts, "; "))
		if len(r) != 4 || r[0] != w.name || r[2] != w.typ || r[3] != cell {
			t.Errorf("metadata.csv row of %s = %q, want value %q", w.name, r, cell)
		}
	}
	// The injections, spelled out.
	for _, cell := range []string{"'" + peTitle, "'" + pePkgDesc, "'-42", "'@internal-007"} {
		if !slices.ContainsFunc(rows, func(r []string) bool { return r[3] == cell }) {
			t.Errorf("metadata.csv lacks the neutralized cell %q", cell)
		}
	}
}

// peCheckXML parses metadata.xml and checks every field.
func peCheckXML(t *testing.T, b []byte, pid string) {
	t.Helper()
	if !bytes.HasPrefix(b, []byte(xml.Header)) {
		t.Errorf("metadata.xml without the XML header: %.80s", b)
	}
	var doc struct {
		XMLName     xml.Name `xml:"metadata"`
		Form        string   `xml:"form,attr"`
		PackageID   string   `xml:"package_id,attr"`
		PackageName string   `xml:"package_name,attr"`
		Sender      string   `xml:"sender,attr"`
		SubmittedAt string   `xml:"submitted_at,attr"`
		Fields      []struct {
			Name   string   `xml:"name,attr"`
			Label  string   `xml:"label,attr"`
			Type   string   `xml:"type,attr"`
			Values []string `xml:"value"`
		} `xml:"field"`
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("metadata.xml: %v\n%s", err, b)
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if cd, ok := tok.(xml.CharData); err != nil || !ok || len(bytes.TrimSpace(cd)) > 0 {
			t.Errorf("metadata.xml: more after the root element: %#v %v", tok, err)
			break
		}
	}
	if doc.Form != "Dailies metadata" || doc.PackageID != pid || doc.PackageName != pePkgName || doc.Sender != peSender || doc.SubmittedAt == "" {
		t.Errorf("metadata.xml context: %+v", doc)
	}
	if len(doc.Fields) != len(peWant) {
		t.Fatalf("metadata.xml: %d fields, want %d:\n%s", len(doc.Fields), len(peWant), b)
	}
	for i, w := range peWant {
		f := doc.Fields[i]
		if f.Name != w.name || f.Type != w.typ || !slices.Equal(f.Values, w.texts) {
			t.Errorf("metadata.xml field %d = %s %s %q, want %s %s %q", i, f.Name, f.Type, f.Values, w.name, w.typ, w.texts)
		}
	}
	if bytes.Contains(b, []byte("<script>")) {
		t.Errorf("metadata.xml holds a raw <script>")
	}
}

// peGetHost sends GET path with the given Host header.
func peGetHost(t *testing.T, e *env, host, path string) resp {
	t.Helper()
	req, err := http.NewRequest("GET", e.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

func TestE2EPortalHostPage(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.config.PortalDomain = "localhost" })
	pp := peSetup(t, e)
	if u, _ := pp.Portal["url"].(string); !strings.HasPrefix(u, "http://"+peSubdomain+".localhost:") {
		t.Errorf("portal url = %q", u)
	}
	port := e.URL[strings.LastIndex(e.URL, ":"):]

	for _, host := range []string{peSubdomain + ".localhost" + port, strings.ToUpper(peSubdomain) + ".LOCALHOST"} {
		r := peGetHost(t, e, host, "/")
		body := string(r.Body)
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("portal page at %s: %d %s %s", host, r.Status, r.Header.Get("Content-Type"), body)
		}
		for _, want := range []string{`<h1 id="portal-name">` + pePortalName + `</h1>`, `/ui/portal.js`, `data-portal="` + pp.ID + `"`, `name="access_code"`, "I accept the delivery terms"} {
			if !strings.Contains(body, want) {
				t.Errorf("portal page lacks %q:\n%s", want, body)
			}
		}
		for _, secret := range append([]string{peAccessCode, peDLPassword, "argon2"}, peRecipients...) {
			if strings.Contains(body, secret) {
				t.Errorf("portal page holds %q", secret)
			}
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("portal page Cache-Control %q", cc)
		}
	}

	// An unknown subdomain: a 404 page in HTML.
	r := peGetHost(t, e, "nobody-here.localhost"+port, "/")
	if r.Status != 404 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.Body), "No upload page here") {
		t.Errorf("unknown portal page: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	// The main host still serves the app; the script is served.
	if r := peGetHost(t, e, "localhost"+port, "/"); r.Status != 200 || strings.Contains(string(r.Body), "portal-name") {
		t.Errorf("main host page: %d", r.Status)
	}
	js := e.must(200, "GET", "/ui/portal.js", nil)
	if ct := js.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") || len(js.Body) == 0 {
		t.Errorf("/ui/portal.js: %q, %d bytes", ct, len(js.Body))
	}
	if r := peGetHost(t, e, peSubdomain+".localhost"+port, "/ui/portal.js"); r.Status != 200 || !bytes.Equal(r.Body, js.Body) {
		t.Errorf("/ui/portal.js on the portal host: %d", r.Status)
	}

	// An inactive portal's page says why it takes no uploads.
	e.must(200, "PUT", "/v1/portals/"+pp.ID, map[string]any{"active": false}, userToken(pp.Owner.Token))
	r = peGetHost(t, e, peSubdomain+".localhost"+port, "/")
	if r.Status != 200 || !strings.Contains(string(r.Body), `id="closed"`) || strings.Contains(string(r.Body), `id="upload-form"`) {
		t.Errorf("inactive portal page: %d %s", r.Status, r.Body)
	}
}
