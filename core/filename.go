package core

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits on the names and paths of files in packages.
const (
	MaxFileNameBytes = 255  // one name (a path segment), as most file systems allow
	MaxFilePathBytes = 4096 // a whole path, as Linux's PATH_MAX
)

// CheckFileName validates a file's name: one path segment, refused with a
// message naming the rule it breaks. It returns the name in Unicode NFC.
func CheckFileName(op, field, name string) (string, error) {
	if name == "" {
		return "", Invalidf(op, field, "%s is required", field)
	}
	if strings.ContainsAny(name, `/\`) {
		return "", Invalidf(op, field, "%s %q contains a path separator: put the folders in path, the name alone in name", field, name)
	}
	return checkSegment(op, field, name)
}

// CheckFilePath validates a file's directory inside its package: relative,
// "/" as the one separator, no "." or ".." segments, no empty segments
// (a trailing "/" is dropped), each segment a valid name. "" is the top.
func CheckFilePath(op, field, path string) (string, error) {
	path = strings.TrimSuffix(path, "/")
	if path == "" {
		return "", nil
	}
	if len(path) > MaxFilePathBytes {
		return "", Invalidf(op, field, "%s is %d bytes long; the maximum is %d", field, len(path), MaxFilePathBytes)
	}
	if strings.HasPrefix(path, "/") || strings.HasPrefix(path, `\`) || (len(path) >= 2 && path[1] == ':') {
		return "", Invalidf(op, field, "%s %q is absolute: give it relative to the package", field, path)
	}
	if strings.Contains(path, `\`) {
		return "", Invalidf(op, field, `%s %q contains a backslash: the one separator is "/"`, field, path)
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if seg == "" {
			return "", Invalidf(op, field, "%s %q has an empty segment (\"//\")", field, path)
		}
		n, err := checkSegment(op, field, seg)
		if err != nil {
			return "", err
		}
		segs[i] = n
	}
	out := strings.Join(segs, "/")
	if len(out) > MaxFilePathBytes {
		return "", Invalidf(op, field, "%s is %d bytes long; the maximum is %d", field, len(out), MaxFilePathBytes)
	}
	return out, nil
}

func checkSegment(op, field, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", Invalidf(op, field, "%s is not valid UTF-8", field)
	}
	if s == "." || s == ".." {
		return "", Invalidf(op, field, "%s must not contain %q segments (path traversal)", field, s)
	}
	for _, r := range s {
		if r == 0 {
			return "", Invalidf(op, field, "%s contains a NUL character", field)
		}
		if unicode.IsControl(r) {
			return "", Invalidf(op, field, "%s contains a control character (U+%04X)", field, r)
		}
	}
	s = norm.NFC.String(s)
	if len(s) > MaxFileNameBytes {
		return "", Invalidf(op, field, "%s has a name of %d bytes; the maximum is %d bytes per name", field, len(s), MaxFileNameBytes)
	}
	return s, nil
}

// WindowsUnsafe reports why a file's name or path could not be written
// as it is on Windows ("" when it can): a reserved device name (CON, PRN,
// AUX, NUL, COM1-9, LPT1-9, with or without an extension), a character
// Windows forbids, or a trailing dot or space. Such names are kept as sent
// and flagged, so downloaders can rename them.
func WindowsUnsafe(path, name string) string {
	segs := []string{name}
	if path != "" {
		segs = append(strings.Split(path, "/"), name)
	}
	for _, s := range segs {
		base := strings.ToUpper(s)
		if i := strings.IndexByte(base, '.'); i >= 0 {
			base = base[:i]
		}
		base = strings.TrimRight(base, " ")
		switch base {
		case "CON", "PRN", "AUX", "NUL":
			return s + " is a reserved device name on Windows"
		}
		if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && base[3] >= '1' && base[3] <= '9' {
			return s + " is a reserved device name on Windows"
		}
		if strings.ContainsAny(s, `<>:"|?*`) {
			return s + ` contains a character Windows forbids (<>:"|?*)`
		}
		if strings.HasSuffix(s, ".") || strings.HasSuffix(s, " ") {
			return s + " ends with a dot or a space, which Windows drops"
		}
	}
	return ""
}

// WindowsSafeName returns one path segment changed, where WindowsUnsafe
// would flag it, into a name Windows can write: forbidden characters
// become "_", a trailing dot or space becomes "_", and a reserved device
// name gets a leading "_". Safe names come back unchanged.
func WindowsSafeName(seg string) string {
	if WindowsUnsafe("", seg) == "" {
		return seg
	}
	b := []byte(seg)
	for i, c := range b {
		if strings.IndexByte(`<>:"|?*`, c) >= 0 || c < 0x20 {
			b[i] = '_'
		}
	}
	if n := len(b); n > 0 && (b[n-1] == '.' || b[n-1] == ' ') {
		b[n-1] = '_'
	}
	out := string(b)
	if WindowsUnsafe("", out) != "" { // a reserved device name
		out = "_" + out
	}
	return out
}
