package core

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on user input.
const (
	MaxNameLen        = 255
	MaxDescriptionLen = 2000
	MinPasswordLen    = 10
	MaxPasswordLen    = 256
	MaxEmailLen       = 254
)

// NormalizeEmail trims and lower-cases an address and checks its form.
func NormalizeEmail(op, field, email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" {
		return "", Invalidf(op, field, "%s is required", field)
	}
	if len(e) > MaxEmailLen {
		return "", Invalidf(op, field, "%s is longer than %d characters", field, MaxEmailLen)
	}
	a, err := mail.ParseAddress(e)
	domain := e[strings.LastIndexByte(e, '@')+1:]
	if err != nil || a.Address != e || (!strings.Contains(domain, ".") && domain != "localhost") {
		return "", Invalidf(op, field, "%s %q is not a valid email address (expected name@example.com)", field, email)
	}
	return e, nil
}

// CheckName validates a required display name.
func CheckName(op, field, name string) (string, error) {
	n := strings.TrimSpace(name)
	if n == "" {
		return "", Invalidf(op, field, "%s is required", field)
	}
	return n, CheckText(op, field, n, MaxNameLen)
}

// CheckText validates optional free text: valid UTF-8, no control
// characters but newlines and tabs, at most max characters.
func CheckText(op, field, s string, max int) error {
	if !utf8.ValidString(s) {
		return Invalidf(op, field, "%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return Invalidf(op, field, "%s is %d characters long; the maximum is %d", field, n, max)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return Invalidf(op, field, "%s contains a control character", field)
		}
	}
	return nil
}

// CheckPassword validates a new password.
func CheckPassword(op, field, pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return Invalidf(op, field, "%s must be at least %d characters long", field, MinPasswordLen)
	}
	if len(pw) > MaxPasswordLen {
		return Invalidf(op, field, "%s must be at most %d bytes long", field, MaxPasswordLen)
	}
	return nil
}

// CheckTimeZone validates an IANA time zone name ("" means UTC).
func CheckTimeZone(op, field, tz string) error {
	if tz == "" {
		return nil
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return Invalidf(op, field, "%s %q is not an IANA time zone name such as Europe/Paris", field, tz)
	}
	return nil
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// Slug turns a name into a DNS-safe label.
func Slug(name string) string {
	s := strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(s) > 40 {
		s = strings.Trim(s[:40], "-")
	}
	if s == "" {
		s = "team"
	}
	return s
}
