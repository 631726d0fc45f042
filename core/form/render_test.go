package form_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"haul/core/form"
)

var submitted = time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("EST", -5*3600))

const submittedUTC = "2026-03-04T10:06:07Z"

// hostileDoc validates a response full of markup and formula payloads.
func hostileDoc(t *testing.T) form.Doc {
	t.Helper()
	d := testForm(t)
	d.Fields[8].Label = `Title <b>&"quoted"'s</b>`
	d.Fields[10].Label = "-Count" // label that looks like a formula
	values, err := d.Validate(map[string]any{
		"sender": "alice@example.com",
		"pkg":    `=cmd|' /C calc'!A0`,
		"desc":   "@SUM(1+1)\nsecond <line> & more\n\tindented",
		"tags":   []any{"green", "red"},
		"agree":  true,
		"size":   "S",
		"due":    "2026/01/31",
		"title":  `</value></field><field name="x">&amp;`,
		"count":  json.Number("-42"),
		// city, contact absent; terms is readonly
	})
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return form.Doc{
		FormName:    `Intake "A" & <B>`,
		PackageID:   "pkg_01H",
		PackageName: "+Dailies",
		Sender:      "alice@example.com",
		SubmittedAt: submitted,
		Fields:      d.Fields,
		Values:      values,
	}
}

// text of a Validate value as CSV/XML render it.
func asTexts(v any) []string {
	switch r := v.(type) {
	case nil:
		return nil
	case []string:
		return r
	case bool:
		return []string{strconv.FormatBool(r)}
	case int64:
		return []string{strconv.FormatInt(r, 10)}
	case string:
		return []string{r}
	}
	panic("unexpected value type")
}

func TestRenderUnknownFormat(t *testing.T) {
	if _, _, err := form.Render("pdf", form.Doc{}); err == nil {
		t.Fatal("unknown format accepted")
	}
	for f, want := range map[string]string{"json": "metadata.json", "csv": "metadata.csv", "xml": "metadata.xml", "email_body": "", "pdf": ""} {
		if got := form.FileName(f); got != want {
			t.Errorf("FileName(%q) = %q", f, got)
		}
	}
}

func TestRenderJSONRoundTrip(t *testing.T) {
	doc := hostileDoc(t)
	name, data, err := form.Render(form.FormatJSON, doc)
	if err != nil || name != "metadata.json" {
		t.Fatalf("Render: %q, %v", name, err)
	}
	var got struct {
		Form        string `json:"form"`
		PackageID   string `json:"package_id"`
		PackageName string `json:"package_name"`
		Sender      string `json:"sender"`
		SubmittedAt string `json:"submitted_at"`
		Fields      []struct {
			Name  string          `json:"name"`
			Label string          `json:"label"`
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"fields"`
		Values map[string]json.RawMessage `json:"values"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode: %v\n%s", err, data)
	}
	if got.Form != doc.FormName || got.PackageID != doc.PackageID || got.PackageName != doc.PackageName ||
		got.Sender != doc.Sender || got.SubmittedAt != submittedUTC {
		t.Errorf("header: %+v", got)
	}
	if len(got.Fields) != len(doc.Fields) {
		t.Fatalf("%d fields, want %d", len(got.Fields), len(doc.Fields))
	}
	present := 0
	for i, f := range doc.Fields {
		g := got.Fields[i]
		if g.Name != f.Name || g.Label != f.Label || g.Type != f.Type {
			t.Errorf("field %d: %+v", i, g)
		}
		want, ok := doc.Values[f.Name]
		if !ok {
			if string(g.Value) != "null" {
				t.Errorf("absent %s: value %s, want null", f.Name, g.Value)
			}
			if _, in := got.Values[f.Name]; in {
				t.Errorf("absent %s listed in values", f.Name)
			}
			continue
		}
		present++
		for _, raw := range []json.RawMessage{g.Value, got.Values[f.Name]} {
			// Decode into the Go type Validate returned: strict type check
			// (an int64 must be a JSON integer, a list a JSON array...).
			ptr := reflect.New(reflect.TypeOf(want))
			if err := json.Unmarshal(raw, ptr.Interface()); err != nil {
				t.Errorf("%s: %s does not decode as %T: %v", f.Name, raw, want, err)
				continue
			}
			if !reflect.DeepEqual(ptr.Elem().Interface(), want) {
				t.Errorf("%s: got %v, want %#v", f.Name, ptr.Elem().Interface(), want)
			}
		}
	}
	if len(got.Values) != present {
		t.Errorf("values has %d entries, want %d", len(got.Values), present)
	}
	if !bytes.Contains(data, []byte(`"count": -42`)) || !bytes.Contains(data, []byte(`"agree": true`)) {
		t.Errorf("number/bool not native JSON:\n%s", data)
	}
}

func TestRenderJSONStoredValues(t *testing.T) {
	// Values after a JSON round trip (float64, []any) render the same.
	doc := hostileDoc(t)
	_, first, _ := form.Render(form.FormatJSON, doc)
	b, _ := json.Marshal(doc.Values)
	var stored map[string]any
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	doc.Values = stored
	_, second, err := form.Render(form.FormatJSON, doc)
	if err != nil || !bytes.Equal(first, second) {
		t.Fatalf("stored values render differently (%v):\n%s\n%s", err, first, second)
	}
	for _, format := range []string{form.FormatCSV, form.FormatXML, form.FormatEmailBody} {
		a := hostileDoc(t)
		_, x, _ := form.Render(format, a)
		a.Values = stored
		_, y, _ := form.Render(format, a)
		if !bytes.Equal(x, y) {
			t.Errorf("%s: stored values render differently:\n%s\n%s", format, x, y)
		}
	}
	// Zero time renders as "".
	_, data, _ := form.Render(form.FormatJSON, form.Doc{})
	if !bytes.Contains(data, []byte(`"submitted_at": ""`)) || !bytes.Contains(data, []byte(`"fields": []`)) || !bytes.Contains(data, []byte(`"values": {}`)) {
		t.Errorf("empty doc:\n%s", data)
	}
}

func unprefix(s string) string { return strings.TrimPrefix(s, "'") }

func dangerous(s string) bool { return s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) }

