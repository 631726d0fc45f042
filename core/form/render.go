package form

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Delivery file names.
const (
	FileJSON = "metadata.json"
	FileCSV  = "metadata.csv"
	FileXML  = "metadata.xml"
)

// Doc is what delivery renders: the form, the validated values and their
// context.
type Doc struct {
	FormName    string
	PackageID   string
	PackageName string
	Sender      string
	SubmittedAt time.Time
	Fields      []Field        // the definition's fields, in order
	Values      map[string]any // as returned by Validate (a JSON round trip of it works too)
}

// FileName returns the delivery file name of a format: metadata.json,
// metadata.csv, metadata.xml, or "" for email_body.
func FileName(format string) string {
	switch format {
	case FormatJSON:
		return FileJSON
	case FormatCSV:
		return FileCSV
	case FormatXML:
		return FileXML
	}
	return ""
}

// Render returns the bytes of one delivery format and the file name to use
// ("" for email_body, which is UTF-8 plain text with LF line ends).
//
// Every field of doc.Fields is rendered in order; a field is "absent" when
// doc.Values has no entry (or nil, an empty string or an empty list) for it;
// values of names that are not fields are ignored. Values may be the types
// Validate returns or their JSON round trip (float64, []any).
//
// JSON: {"form","package_id","package_name","sender","submitted_at"
// (RFC 3339, UTC, whole seconds; "" for the zero time),"fields":[{"name",
// "label","type","value"}...],"values":{name: value}}. An absent field is
// listed in "fields" with "value": null and is left out of "values".
//
// CSV: header name,label,type,value; then context rows of type "meta":
// _form, _package_id, _package_name, _sender, _submitted_at; then one row
// per field. Checkbox lists are joined with "; ", booleans are true/false,
// numbers decimal, absent values empty. Any cell starting with '=', '+',
// '-', '@', tab or CR gets a leading "'" against formula injection — the
// number -42 is therefore written '-42.
//
// XML: the XML header, then <metadata form package_id package_name sender
// submitted_at> holding one <field name label type> per field, with one
// <value> per checkbox choice, one for any other value, none when absent.
// Characters XML 1.0 cannot carry (which Normalize and Validate refuse but
// a hand-made Doc may hold) are replaced by U+FFFD, so the output is always
// well-formed.
//
// email_body: one "Label: value" line per present field (absent fields
// are skipped), checkbox lists joined with ", ". Control characters and
// line breaks are replaced by spaces except in long_text and
// package_description values, whose continuation lines are indented by
// two spaces, so a value can never forge another line.
func Render(format string, doc Doc) (name string, data []byte, err error) {
	switch format {
	case FormatJSON:
		data, err = renderJSON(doc)
	case FormatCSV:
		data, err = renderCSV(doc)
	case FormatXML:
		data, err = renderXML(doc)
	case FormatEmailBody:
		data, err = renderEmail(doc)
	default:
		return "", nil, fmt.Errorf("form: unknown delivery format %q", format)
	}
	if err != nil {
		return "", nil, err
	}
	return FileName(format), data, nil
}

func submittedAt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// value returns doc's value for f, or nil when it is absent.
func (doc *Doc) value(f *Field) any {
	v, ok := doc.Values[f.Name]
	if !ok {
		return nil
	}
	switch r := v.(type) {
	case string:
		if r == "" {
			return nil
		}
	case []string:
		if len(r) == 0 {
			return nil
		}
	case []any:
		if len(r) == 0 {
			return nil
		}
	}
	return v
}

// texts returns the textual form of a value: one string per checkbox choice,
// one for any other value, none for nil.
func texts(v any) []string {
	switch r := v.(type) {
	case nil:
		return nil
	case []string:
		return r
	case []any:
		out := make([]string, 0, len(r))
		for _, e := range r {
			out = append(out, scalarText(e))
		}
		return out
	}
	return []string{scalarText(v)}
}

func scalarText(v any) string {
	switch r := v.(type) {
	case nil:
		return ""
	case string:
		return r
	case bool:
		return strconv.FormatBool(r)
	case int64:
		return strconv.FormatInt(r, 10)
	case int:
		return strconv.Itoa(r)
	case int32:
		return strconv.FormatInt(int64(r), 10)
	case float64:
		if r == math.Trunc(r) && math.Abs(r) < 1<<63 {
			return strconv.FormatInt(int64(r), 10)
		}
		return strconv.FormatFloat(r, 'f', -1, 64)
	case json.Number:
		return r.String()
	}
	return fmt.Sprint(v)
}

// ---- JSON

type jsonField struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

type jsonDoc struct {
	Form        string         `json:"form"`
	PackageID   string         `json:"package_id"`
	PackageName string         `json:"package_name"`
	Sender      string         `json:"sender"`
	SubmittedAt string         `json:"submitted_at"`
	Fields      []jsonField    `json:"fields"`
	Values      map[string]any `json:"values"`
}

