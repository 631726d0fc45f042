package form_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"haul/core/form"
)

// testForm has one field of every type, all optional unless noted.
func testForm(t *testing.T) *form.Definition {
	t.Helper()
	d := &form.Definition{
		Name:            "All types",
		DeliveryFormats: []string{"json", "csv", "xml", "email_body"},
		Fields: []form.Field{
			{Name: "sender", Label: "Sender Email", Type: form.TypeSenderEmail, Visibility: form.Required},
			{Name: "pkg", Label: "Package Name", Type: form.TypePackageName},
			{Name: "desc", Label: "Package Description", Type: form.TypePackageDescription},
			{Name: "tags", Label: "Tags", Type: form.TypeCheckbox, Options: []string{"red", "green", "blue"}},
			{Name: "agree", Label: "I agree", Type: form.TypeCheckbox},
			{Name: "size", Label: "Size", Type: form.TypeRadio, Options: []string{"S", "M", "L"}},
			{Name: "city", Label: "City", Type: form.TypeDropdown, Options: []string{"Ottawa", "Montréal"}},
			{Name: "due", Label: "Due date", Type: form.TypeDate},
			{Name: "title", Label: "Title", Type: form.TypeShortText},
			{Name: "notes", Label: "Notes", Type: form.TypeLongText},
			{Name: "count", Label: "Count", Type: form.TypeNumber},
			{Name: "terms", Label: "Terms", Type: form.TypeURL, DefaultValue: "https://example.com/terms"},
			{Name: "contact", Label: "Contact", Type: form.TypeEmail},
		},
	}
	mustNormalize(t, d)
	return d
}

func TestValidateAllTypes(t *testing.T) {
	d := testForm(t)
	in := map[string]any{}
	if err := json.Unmarshal([]byte(`{
		"sender": "  Alice@Example.COM ",
		"pkg": "  Dailies  ",
		"desc": "line one\r\nline two\rline three\n",
		"tags": ["blue", " red"],
		"agree": true,
		"size": "M",
		"city": "Montréal",
		"due": "2024/02/29",
		"title": "=HYPERLINK(\"http://evil\")",
		"notes": "<script>alert('x')</script> & \"quotes\"",
		"count": -42,
		"terms": "https://example.com/terms",
		"contact": "bob@example.org"
	}`), &in); err != nil {
		t.Fatal(err)
	}
	got, err := d.Validate(in)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := map[string]any{
		"sender":  "alice@example.com",
		"pkg":     "Dailies",
		"desc":    "line one\nline two\nline three",
		"tags":    []string{"red", "blue"},
		"agree":   true,
		"size":    "M",
		"city":    "Montréal",
		"due":     "2024-02-29",
		"title":   `=HYPERLINK("http://evil")`,
		"notes":   `<script>alert('x')</script> & "quotes"`,
		"count":   int64(-42),
		"terms":   "https://example.com/terms",
		"contact": "bob@example.org",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Validate:\n got %#v\nwant %#v", got, want)
	}
}