func TestRenderCSVRoundTrip(t *testing.T) {
	doc := hostileDoc(t)
	name, data, err := form.Render(form.FormatCSV, doc)
	if err != nil || name != "metadata.csv" {
		t.Fatalf("Render: %q, %v", name, err)
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = 4
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(rows[0], []string{"name", "label", "type", "value"}) {
		t.Errorf("header %q", rows[0])
	}
	meta := [][]string{
		{"_form", "Form", "meta", doc.FormName},
		{"_package_id", "Package ID", "meta", "pkg_01H"},
		{"_package_name", "Package Name", "meta", "'+Dailies"},
		{"_sender", "Sender", "meta", "alice@example.com"},
		{"_submitted_at", "Submitted At", "meta", submittedUTC},
	}
	if !reflect.DeepEqual(rows[1:6], meta) {
		t.Errorf("meta rows %q", rows[1:6])
	}
	fieldRows := rows[6:]
	if len(fieldRows) != len(doc.Fields) {
		t.Fatalf("%d field rows, want %d", len(fieldRows), len(doc.Fields))
	}
	for i, f := range doc.Fields {
		row := fieldRows[i]
		if row[0] != f.Name || unprefix(row[1]) != f.Label || row[2] != f.Type {
			t.Errorf("row %d: %q", i, row)
		}
		want := strings.Join(asTexts(doc.Values[f.Name]), "; ")
		if unprefix(row[3]) != want {
			t.Errorf("%s: value %q, want %q", f.Name, row[3], want)
		}
		if dangerous(want) != strings.HasPrefix(row[3], "'") {
			t.Errorf("%s: value %q prefixing wrong", f.Name, row[3])
		}
		for _, cell := range row {
			if dangerous(cell) {
				t.Errorf("%s: cell %q starts with a formula character", f.Name, cell)
			}
		}
	}
	byName := map[string][]string{}
	for _, row := range fieldRows {
		byName[row[0]] = row
	}
	for name, want := range map[string]string{
		"pkg":   `'=cmd|' /C calc'!A0`,
		"desc":  "'@SUM(1+1)\nsecond <line> & more\n\tindented",
		"count": "'-42",
		"tags":  "red; green",
		"agree": "true",
		"city":  "",
		"title": `</value></field><field name="x">&amp;`,
	} {
		if byName[name][3] != want {
			t.Errorf("%s: cell %q, want %q", name, byName[name][3], want)
		}
	}
	if byName["count"][1] != "'-Count" {
		t.Errorf("label not prefixed: %q", byName["count"][1])
	}
}

func TestRenderCSVInjectionPrefixes(t *testing.T) {
	fields := []form.Field{}
	values := map[string]any{}
	for i, p := range []string{"=1+1", "+1", "-1", "@x", "\tx", "\rx", "a=1", " =1", "'x"} {
		name := "f" + strconv.Itoa(i)
		fields = append(fields, form.Field{Name: name, Label: p, Type: form.TypeShortText})
		values[name] = p
	}
	_, data, err := form.Render(form.FormatCSV, form.Doc{Fields: fields, Values: values})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range rows[6:] {
		p := fields[i].Label
		want := p
		if dangerous(p) {
			want = "'" + p
		}
		if row[1] != want || row[3] != want {
			t.Errorf("%q -> label %q value %q, want %q", p, row[1], row[3], want)
		}
	}
}

type xmlMeta struct {
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

// checkXML asserts data is well-formed XML 1.0 made of valid characters.
func checkXML(t *testing.T, data []byte) {
	t.Helper()
	if !utf8.Valid(data) {
		t.Fatalf("xml is not UTF-8")
	}
	for _, r := range string(data) {
		if !(r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000) {
			t.Fatalf("xml holds the invalid character %U", r)
		}
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	depth := 0
	roots := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("xml not well-formed: %v\n%s", err, data)
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 || depth != 0 {
		t.Fatalf("xml has %d roots", roots)
	}
}

func TestRenderXMLRoundTrip(t *testing.T) {
	doc := hostileDoc(t)
	name, data, err := form.Render(form.FormatXML, doc)
	if err != nil || name != "metadata.xml" {
		t.Fatalf("Render: %q, %v", name, err)
	}
	if !bytes.HasPrefix(data, []byte(xml.Header)) {
		t.Errorf("no XML header:\n%s", data)
	}
	checkXML(t, data)
	var got xmlMeta
	if err := xml.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Form != doc.FormName || got.PackageID != doc.PackageID || got.PackageName != doc.PackageName ||
		got.Sender != doc.Sender || got.SubmittedAt != submittedUTC {
		t.Errorf("attributes: %+v", got)
	}
	if len(got.Fields) != len(doc.Fields) {
		t.Fatalf("%d fields, want %d", len(got.Fields), len(doc.Fields))
	}
	for i, f := range doc.Fields {
		g := got.Fields[i]
		if g.Name != f.Name || g.Label != f.Label || g.Type != f.Type {
			t.Errorf("field %d: %+v", i, g)
		}
		if want := asTexts(doc.Values[f.Name]); !reflect.DeepEqual(g.Values, want) {
			t.Errorf("%s: values %q, want %q", f.Name, g.Values, want)
		}
	}
	// The markup in values and labels is escaped, never live.
	if bytes.Contains(data, []byte(`<field name="x">`)) || bytes.Contains(data, []byte("<b>")) || bytes.Contains(data, []byte("<line>")) {
		t.Errorf("markup not escaped:\n%s", data)
	}
	// Multi-line values keep their line breaks and tab.
	for _, g := range got.Fields {
		if g.Name == "desc" && g.Values[0] != "@SUM(1+1)\nsecond <line> & more\n\tindented" {
			t.Errorf("desc = %q", g.Values[0])
		}
		if g.Name == "tags" && !reflect.DeepEqual(g.Values, []string{"red", "green"}) {
			t.Errorf("tags = %q", g.Values)
		}
	}
}

func TestRenderXMLEscapesEverything(t *testing.T) {
	// A hand-made Doc (not normalized) with hostile names, labels and
	// characters XML cannot carry: the output is still well-formed.
	nasty := `a<b>&"c"'d'` + "\x00\x01\x1b\uFFFE\xff\r\n\t"
	doc := form.Doc{
		FormName:    nasty,
		PackageID:   `"><x/>`,
		PackageName: nasty,
		Sender:      "s&s",
		Fields: []form.Field{
			{Name: `n"a<m>e`, Label: nasty, Type: `t'y&p"e`},
			{Name: "list", Label: "L", Type: form.TypeCheckbox},
		},
		Values: map[string]any{`n"a<m>e`: nasty, "list": []any{"<a>", "&b"}},
	}
	_, data, err := form.Render(form.FormatXML, doc)
	if err != nil {
		t.Fatal(err)
	}
	checkXML(t, data)
	var got xmlMeta
	if err := xml.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	clean := `a<b>&"c"'d'` + "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\r\n\t"
	if got.Form != clean || got.PackageName != clean || got.PackageID != `"><x/>` || got.Sender != "s&s" {
		t.Errorf("attributes: %q", []string{got.Form, got.PackageName, got.PackageID, got.Sender})
	}
	if len(got.Fields) != 2 || got.Fields[0].Name != `n"a<m>e` || got.Fields[0].Type != `t'y&p"e` ||
		got.Fields[0].Label != clean || !reflect.DeepEqual(got.Fields[0].Values, []string{clean}) ||
		!reflect.DeepEqual(got.Fields[1].Values, []string{"<a>", "&b"}) {
		t.Errorf("fields: %+v", got.Fields)
	}
	if got.SubmittedAt != "" {
		t.Errorf("zero time rendered as %q", got.SubmittedAt)
	}
}

func TestRenderEmailBody(t *testing.T) {
	doc := hostileDoc(t)
	name, data, err := form.Render(form.FormatEmailBody, doc)
	if err != nil || name != "" {
		t.Fatalf("Render: %q, %v", name, err)
	}
	want := "Sender Email: alice@example.com\n" +
		"Package Name: =cmd|' /C calc'!A0\n" +
		"Package Description: @SUM(1+1)\n" +
		"  second <line> & more\n" +
		"   indented\n" +
		"Tags: red, green\n" +
		"I agree: true\n" +
		"Size: S\n" +
		"Due date: 2026-01-31\n" +
		`Title <b>&"quoted"'s</b>: </value></field><field name="x">&amp;` + "\n" +
		"-Count: -42\n" +
		"Terms: https://example.com/terms\n"
	if string(data) != want {
		t.Errorf("email body:\n%s\nwant:\n%s", data, want)
	}
}

func TestRenderEmailBodyNoLineInjection(t *testing.T) {
	doc := form.Doc{
		Fields: []form.Field{
			{Name: "a", Label: "Subject\r\nBcc: evil@example.com", Type: form.TypeShortText},
			{Name: "b", Label: "B", Type: form.TypeShortText},
			{Name: "c", Label: "C", Type: form.TypeLongText},
			{Name: "d", Label: "D", Type: form.TypeCheckbox},
			{Name: "e", Label: "E", Type: form.TypeShortText},
		},
		Values: map[string]any{
			"a": "x",
			"b": "one\r\nTo: victim@example.com\u2028three\x00",
			"c": "first\r\nBcc: y@example.com\rthird\u2029x",
			"d": []string{"p\nq", "r"},
			"e": "",
		},
	}
	_, data, err := form.Render(form.FormatEmailBody, doc)
	if err != nil {
		t.Fatal(err)
	}
	want := "Subject  Bcc: evil@example.com: x\n" +
		"B: one  To: victim@example.com three \n" +
		"C: first\n" +
		"  Bcc: y@example.com\n" +
		"  third x\n" +
		"D: p q, r\n"
	if string(data) != want {
		t.Errorf("got:\n%q\nwant:\n%q", data, want)
	}
	// Every line is either "Label: value" or an indented continuation.
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if !strings.HasPrefix(line, "  ") && !strings.Contains(line, ": ") {
			t.Errorf("stray line %q", line)
		}
		if strings.ContainsAny(line, "\r\x00") {
			t.Errorf("control char in %q", line)
		}
	}
}

func TestRenderFieldOrderAndUnknownValues(t *testing.T) {
	doc := form.Doc{
		Fields: []form.Field{{Name: "z", Label: "Z", Type: form.TypeShortText}, {Name: "a", Label: "A", Type: form.TypeShortText}},
		Values: map[string]any{"a": "1", "z": "2", "ghost": "boo"},
	}
	_, data, _ := form.Render(form.FormatEmailBody, doc)
	if string(data) != "Z: 2\nA: 1\n" {
		t.Errorf("email: %q", data)
	}
	_, data, _ = form.Render(form.FormatJSON, doc)
	if bytes.Contains(data, []byte("ghost")) {
		t.Errorf("unknown value rendered:\n%s", data)
	}
	if bytes.Index(data, []byte(`"name": "z"`)) > bytes.Index(data, []byte(`"name": "a"`)) {
		t.Errorf("field order lost:\n%s", data)
	}
}

func TestRenderForeignValueTypes(t *testing.T) {
	// A Doc built by hand may hold other Go types; they render as text.
	fields := []form.Field{}
	values := map[string]any{}
	for i, v := range []any{7, int32(-8), json.Number("9"), 1.25, 3.0, []any{"a", 2.0, true}, struct{ X int }{1}} {
		name := "f" + strconv.Itoa(i)
		fields = append(fields, form.Field{Name: name, Label: name, Type: form.TypeShortText})
		values[name] = v
	}
	_, data, err := form.Render(form.FormatCSV, form.Doc{Fields: fields, Values: values})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, row := range rows[6:] {
		got = append(got, row[3])
	}
	if want := []string{"7", "'-8", "9", "1.25", "3", "a; 2; true", "{1}"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// NaN cannot be JSON: it is rendered as a string rather than failing.
	doc := form.Doc{Fields: fields[:1], Values: map[string]any{"f0": math.NaN()}}
	_, data, err = form.Render(form.FormatJSON, doc)
	if err != nil || !bytes.Contains(data, []byte(`"value": "NaN"`)) {
		t.Errorf("NaN: %v\n%s", err, data)
	}
}