func renderJSON(doc Doc) ([]byte, error) {
	out := jsonDoc{
		Form:        doc.FormName,
		PackageID:   doc.PackageID,
		PackageName: doc.PackageName,
		Sender:      doc.Sender,
		SubmittedAt: submittedAt(doc.SubmittedAt),
		Fields:      make([]jsonField, 0, len(doc.Fields)),
		Values:      map[string]any{},
	}
	for i := range doc.Fields {
		f := &doc.Fields[i]
		v := doc.value(f)
		if fl, ok := v.(float64); ok && (math.IsNaN(fl) || math.IsInf(fl, 0)) {
			v = scalarText(fl) // encoding/json cannot encode them
		}
		out.Fields = append(out.Fields, jsonField{Name: f.Name, Label: f.Label, Type: f.Type, Value: v})
		if v != nil {
			out.Values[f.Name] = v
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("form: render json: %w", err)
	}
	return buf.Bytes(), nil
}

// ---- CSV

// csvCell neutralizes spreadsheet formula injection.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func renderCSV(doc Doc) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	write := func(cells ...string) {
		for i := range cells {
			cells[i] = csvCell(strings.ToValidUTF8(cells[i], "\uFFFD"))
		}
		_ = w.Write(cells) // errors surface through w.Error
	}
	write("name", "label", "type", "value")
	write("_form", "Form", "meta", doc.FormName)
	write("_package_id", "Package ID", "meta", doc.PackageID)
	write("_package_name", "Package Name", "meta", doc.PackageName)
	write("_sender", "Sender", "meta", doc.Sender)
	write("_submitted_at", "Submitted At", "meta", submittedAt(doc.SubmittedAt))
	for i := range doc.Fields {
		f := &doc.Fields[i]
		write(f.Name, f.Label, f.Type, strings.Join(texts(doc.value(f)), "; "))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("form: render csv: %w", err)
	}
	return buf.Bytes(), nil
}

// ---- XML

type xmlField struct {
	Name   string   `xml:"name,attr"`
	Label  string   `xml:"label,attr"`
	Type   string   `xml:"type,attr"`
	Values []string `xml:"value"`
}

type xmlDoc struct {
	XMLName     xml.Name   `xml:"metadata"`
	Form        string     `xml:"form,attr"`
	PackageID   string     `xml:"package_id,attr"`
	PackageName string     `xml:"package_name,attr"`
	Sender      string     `xml:"sender,attr"`
	SubmittedAt string     `xml:"submitted_at,attr"`
	Fields      []xmlField `xml:"field"`
}

// xmlSafe replaces what XML 1.0 cannot carry (invalid UTF-8, control
// characters other than tab, LF and CR, U+FFFE and U+FFFF) by U+FFFD.
// encoding/xml does the same, this keeps it explicit.
func xmlSafe(s string) string {
	ok := true
	for _, r := range s {
		if !isXMLChar(r) {
			ok = false
			break
		}
	}
	if ok && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if !isXMLChar(r) {
			r = '\uFFFD'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func renderXML(doc Doc) ([]byte, error) {
	out := xmlDoc{
		Form:        xmlSafe(doc.FormName),
		PackageID:   xmlSafe(doc.PackageID),
		PackageName: xmlSafe(doc.PackageName),
		Sender:      xmlSafe(doc.Sender),
		SubmittedAt: submittedAt(doc.SubmittedAt),
		Fields:      make([]xmlField, 0, len(doc.Fields)),
	}
	for i := range doc.Fields {
		f := &doc.Fields[i]
		xf := xmlField{Name: xmlSafe(f.Name), Label: xmlSafe(f.Label), Type: xmlSafe(f.Type)}
		for _, t := range texts(doc.value(f)) {
			xf.Values = append(xf.Values, xmlSafe(t))
		}
		out.Fields = append(out.Fields, xf)
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("form: render xml: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// ---- email body

// oneLine makes s safe on a single line: invalid UTF-8 becomes U+FFFD,
// control characters and line/paragraph separators become spaces.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == 0x2028 || r == 0x2029 || r == 0xFFFE || r == 0xFFFF {
			return ' '
		}
		return r
	}, s)
}

func renderEmail(doc Doc) ([]byte, error) {
	var b bytes.Buffer
	for i := range doc.Fields {
		f := &doc.Fields[i]
		v := doc.value(f)
		if v == nil {
			continue
		}
		b.WriteString(oneLine(f.Label))
		b.WriteString(":")
		text := strings.Join(texts(v), ", ")
		if f.Type == TypeLongText || f.Type == TypePackageDescription {
			text = strings.ReplaceAll(text, "\r\n", "\n")
			text = strings.ReplaceAll(text, "\r", "\n")
			for k, line := range strings.Split(text, "\n") {
				if k > 0 {
					b.WriteString("\n  ")
				} else {
					b.WriteString(" ")
				}
				b.WriteString(oneLine(line))
			}
		} else {
			b.WriteString(" ")
			b.WriteString(oneLine(text))
		}
		b.WriteString("\n")
	}
	return b.Bytes(), nil
}
