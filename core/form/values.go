package form

import (
	"encoding/json"
	"fmt"
	"math"
	"net/mail"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Validate checks a sender's response against the definition (normally
// normalized by Normalize) and returns the normalized values keyed by field
// name. On error the result is nil and the error is a *FieldError naming
// the field (for an unknown key: the key as sent).
//
// Keys are matched to field names case-insensitively; two keys naming the
// same field are refused, as are keys naming no field.
//
// Input values are what encoding/json decodes into any (string, float64 or
// json.Number, bool, []any, nil); []string and Go integers are accepted
// too. nil, a string that is blank after trimming and an empty list mean
// "no value". A field without a value is:
//   - required: refused;
//   - optional: omitted from the result (the default is not applied);
//   - readonly or hidden (and every url field): set to the default.
//
// A readonly or hidden field given a value different from its default (after
// normalization) is refused.
//
// Result value types:
//   - checkbox with options: []string, a non-empty subset of the options in
//     option order (duplicates and unknown choices refused);
//   - checkbox without options: bool; a required one must be true;
//   - radio, dropdown: string, one of the options;
//   - number: int64; whole numbers only, from a JSON number without
//     fraction (float64 beyond ±2^53 refused) or a decimal string matching
//     -?[0-9]+ (no trimming, no '+', no exponent, no hex);
//   - date: string "YYYY-MM-DD", from YYYY-MM-DD or YYYY/MM/DD, a real
//     calendar date with a year 0001..9999;
//   - email, sender_email: lower-cased bare address (addr-spec, no display
//     name) of ≤ 254 bytes, whose domain has a dot (or is localhost);
//   - url: string, the default;
//   - short_text, package_name: string of ≤ 255 bytes on one line;
//   - long_text, package_description: string of ≤ 10000 bytes, CRLF and
//     CR turned into LF.
//
// Strings are trimmed of surrounding white space and must be valid UTF-8
// without NUL nor other control characters (tab allowed in text, LF in
// long text); single-line values also refuse CR, LF, U+0085, U+2028 and
// U+2029. Text is data: "=cmd", "<script>" and the like are accepted as is
// (Render neutralizes them per format).
func (d *Definition) Validate(values map[string]any) (map[string]any, error) {
	byName := make(map[string]int, len(d.Fields))
	for i, f := range d.Fields {
		byName[strings.ToLower(f.Name)] = i
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	given := make(map[int]any, len(values))
	givenKey := make(map[int]string, len(values))
	for _, k := range keys {
		i, ok := byName[strings.ToLower(strings.TrimSpace(k))]
		if !ok {
			return nil, fieldErr(k, "is not a field of this form")
		}
		if prev, dup := givenKey[i]; dup {
			return nil, fieldErr(d.Fields[i].Name, "is given twice (as %q and %q)", prev, k)
		}
		given[i] = values[k]
		givenKey[i] = k
	}

	out := make(map[string]any, len(d.Fields))
	for i := range d.Fields {
		f := &d.Fields[i]
		vis := f.Visibility
		if vis == "" {
			vis = Optional
		}
		if f.Type == TypeURL {
			vis = ReadOnly
		}
		v, present, msg := normValue(f, given[i])
		if msg != "" {
			return nil, fieldErr(f.Name, "%s", msg)
		}
		switch vis {
		case ReadOnly, Hidden:
			var def any
			defPresent := false
			if f.DefaultValue != nil {
				var dmsg string
				def, defPresent, dmsg = normValue(f, f.DefaultValue)
				if dmsg != "" {
					return nil, fieldErr(f.Name, "the form's default value %s", dmsg)
				}
			}
			if present && (!defPresent || !reflect.DeepEqual(v, def)) {
				return nil, fieldErr(f.Name, "is %s and cannot be changed", vis)
			}
			if defPresent {
				out[f.Name] = def
			}
		case Required:
			if !present {
				return nil, fieldErr(f.Name, "is required")
			}
			if b, ok := v.(bool); ok && !b {
				return nil, fieldErr(f.Name, "is required and must be checked")
			}
			out[f.Name] = v
		default: // optional
			if present {
				out[f.Name] = v
			}
		}
	}
	return out, nil
}

// normValue validates and normalizes one raw value for field f. It returns
// the normalized value, whether there is a value at all, and a message when
// the value is invalid.
func normValue(f *Field, raw any) (any, bool, string) {
	switch r := raw.(type) {
	case nil:
		return nil, false, ""
	case string:
		if strings.TrimSpace(r) == "" {
			return nil, false, ""
		}
	case []any:
		if len(r) == 0 {
			return nil, false, ""
		}
	case []string:
		if len(r) == 0 {
			return nil, false, ""
		}
	}

	switch f.Type {
	case TypeCheckbox:
		if len(f.Options) == 0 {
			b, ok := raw.(bool)
			if !ok {
				return nil, false, "must be a boolean"
			}
			return b, true, ""
		}
		return normChoices(f, raw)
	case TypeRadio, TypeDropdown:
		s, ok := raw.(string)
		if !ok {
			return nil, false, "must be a string (one of the options)"
		}
		s = strings.TrimSpace(s)
		for _, o := range f.Options {
			if o == s {
				return s, true, ""
			}
		}
		return nil, false, fmt.Sprintf("%q is not one of the options", truncate(s))
	case TypeNumber:
		n, msg := normNumber(raw)
		if msg != "" {
			return nil, false, msg
		}
		return n, true, ""
	case TypeDate:
		s, ok := raw.(string)
		if !ok {
			return nil, false, "must be a date string (YYYY-MM-DD or YYYY/MM/DD)"
		}
		d, msg := normDate(strings.TrimSpace(s))
		if msg != "" {
			return nil, false, msg
		}
		return d, true, ""
	case TypeEmail, TypeSenderEmail:
		s, ok := raw.(string)
		if !ok {
			return nil, false, "must be an email address string"
		}
		e, msg := normEmail(strings.TrimSpace(s))
		if msg != "" {
			return nil, false, msg
		}
		return e, true, ""
	case TypeURL:
		s, ok := raw.(string)
		if !ok {
			return nil, false, "must be a URL string"
		}
		s = strings.TrimSpace(s)
		if msg := checkURL(s); msg != "" {
			return nil, false, msg
		}
		return s, true, ""
	case TypeShortText, TypePackageName:
		s, ok := raw.(string)
		if !ok {
			return nil, false, "must be a string"
		}
		s = strings.TrimSpace(s)
		if msg := checkText(s, true, false); msg != "" {
			return nil, false, msg
		}
		if len(s) > MaxShortText {
			return nil, false, fmt.Sprintf("is longer than %d bytes", MaxShortText)
		}
		return s, true, ""
	case TypeLongText, TypePackageDescription:
		s, ok := raw.(string)
		if !ok {
			return nil, false, "must be a string"
		}
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
		s = strings.TrimSpace(s)
		if msg := checkText(s, true, true); msg != "" {
			return nil, false, msg
		}
		if len(s) > MaxLongText {
			return nil, false, fmt.Sprintf("is longer than %d bytes", MaxLongText)
		}
		return s, true, ""
	}
	return nil, false, fmt.Sprintf("has the unknown field type %q", f.Type)
}

func normChoices(f *Field, raw any) (any, bool, string) {
	var items []any
	switch r := raw.(type) {
	case []any:
		items = r
	case []string:
		items = make([]any, len(r))
		for i, s := range r {
			items[i] = s
		}
	default:
		return nil, false, "must be a list of options"
	}
	picked := make(map[string]bool, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, false, "must be a list of option strings"
		}
		s = strings.TrimSpace(s)
		if picked[s] {
			return nil, false, fmt.Sprintf("selects %q twice", truncate(s))
		}
		picked[s] = true
	}
	out := make([]string, 0, len(picked))
	for _, o := range f.Options {
		if picked[o] {
			out = append(out, o)
			delete(picked, o)
		}
	}
	if len(picked) > 0 {
		bad := make([]string, 0, len(picked))
		for s := range picked {
			bad = append(bad, s)
		}
		sort.Strings(bad)
		return nil, false, fmt.Sprintf("%q is not one of the options", truncate(bad[0]))
	}
	return out, true, ""
}

const maxSafeFloat = 1 << 53

func normNumber(raw any) (int64, string) {
	const msg = "must be a whole number (no decimals)"
	switch r := raw.(type) {
	case float64:
		if math.IsNaN(r) || math.IsInf(r, 0) || r != math.Trunc(r) {
			return 0, msg
		}
		if r > maxSafeFloat || r < -maxSafeFloat {
			return 0, "is out of range (send it as a string)"
		}
		return int64(r), ""
	case int:
		return int64(r), ""
	case int32:
		return int64(r), ""
	case int64:
		return r, ""
	case json.Number:
		return parseWhole(string(r))
	case string:
		return parseWhole(r)
	}
	return 0, msg
}

// parseWhole parses -?[0-9]+ into an int64.
func parseWhole(s string) (int64, string) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 19 {
		if len(digits) > 19 && isDigits(digits) {
			return 0, "is out of range"
		}
		return 0, "must be a whole number (no decimals)"
	}
	if !isDigits(digits) {
		return 0, "must be a whole number (no decimals)"
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, "is out of range"
	}
	return n, ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func normDate(s string) (string, string) {
	bad := fmt.Sprintf("%q is not a date (expected YYYY-MM-DD or YYYY/MM/DD)", truncate(s))
	if len(s) != 10 || !isDigits(s[0:4]) || !isDigits(s[5:7]) || !isDigits(s[8:10]) {
		return "", bad
	}
	sep := s[4]
	if (sep != '-' && sep != '/') || s[7] != sep {
		return "", bad
	}
	iso := s[0:4] + "-" + s[5:7] + "-" + s[8:10]
	t, err := time.Parse(time.DateOnly, iso)
	if err != nil || t.Year() < 1 {
		return "", fmt.Sprintf("%q is not a calendar date", s)
	}
	return iso, ""
}

func normEmail(s string) (string, string) {
	if len(s) > MaxEmailLen {
		return "", fmt.Sprintf("is longer than %d bytes", MaxEmailLen)
	}
	bad := fmt.Sprintf("%q is not a valid email address (expected name@example.com)", truncate(s))
	if msg := checkLine(s); msg != "" {
		return "", bad
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", bad
	}
	at := strings.LastIndexByte(s, '@')
	domain := strings.ToLower(s[at+1:])
	if at <= 0 || (!strings.Contains(domain, ".") && domain != "localhost") || strings.HasSuffix(domain, ".") {
		return "", bad
	}
	return strings.ToLower(s), ""
}

// truncate shortens a value quoted in an error message.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
