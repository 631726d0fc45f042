package form_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"haul/core/form"
)

// wantFieldErr asserts err is a *form.FieldError naming field.
func wantFieldErr(t *testing.T, err error, field string) *form.FieldError {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error on %q, got nil", field)
	}
	var fe *form.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("want *form.FieldError, got %T: %v", err, err)
	}
	if fe.Field != field {
		t.Fatalf("error names field %q, want %q (%v)", fe.Field, field, err)
	}
	if fe.Msg == "" || !strings.Contains(err.Error(), fe.Msg) {
		t.Fatalf("bad message in %v", err)
	}
	return fe
}

func mustNormalize(t *testing.T, d *form.Definition) {
	t.Helper()
	if err := form.Normalize(d); err != nil {
		t.Fatalf("Normalize: %v", err)
	}
}

func TestFieldErrorMessage(t *testing.T) {
	e := &form.FieldError{Field: "age", Msg: "is required"}
	if got := e.Error(); got != "form: age: is required" {
		t.Fatalf("Error() = %q", got)
	}
	e = &form.FieldError{Msg: "boom"}
	if got := e.Error(); got != "form: boom" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestNormalizeDefaults(t *testing.T) {
	d := &form.Definition{Name: "  Intake  "}
	mustNormalize(t, d)
	if d.Name != "Intake" {
		t.Errorf("name = %q", d.Name)
	}
	if d.DeliveryFormats == nil || len(d.DeliveryFormats) != 0 {
		t.Errorf("delivery formats = %#v, want empty non-nil", d.DeliveryFormats)
	}
	want := []form.Field{
		{Name: "sender_email", Label: "Sender Email", Type: form.TypeSenderEmail, Visibility: form.Required, Position: 0},
		{Name: "package_name", Label: "Package Name", Type: form.TypePackageName, Visibility: form.Optional, Position: 1},
		{Name: "package_description", Label: "Package Description", Type: form.TypePackageDescription, Visibility: form.Optional, Position: 2},
	}
	if !reflect.DeepEqual(d.Fields, want) {
		t.Errorf("fields = %#v", d.Fields)
	}
	if !reflect.DeepEqual(form.DefaultFields(), want) {
		t.Errorf("DefaultFields() = %#v", form.DefaultFields())
	}
	// Empty (non-nil) list gets the defaults too.
	d = &form.Definition{Name: "x", Fields: []form.Field{}}
	mustNormalize(t, d)
	if len(d.Fields) != 3 {
		t.Errorf("empty fields -> %d fields", len(d.Fields))
	}
	// JSON of a normalized definition has "delivery_formats": [].
	b, _ := json.Marshal(d)
	if !strings.Contains(string(b), `"delivery_formats":[]`) {
		t.Errorf("json: %s", b)
	}
}

func TestNormalizeIdempotent(t *testing.T) {
	d := &form.Definition{
		Name:            "Everything",
		DeliveryFormats: []string{"xml", "json", "xml", "csv", "email_body", "json"},
		Fields: []form.Field{
			{Name: "Tags", Label: " Tags ", Type: form.TypeCheckbox, Options: []string{" a ", "b"}, DefaultValue: []any{"b"}, Position: 5},
			{Name: "when", Label: "When", Type: form.TypeDate, DefaultValue: "2026/01/02", Position: 1},
			{Name: "n", Label: "N", Type: form.TypeNumber, Visibility: form.Hidden, DefaultValue: json.Number("7"), Position: 1},
			{Name: "site", Label: "Site", Type: form.TypeURL, Visibility: form.Optional, DefaultValue: " https://example.com/a?b=c ", Position: -3},
			{Name: "note", Label: "Note", Type: form.TypeShortText, DefaultValue: "   ", Position: 9},
		},
	}
	mustNormalize(t, d)
	if want := []string{"xml", "json", "csv", "email_body"}; !reflect.DeepEqual(d.DeliveryFormats, want) {
		t.Errorf("formats = %v", d.DeliveryFormats)
	}
	var names []string
	for i, f := range d.Fields {
		names = append(names, f.Name)
		if f.Position != i {
			t.Errorf("%s position %d, want %d", f.Name, f.Position, i)
		}
	}
	if want := "site,when,n,tags,note"; strings.Join(names, ",") != want {
		t.Errorf("order = %v, want %s (stable sort by position)", names, want)
	}
	f := d.Fields
	if f[0].Visibility != form.ReadOnly || f[0].DefaultValue != "https://example.com/a?b=c" {
		t.Errorf("url field = %#v", f[0])
	}
	if f[1].DefaultValue != "2026-01-02" || f[1].Visibility != form.Optional {
		t.Errorf("date field = %#v", f[1])
	}
	if f[2].DefaultValue != int64(7) {
		t.Errorf("number default = %#v", f[2].DefaultValue)
	}
	if f[3].Label != "Tags" || !reflect.DeepEqual(f[3].Options, []string{"a", "b"}) || !reflect.DeepEqual(f[3].DefaultValue, []string{"b"}) {
		t.Errorf("checkbox field = %#v", f[3])
	}
	if f[4].DefaultValue != nil {
		t.Errorf("blank default kept: %#v", f[4].DefaultValue)
	}

	// Normalizing again, also after a JSON round trip, changes nothing.
	again := *d
	again.Fields = append([]form.Field(nil), d.Fields...)
	mustNormalize(t, &again)
	if !reflect.DeepEqual(&again, d) {
		t.Errorf("second Normalize changed it:\n%#v\n%#v", again, *d)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back form.Definition
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	mustNormalize(t, &back)
	if !reflect.DeepEqual(&back, d) {
		t.Errorf("after JSON round trip:\n%#v\n%#v", back, *d)
	}
}

func TestNormalizeLeavesInputOnError(t *testing.T) {
	d := &form.Definition{Name: " keep ", Fields: []form.Field{{Name: "a", Label: "A", Type: "bogus"}}}
	orig := *d
	if err := form.Normalize(d); err == nil {
		t.Fatal("want error")
	}
	if !reflect.DeepEqual(*d, orig) {
		t.Fatalf("definition changed on error: %#v", *d)
	}
	if err := form.Normalize(nil); err == nil {
		t.Fatal("nil definition accepted")
	}
}

func field(name, typ string) form.Field {
	return form.Field{Name: name, Label: strings.ToUpper(name), Type: typ}
}

func TestNormalizeErrors(t *testing.T) {
	many := func(n int) []form.Field {
		fs := make([]form.Field, n)
		for i := range fs {
			fs[i] = field(fmt.Sprintf("f%d", i), form.TypeShortText)
		}
		return fs
	}
	opts := func(n int) []string {
		o := make([]string, n)
		for i := range o {
			o[i] = fmt.Sprintf("o%d", i)
		}
		return o
	}
	with := func(mut func(*form.Field)) []form.Field {
		f := field("a", form.TypeShortText)
		mut(&f)
		return []form.Field{f}
	}
	cases := []struct {
		name  string
		d     form.Definition
		field string
	}{
		{"empty name", form.Definition{Name: "  "}, "name"},
		{"long name", form.Definition{Name: strings.Repeat("n", 256)}, "name"},
		{"multiline name", form.Definition{Name: "a\nb"}, "name"},
		{"bad format", form.Definition{Name: "x", DeliveryFormats: []string{"json", "pdf"}}, "delivery_formats[1]"},
		{"format case", form.Definition{Name: "x", DeliveryFormats: []string{"JSON"}}, "delivery_formats[0]"},
		{"too many fields", form.Definition{Name: "x", Fields: many(101)}, "fields"},
		{"empty field name", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Name = " " })}, "fields[0].name"},
		{"bad field name", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Name = "first name" })}, "fields[0].name"},
		{"dotted field name", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Name = "a.b" })}, "fields[0].name"},
		{"reserved field name", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Name = "_package_id" })}, "fields[0].name"},
		{"long field name", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Name = strings.Repeat("a", 65) })}, "fields[0].name"},
		{"duplicate names", form.Definition{Name: "x", Fields: []form.Field{field("a", form.TypeShortText), field("b", form.TypeShortText), field("A", form.TypeEmail)}}, "fields[2].name"},
		{"empty label", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Label = "" })}, "fields[0].label"},
		{"long label", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Label = strings.Repeat("é", 128) })}, "fields[0].label"},
		{"control label", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Label = "a\x01b" })}, "fields[0].label"},
		{"newline label", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Label = "a\r\nBcc: x" })}, "fields[0].label"},
		{"bad utf8 label", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Label = "a\xffb" })}, "fields[0].label"},
		{"bad type", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = "text" })}, "fields[0].type"},
		{"empty type", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = "" })}, "fields[0].type"},
		{"bad visibility", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Visibility = "secret" })}, "fields[0].visibility"},
		{"radio without options", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeRadio })}, "fields[0].options"},
		{"dropdown without options", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeDropdown; f.Options = []string{} })}, "fields[0].options"},
		{"too many options", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeDropdown; f.Options = opts(201) })}, "fields[0].options"},
		{"empty option", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeRadio; f.Options = []string{"a", " "} })}, "fields[0].options[1]"},
		{"duplicate option", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeCheckbox; f.Options = []string{"a", "b", " a"} })}, "fields[0].options[2]"},
		{"long option", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeRadio; f.Options = []string{strings.Repeat("o", 256)} })}, "fields[0].options[0]"},
		{"multiline option", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeRadio; f.Options = []string{"a\nb"} })}, "fields[0].options[0]"},
		{"options on text", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Options = []string{"a"} })}, "fields[0].options"},
		{"url without default", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeURL })}, "fields[0].default_value"},
		{"url bad default", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeURL; f.DefaultValue = "javascript:alert(1)" })}, "fields[0].default_value"},
		{"url ftp default", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeURL; f.DefaultValue = "ftp://example.com/" })}, "fields[0].default_value"},
		{"url no host", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeURL; f.DefaultValue = "https:///path" })}, "fields[0].default_value"},
		{"url with space", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeURL; f.DefaultValue = "https://a.com/x y" })}, "fields[0].default_value"},
		{"hidden without default", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Visibility = form.Hidden })}, "fields[0].default_value"},
		{"readonly blank default", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Visibility = form.ReadOnly; f.DefaultValue = "  " })}, "fields[0].default_value"},
		{"readonly empty checkbox default", form.Definition{Name: "x", Fields: with(func(f *form.Field) {
			f.Type = form.TypeCheckbox
			f.Options = []string{"a"}
			f.Visibility = form.ReadOnly
			f.DefaultValue = []any{}
		})}, "fields[0].default_value"},
		{"number decimal default", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeNumber; f.DefaultValue = 1.5 })}, "fields[0].default_value"},
		{"date bad default", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeDate; f.DefaultValue = "2026-02-30" })}, "fields[0].default_value"},
		{"email bad default", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeEmail; f.DefaultValue = "nobody" })}, "fields[0].default_value"},
		{"radio default not an option", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeRadio; f.Options = []string{"a"}; f.DefaultValue = "b" })}, "fields[0].default_value"},
		{"checkbox bool default on list", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.Type = form.TypeCheckbox; f.Options = []string{"a"}; f.DefaultValue = true })}, "fields[0].default_value"},
		{"text default too long", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.DefaultValue = strings.Repeat("x", 256) })}, "fields[0].default_value"},
		{"text default not a string", form.Definition{Name: "x", Fields: with(func(f *form.Field) { f.DefaultValue = 3.0 })}, "fields[0].default_value"},
		{"two sender emails", form.Definition{Name: "x", Fields: []form.Field{field("a", form.TypeSenderEmail), field("b", form.TypeShortText), field("c", form.TypeSenderEmail)}}, "fields[2].type"},
		{"two package names", form.Definition{Name: "x", Fields: []form.Field{field("a", form.TypePackageName), field("c", form.TypePackageName)}}, "fields[1].type"},
		{"two package descriptions", form.Definition{Name: "x", Fields: []form.Field{field("a", form.TypePackageDescription), field("c", form.TypePackageDescription)}}, "fields[1].type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := c.d
			wantFieldErr(t, form.Normalize(&d), c.field)
		})
	}
}

