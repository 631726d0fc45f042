// Package form implements MASV-style custom metadata forms: a portal's form
// definition (name, delivery formats, fields), the validation of a sender's
// response against it, and the rendering of the validated values in the
// delivery formats (metadata.json, metadata.csv, metadata.xml and an email
// body).
//
// The package is a leaf: it uses the standard library only. Every
// validation problem is reported as a *FieldError naming the offending
// field, which the HTTP layer maps to a 400 with "field".
//
// Field names in FieldError:
//   - Normalize: "name", "delivery_formats", "fields" or a path into the
//     submitted field list such as "fields[2].options" (the index is the
//     one in the submitted list, before sorting by position).
//   - Validate: the form field's name (or the unknown key as sent).
package form

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Field types.
const (
	TypeCheckbox           = "checkbox"
	TypeRadio              = "radio"
	TypeDropdown           = "dropdown"
	TypeDate               = "date"
	TypeShortText          = "short_text"
	TypeLongText           = "long_text"
	TypeNumber             = "number"
	TypeURL                = "url"
	TypeEmail              = "email"
	TypePackageName        = "package_name"
	TypePackageDescription = "package_description"
	TypeSenderEmail        = "sender_email"
)

// Field visibilities.
const (
	Required = "required"
	Optional = "optional"
	ReadOnly = "readonly"
	Hidden   = "hidden"
)

// Delivery formats.
const (
	FormatJSON      = "json"
	FormatCSV       = "csv"
	FormatXML       = "xml"
	FormatEmailBody = "email_body"
)

// Limits.
const (
	MaxFormNameLen  = 255   // bytes of Definition.Name
	MaxFields       = 100   // fields per form
	MaxFieldNameLen = 64    // bytes of Field.Name
	MaxLabelLen     = 255   // bytes of Field.Label
	MaxOptions      = 200   // choices per checkbox/radio/dropdown
	MaxOptionLen    = 255   // bytes of one choice
	MaxShortText    = 255   // bytes of short_text and package_name values
	MaxLongText     = 10000 // bytes of long_text and package_description values
	MaxEmailLen     = 254   // bytes of email and sender_email values
	MaxURLLen       = 2048  // bytes of url values
)

// Field is one field of a form.
type Field struct {
	Name         string   `json:"name"`
	Label        string   `json:"label"`
	Type         string   `json:"type"`
	Visibility   string   `json:"visibility"`
	DefaultValue any      `json:"default_value,omitempty"`
	Position     int      `json:"position"`
	Options      []string `json:"options,omitempty"`
}

// Definition is a portal's metadata form.
type Definition struct {
	Name            string   `json:"name"`
	DeliveryFormats []string `json:"delivery_formats"`
	Fields          []Field  `json:"fields"`
}

// FieldError is a validation error naming the field it is about.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return "form: " + e.Msg
	}
	return "form: " + e.Field + ": " + e.Msg
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

var knownTypes = map[string]bool{
	TypeCheckbox: true, TypeRadio: true, TypeDropdown: true, TypeDate: true,
	TypeShortText: true, TypeLongText: true, TypeNumber: true, TypeURL: true,
	TypeEmail: true, TypePackageName: true, TypePackageDescription: true,
	TypeSenderEmail: true,
}

var knownVisibilities = map[string]bool{Required: true, Optional: true, ReadOnly: true, Hidden: true}

var knownFormats = map[string]bool{FormatJSON: true, FormatCSV: true, FormatXML: true, FormatEmailBody: true}

// IsType reports whether t is a known field type.
func IsType(t string) bool { return knownTypes[t] }

// IsFormat reports whether f is a known delivery format.
func IsFormat(f string) bool { return knownFormats[f] }

// DefaultFields returns the three fields of a new form: sender_email
// (required), package_name and package_description (optional), at
// positions 0, 1 and 2.
func DefaultFields() []Field {
	return []Field{
		{Name: "sender_email", Label: "Sender Email", Type: TypeSenderEmail, Visibility: Required, Position: 0},
		{Name: "package_name", Label: "Package Name", Type: TypePackageName, Visibility: Optional, Position: 1},
		{Name: "package_description", Label: "Package Description", Type: TypePackageDescription, Visibility: Optional, Position: 2},
	}
}