func TestValidateOmitsAbsentOptional(t *testing.T) {
	d := testForm(t)
	got, err := d.Validate(map[string]any{
		"sender": "a@example.com", "pkg": "   ", "tags": []any{}, "count": "", "due": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	// url is readonly: always filled from its default.
	want := map[string]any{"sender": "a@example.com", "terms": "https://example.com/terms"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
	// Optional boolean checkbox false is a value.
	got, err = d.Validate(map[string]any{"sender": "a@example.com", "agree": false})
	if err != nil || got["agree"] != false {
		t.Fatalf("agree false: %#v, %v", got, err)
	}
}

func TestValidateInputVariants(t *testing.T) {
	d := testForm(t)
	base := func(k string, v any) map[string]any { return map[string]any{"sender": "a@example.com", k: v} }
	cases := []struct {
		key  string
		in   any
		want any
	}{
		{"count", 12.0, int64(12)},
		{"count", -0.0, int64(0)},
		{"count", json.Number("-42"), int64(-42)},
		{"count", json.Number("9223372036854775807"), int64(9223372036854775807)},
		{"count", "-9223372036854775808", int64(-9223372036854775808)},
		{"count", "007", int64(7)},
		{"count", 5, int64(5)},
		{"count", int64(6), int64(6)},
		{"count", float64(1 << 53), int64(1 << 53)},
		{"due", "2026-12-31", "2026-12-31"},
		{"due", " 2000/02/29 ", "2000-02-29"},
		{"tags", []string{"green"}, []string{"green"}},
		{"tags", []any{"blue", "green", "red"}, []string{"red", "green", "blue"}},
		{"contact", "First.Last+tag@Sub.Example.CO.uk", "first.last+tag@sub.example.co.uk"},
		{"contact", "root@localhost", "root@localhost"},
		{"title", strings.Repeat("é", 127) + "x", strings.Repeat("é", 127) + "x"},
		{"title", "tab\tinside", "tab\tinside"},
		{"title", "'; DROP TABLE packages; --", "'; DROP TABLE packages; --"},
		{"notes", strings.Repeat("a", 10000), strings.Repeat("a", 10000)},
		{"desc", "  \n para\n\n two \n", "para\n\n two"},
		{"size", " L ", "L"},
		{"terms", " https://example.com/terms ", "https://example.com/terms"},
	}
	for _, c := range cases {
		got, err := d.Validate(base(c.key, c.in))
		if err != nil {
			t.Errorf("%s=%#v: %v", c.key, c.in, err)
			continue
		}
		if !reflect.DeepEqual(got[c.key], c.want) {
			t.Errorf("%s=%#v: got %#v, want %#v", c.key, c.in, got[c.key], c.want)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	d := testForm(t)
	cases := []struct {
		name  string
		key   string
		in    any
		field string // defaults to key
	}{
		{"decimal", "count", 1.5, ""},
		{"decimal string", "count", "1.5", ""},
		{"exponent string", "count", "1e3", ""},
		{"exponent number", "count", json.Number("1e3"), ""},
		{"fraction number", "count", json.Number("2.0"), ""},
		{"spaced", "count", " 12", ""},
		{"hex", "count", "0x10", ""},
		{"plus", "count", "+5", ""},
		{"minus only", "count", "-", ""},
		{"overflow", "count", "9223372036854775808", ""},
		{"huge digits", "count", strings.Repeat("9", 40), ""},
		{"unsafe float", "count", float64(1<<53) * 4, ""},
		{"bool number", "count", true, ""},
		{"list number", "count", []any{"1"}, ""},
		{"feb 30", "due", "2026-02-30", ""},
		{"feb 29 non leap", "due", "2025-02-29", ""},
		{"month 13", "due", "2026-13-01", ""},
		{"mixed separators", "due", "2026-01/02", ""},
		{"dd/mm/yyyy", "due", "02/01/2026", ""},
		{"short month", "due", "2026-1-02", ""},
		{"year zero", "due", "0000-01-01", ""},
		{"date time", "due", "2026-01-02T00:00:00Z", ""},
		{"date number", "due", 20260102.0, ""},
		{"email no at", "contact", "bob", ""},
		{"email display name", "contact", "Bob <bob@example.com>", ""},
		{"email no dot", "contact", "bob@example", ""},
		{"email two at", "contact", "a@b@example.com", ""},
		{"email header injection", "contact", "bob@example.com\r\nBcc: x@example.com", ""},
		{"email too long", "contact", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", ""},
		{"email comment", "contact", "bob@example.com (Bob)", ""},
		{"sender email bad", "sender", "not-an-email", ""},
		{"radio not option", "size", "XL", ""},
		{"radio case", "size", "m", ""},
		{"radio list", "size", []any{"M"}, ""},
		{"dropdown not option", "city", "Toronto", ""},
		{"checkbox not option", "tags", []any{"red", "pink"}, ""},
		{"checkbox duplicate", "tags", []any{"red", "blue", " red"}, ""},
		{"checkbox non-string", "tags", []any{"red", 1.0}, ""},
		{"checkbox string", "tags", "red", ""},
		{"checkbox bool on list", "tags", true, ""},
		{"boolean checkbox string", "agree", "true", ""},
		{"short text newline", "title", "a\nb", ""},
		{"short text CR", "title", "a\rb", ""},
		{"short text line separator", "title", "a\u2028b", ""},
		{"short text NUL", "title", "a\x00b", ""},
		{"short text control", "title", "a\x1bb", ""},
		{"short text bad utf8", "title", "a\xc3", ""},
		{"short text too long", "title", strings.Repeat("é", 128), ""},
		{"short text number", "title", 3.0, ""},
		{"package name newline", "pkg", "x\ny", ""},
		{"long text too long", "notes", strings.Repeat("a", 10001), ""},
		{"long text NUL", "notes", "a\x00", ""},
		{"long text noncharacter", "desc", "a\uFFFE", ""},
		{"url changed", "terms", "https://evil.example/", ""},
		{"url not string", "terms", 1.0, ""},
		{"unknown field", "nope", "x", ""},
		{"unknown reserved", "_package_id", "x", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			field := c.field
			if field == "" {
				field = c.key
			}
			in := map[string]any{"sender": "a@example.com", c.key: c.in}
			got, err := d.Validate(in)
			wantFieldErr(t, err, field)
			if got != nil {
				t.Fatalf("values returned with an error: %#v", got)
			}
		})
	}
}

func TestValidateRequired(t *testing.T) {
	d := &form.Definition{Name: "req", Fields: []form.Field{
		{Name: "who", Label: "Who", Type: form.TypeSenderEmail, Visibility: form.Required},
		{Name: "tags", Label: "Tags", Type: form.TypeCheckbox, Options: []string{"a", "b"}, Visibility: form.Required},
		{Name: "agree", Label: "Agree", Type: form.TypeCheckbox, Visibility: form.Required},
		{Name: "n", Label: "N", Type: form.TypeNumber, Visibility: form.Required},
	}}
	mustNormalize(t, d)
	ok := map[string]any{"who": "a@example.com", "tags": []any{"b"}, "agree": true, "n": 0.0}
	if _, err := d.Validate(ok); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for _, c := range []struct {
		key string
		v   any
		del bool
	}{
		{"who", nil, true},
		{"who", "  ", false},
		{"who", nil, false},
		{"tags", []any{}, false},
		{"tags", []string{}, false},
		{"tags", nil, true},
		{"agree", false, false},
		{"agree", nil, true},
		{"n", "", false},
	} {
		in := map[string]any{}
		for k, v := range ok {
			in[k] = v
		}
		if c.del {
			delete(in, c.key)
		} else {
			in[c.key] = c.v
		}
		_, err := d.Validate(in)
		wantFieldErr(t, err, c.key)
	}
	// The first failing field in field order is reported.
	_, err := d.Validate(map[string]any{})
	wantFieldErr(t, err, "who")
}

func TestValidateReadOnlyAndHidden(t *testing.T) {
	d := &form.Definition{Name: "ro", Fields: []form.Field{
		{Name: "team", Label: "Team", Type: form.TypeShortText, Visibility: form.ReadOnly, DefaultValue: "Post"},
		{Name: "route", Label: "Route", Type: form.TypeDropdown, Options: []string{"a", "b"}, Visibility: form.Hidden, DefaultValue: "b"},
		{Name: "prio", Label: "Prio", Type: form.TypeNumber, Visibility: form.Hidden, DefaultValue: "3"},
		{Name: "flags", Label: "Flags", Type: form.TypeCheckbox, Options: []string{"x", "y", "z"}, Visibility: form.ReadOnly, DefaultValue: []any{"z", "x"}},
		{Name: "day", Label: "Day", Type: form.TypeDate, Visibility: form.ReadOnly, DefaultValue: "2026/03/01"},
		{Name: "link", Label: "Link", Type: form.TypeURL, DefaultValue: "http://example.com/"},
	}}
	mustNormalize(t, d)
	want := map[string]any{
		"team": "Post", "route": "b", "prio": int64(3), "flags": []string{"x", "z"},
		"day": "2026-03-01", "link": "http://example.com/",
	}
	got, err := d.Validate(nil)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("no values: %#v, %v", got, err)
	}
	// Sending the defaults back (in any equivalent form) is fine.
	got, err = d.Validate(map[string]any{
		"team": " Post ", "route": "b", "prio": 3.0, "flags": []any{"z", "x"}, "day": "2026-03-01",
		"link": "http://example.com/",
	})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults sent back: %#v, %v", got, err)
	}
	for k, v := range map[string]any{
		"team": "Finance", "route": "a", "prio": "4", "flags": []any{"x"}, "day": "2026-03-02",
		"link": "http://example.com/other",
	} {
		_, err := d.Validate(map[string]any{k: v})
		fe := wantFieldErr(t, err, k)
		if !strings.Contains(fe.Msg, "cannot be changed") {
			t.Errorf("%s: message %q", k, fe.Msg)
		}
	}
	// An invalid value for a readonly field is refused too.
	_, err = d.Validate(map[string]any{"prio": "x"})
	wantFieldErr(t, err, "prio")
}

func TestValidateKeys(t *testing.T) {
	d := testForm(t)
	got, err := d.Validate(map[string]any{"SENDER": "a@example.com", "Title": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got["sender"] != "a@example.com" || got["title"] != "x" {
		t.Fatalf("case-insensitive keys: %#v", got)
	}
	_, err = d.Validate(map[string]any{"sender": "a@example.com", "Title": "x", "title": "y"})
	wantFieldErr(t, err, "title")
}

// A definition decoded from JSON without re-normalizing still validates:
// defaults come back as float64 / []any and are normalized on the fly.
func TestValidateStoredDefinition(t *testing.T) {
	d := &form.Definition{Name: "stored", Fields: []form.Field{
		{Name: "prio", Label: "Prio", Type: form.TypeNumber, Visibility: form.Hidden, DefaultValue: 3},
		{Name: "flags", Label: "Flags", Type: form.TypeCheckbox, Options: []string{"x", "y"}, Visibility: form.ReadOnly, DefaultValue: []string{"y"}},
	}}
	mustNormalize(t, d)
	b, _ := json.Marshal(d)
	var stored form.Definition
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	got, err := stored.Validate(map[string]any{"prio": json.Number("3")})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"prio": int64(3), "flags": []string{"y"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
}

func FuzzValidateText(f *testing.F) {
	d := &form.Definition{Name: "fz", Fields: []form.Field{
		{Name: "s", Label: "S", Type: form.TypeShortText},
		{Name: "l", Label: "L", Type: form.TypeLongText},
		{Name: "n", Label: "N", Type: form.TypeNumber},
		{Name: "d", Label: "D", Type: form.TypeDate},
		{Name: "e", Label: "E", Type: form.TypeEmail},
	}}
	if err := form.Normalize(d); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"x", "a\nb", "-42", "2026/02/28", "a@b.co", "\x00", "=1+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []string{"s", "l", "n", "d", "e"} {
			got, err := d.Validate(map[string]any{k: s})
			if err != nil {
				continue
			}
			// Whatever is accepted renders to well-formed XML and clean email lines.
			doc := form.Doc{FormName: "fz", Fields: d.Fields, Values: got}
			_, data, err := form.Render(form.FormatXML, doc)
			if err != nil {
				t.Fatal(err)
			}
			checkXML(t, data)
		}
	})
}

func TestValidateErrorQuotesAreShort(t *testing.T) {
	d := testForm(t)
	_, err := d.Validate(map[string]any{"sender": "a@example.com", "size": strings.Repeat("é", 100)})
	fe := wantFieldErr(t, err, "size")
	if len(fe.Msg) > 120 || !strings.Contains(fe.Msg, "…") || !utf8.ValidString(fe.Msg) {
		t.Errorf("message %q", fe.Msg)
	}
}