func TestNormalizeAccepts(t *testing.T) {
	fs := make([]form.Field, 100)
	for i := range fs {
		fs[i] = field(fmt.Sprintf("f-%d_x", i), form.TypeShortText)
	}
	mustNormalize(t, &form.Definition{Name: strings.Repeat("n", 255), Fields: fs})

	o := make([]string, 200)
	for i := range o {
		o[i] = fmt.Sprintf("choice %d", i)
	}
	d := &form.Definition{Name: "ok", Fields: []form.Field{
		{Name: "pick", Label: "Pick", Type: form.TypeDropdown, Options: o},
		{Name: "agree", Label: "I agree", Type: form.TypeCheckbox, Visibility: form.Required},
		{Name: "flag", Label: "Flag", Type: form.TypeCheckbox, Visibility: form.ReadOnly, DefaultValue: false},
		{Name: "code", Label: "Code", Type: form.TypeShortText, Visibility: form.Hidden, DefaultValue: "=SUM(A1)"},
		{Name: "mail", Label: "Mail", Type: form.TypeEmail, DefaultValue: "Bob@Example.COM"},
		{Name: "who", Label: "Who", Type: form.TypeSenderEmail, Visibility: form.ReadOnly, DefaultValue: "ops@example.com"},
		{Name: "n", Label: "N", Type: form.TypeNumber, DefaultValue: -3.0},
		{Name: "a-very-long-name-" + strings.Repeat("x", 47), Label: strings.Repeat("L", 255), Type: form.TypeLongText, DefaultValue: "line1\r\nline2"},
	}}
	mustNormalize(t, d)
	if d.Fields[2].DefaultValue != false {
		t.Errorf("readonly false checkbox default = %#v", d.Fields[2].DefaultValue)
	}
	if d.Fields[4].DefaultValue != "bob@example.com" {
		t.Errorf("email default = %#v", d.Fields[4].DefaultValue)
	}
	if d.Fields[6].DefaultValue != int64(-3) {
		t.Errorf("number default = %#v", d.Fields[6].DefaultValue)
	}
	if d.Fields[7].DefaultValue != "line1\nline2" {
		t.Errorf("long text default = %#v", d.Fields[7].DefaultValue)
	}
	if !form.IsType(form.TypeURL) || form.IsType("text") || !form.IsFormat(form.FormatEmailBody) || form.IsFormat("pdf") {
		t.Error("IsType/IsFormat")
	}
}