func hasChoices(t string) bool { return t == TypeCheckbox || t == TypeRadio || t == TypeDropdown }

// Normalize checks a form definition and normalizes it in place. On error
// d is left unchanged and the error is a *FieldError.
//
//   - Name is trimmed and must be 1..255 bytes on one line.
//   - DeliveryFormats must be among json, csv, xml, email_body; duplicates
//     are dropped (first occurrence kept); the list may be empty (never nil
//     after Normalize).
//   - At most 100 fields; no fields means DefaultFields().
//   - Field names are trimmed and lower-cased, 1..64 bytes of [a-z0-9_-],
//     starting with a letter or digit (names starting with "_" are reserved
//     for the CSV context rows), unique.
//   - Labels are trimmed, 1..255 bytes on one line without control chars.
//   - Visibility "" becomes optional; url fields are always readonly.
//   - Options: checkbox (optional list; none means a single yes/no box),
//     radio and dropdown (at least one) take 1..200 trimmed, non-empty,
//     unique choices of ≤ 255 bytes; other types must have none.
//   - DefaultValue is validated and normalized like a sender's value (so a
//     number default becomes int64, a date "2026/01/02" becomes
//     "2026-01-02"); an empty default ("" or []) becomes nil. readonly and
//     hidden fields must have a default (they are server-filled); url
//     fields must have an http(s) URL default.
//   - At most one field each of types package_name, package_description
//     and sender_email.
//   - Fields are sorted by Position (stable) and renumbered 0..n-1.
func Normalize(d *Definition) error {
	if d == nil {
		return fieldErr("", "missing form definition")
	}
	out := Definition{}

	name := strings.TrimSpace(d.Name)
	if name == "" {
		return fieldErr("name", "is required")
	}
	if len(name) > MaxFormNameLen {
		return fieldErr("name", "is longer than %d bytes", MaxFormNameLen)
	}
	if msg := checkLine(name); msg != "" {
		return fieldErr("name", "%s", msg)
	}
	out.Name = name

	out.DeliveryFormats = []string{}
	seenFormat := map[string]bool{}
	for i, f := range d.DeliveryFormats {
		if !knownFormats[f] {
			return fieldErr(fmt.Sprintf("delivery_formats[%d]", i), "unknown delivery format %q (expected json, csv, xml or email_body)", f)
		}
		if !seenFormat[f] {
			seenFormat[f] = true
			out.DeliveryFormats = append(out.DeliveryFormats, f)
		}
	}

	if len(d.Fields) > MaxFields {
		return fieldErr("fields", "has %d fields, at most %d are allowed", len(d.Fields), MaxFields)
	}
	src := d.Fields
	if len(src) == 0 {
		src = DefaultFields()
	}
	fields := make([]Field, len(src))
	seenName := map[string]int{}
	seenSpecial := map[string]int{}
	for i := range src {
		f, err := normalizeField(i, src[i])
		if err != nil {
			return err
		}
		if j, dup := seenName[f.Name]; dup {
			return fieldErr(fmt.Sprintf("fields[%d].name", i), "duplicates the name %q of fields[%d]", f.Name, j)
		}
		seenName[f.Name] = i
		switch f.Type {
		case TypePackageName, TypePackageDescription, TypeSenderEmail:
			if j, dup := seenSpecial[f.Type]; dup {
				return fieldErr(fmt.Sprintf("fields[%d].type", i), "only one field of type %s is allowed (fields[%d] is one)", f.Type, j)
			}
			seenSpecial[f.Type] = i
		}
		fields[i] = f
	}
	sort.SliceStable(fields, func(a, b int) bool { return fields[a].Position < fields[b].Position })
	for i := range fields {
		fields[i].Position = i
	}
	out.Fields = fields
	*d = out
	return nil
}

func normalizeField(i int, in Field) (Field, error) {
	path := func(attr string) string { return fmt.Sprintf("fields[%d].%s", i, attr) }
	f := Field{Position: in.Position}

	f.Name = strings.ToLower(strings.TrimSpace(in.Name))
	if f.Name == "" {
		return f, fieldErr(path("name"), "is required")
	}
	if len(f.Name) > MaxFieldNameLen {
		return f, fieldErr(path("name"), "is longer than %d bytes", MaxFieldNameLen)
	}
	for k := 0; k < len(f.Name); k++ {
		c := f.Name[k]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (k > 0 && (c == '_' || c == '-'))
		if !ok {
			return f, fieldErr(path("name"), "%q must be made of a-z, 0-9, '_' and '-', starting with a letter or digit", in.Name)
		}
	}

	f.Label = strings.TrimSpace(in.Label)
	if f.Label == "" {
		return f, fieldErr(path("label"), "is required")
	}
	if len(f.Label) > MaxLabelLen {
		return f, fieldErr(path("label"), "is longer than %d bytes", MaxLabelLen)
	}
	if msg := checkLine(f.Label); msg != "" {
		return f, fieldErr(path("label"), "%s", msg)
	}

	f.Type = in.Type
	if !knownTypes[f.Type] {
		return f, fieldErr(path("type"), "unknown field type %q", in.Type)
	}

	f.Visibility = in.Visibility
	if f.Visibility == "" {
		f.Visibility = Optional
	}
	if !knownVisibilities[f.Visibility] {
		return f, fieldErr(path("visibility"), "unknown visibility %q (expected required, optional, readonly or hidden)", in.Visibility)
	}
	if f.Type == TypeURL {
		f.Visibility = ReadOnly
	}

	if hasChoices(f.Type) {
		if len(in.Options) == 0 && f.Type != TypeCheckbox {
			return f, fieldErr(path("options"), "a %s field needs at least one option", f.Type)
		}
		if len(in.Options) > MaxOptions {
			return f, fieldErr(path("options"), "has %d options, at most %d are allowed", len(in.Options), MaxOptions)
		}
		seen := map[string]bool{}
		for k, o := range in.Options {
			op := fmt.Sprintf("fields[%d].options[%d]", i, k)
			o = strings.TrimSpace(o)
			if o == "" {
				return f, fieldErr(op, "is empty")
			}
			if len(o) > MaxOptionLen {
				return f, fieldErr(op, "is longer than %d bytes", MaxOptionLen)
			}
			if msg := checkLine(o); msg != "" {
				return f, fieldErr(op, "%s", msg)
			}
			if seen[o] {
				return f, fieldErr(op, "duplicates the option %q", o)
			}
			seen[o] = true
			f.Options = append(f.Options, o)
		}
	} else if len(in.Options) > 0 {
		return f, fieldErr(path("options"), "a %s field takes no options", f.Type)
	}

	if in.DefaultValue != nil {
		v, present, msg := normValue(&f, in.DefaultValue)
		if msg != "" {
			return f, fieldErr(path("default_value"), "%s", msg)
		}
		if present {
			f.DefaultValue = v
		}
	}
	if f.DefaultValue == nil {
		switch {
		case f.Type == TypeURL:
			return f, fieldErr(path("default_value"), "a url field is read-only and needs an http(s) URL as default value")
		case f.Visibility == ReadOnly || f.Visibility == Hidden:
			return f, fieldErr(path("default_value"), "a %s field is filled by the server and needs a default value", f.Visibility)
		}
	}
	return f, nil
}

// checkLine returns "" when s is valid UTF-8 on one line without control
// characters nor characters XML 1.0 cannot carry; otherwise a message.
func checkLine(s string) string {
	return checkText(s, false, false)
}

// checkText checks valid UTF-8 and refuses control characters (and the
// non-characters U+FFFE/U+FFFF that XML cannot carry) except tab when
// allowTab and LF when multiline; a single line also refuses the Unicode
// line and paragraph separators.
func checkText(s string, allowTab, multiline bool) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		switch {
		case r == 0:
			return "contains a NUL character"
		case r == '\t' && allowTab:
		case r == '\n' && multiline:
		case r == '\n' || r == '\r' || r == 0x85 || r == 0x2028 || r == 0x2029:
			return "must be a single line"
		case unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF:
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	return ""
}

// checkURL validates an http(s) URL and returns a message when it is not one.
func checkURL(s string) string {
	if len(s) > MaxURLLen {
		return fmt.Sprintf("is longer than %d bytes", MaxURLLen)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) || !utf8.ValidString(s) {
		return fmt.Sprintf("%q is not a valid http(s) URL", s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fmt.Sprintf("%q is not a valid http(s) URL", s)
	}
	return ""
}
