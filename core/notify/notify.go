// Package notify renders haul's transactional mails and sends them over
// SMTP.
//
// Render turns a Data (what happened, to whom) into a Mail: a one-line
// subject, a plain-text part and an HTML part, from templates embedded in
// the binary (text/template for the subject and the text part,
// html/template for the HTML part, so every value is escaped there). A
// Sender delivers a Mail to an SMTP relay with go-mail.
//
// Mails never carry a password: Data has no field for one, and a link that
// needs one only says so (HasPassword).
//
// The package is a leaf: it imports no other haul package.
package notify

import (
	"errors"
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The kinds of mail, the value of Data.Kind and Mail.Kind.
const (
	// KindRecipientLink goes to a team package's recipient, or to the
	// email given when a link was created: the download link.
	KindRecipientLink = "recipient_link"
	// KindPortalUpload goes to a portal's recipients (with the download
	// link) and to its cc recipients (LinkURL empty): files arrived.
	KindPortalUpload = "portal_upload"
	// KindReceipt goes to the sender of a portal upload: the files arrived.
	KindReceipt = "receipt"
	// KindDownloaded goes to the sender of a team package when it is first
	// downloaded; Recipient is who downloaded it.
	KindDownloaded = "downloaded"
	// KindExpiryReminder goes to a recipient whose link expires soon.
	KindExpiryReminder = "expiry_reminder"
	// KindInvitation goes to a new team member: LinkURL accepts it.
	KindInvitation = "invitation"
	// KindPasswordReset goes to a user: LinkURL is a single-use reset link.
	KindPasswordReset = "password_reset"
)

// Kinds returns every kind Render knows, in a stable order.
func Kinds() []string {
	return []string{
		KindRecipientLink, KindPortalUpload, KindReceipt, KindDownloaded,
		KindExpiryReminder, KindInvitation, KindPasswordReset,
	}
}

// DefaultColor is the brand colour used when Branding.Color is empty.
const DefaultColor = "#2563eb"

// Errors of Render; the returned errors wrap them.
var (
	// ErrUnknownKind: Data.Kind is not one of Kinds().
	ErrUnknownKind = errors.New("unknown mail kind")
	// ErrMissingData: a field the kind needs is empty.
	ErrMissingData = errors.New("missing mail data")
	// ErrInvalidData: a field is malformed (an address, a link).
	ErrInvalidData = errors.New("invalid mail data")
)

// Mail is one rendered message.
type Mail struct {
	// To are the recipients' addresses as given in Data.To.
	To []string `json:"to"`
	// Subject is a single line.
	Subject string `json:"subject"`
	// Text is the plain-text part.
	Text string `json:"text"`
	// HTML is the HTML part, a complete document.
	HTML string `json:"html"`
	// Kind is the Data.Kind it was rendered from.
	Kind string `json:"kind"`
}

// Branding of a portal; the zero value means haul's defaults.
type Branding struct {
	// Color is "#rgb" or "#rrggbb", used for the header bar and the
	// button. A malformed value falls back to DefaultColor.
	Color string
	// LogoURL is an absolute http(s) URL of the logo, served by haul;
	// shown in the HTML header when set. A malformed value is ignored.
	LogoURL string
}

// Field is one metadata answer shown in a mail, already formatted as text.
// Value may span lines.
type Field struct {
	Label string
	Value string
}

// Data is what Render needs to write one mail. Which fields a kind uses:
//
//   - recipient_link: LinkURL (required), PackageName, Sender, TeamName,
//     Description, HasPassword, Expiry, Size, Files, Fields.
//   - portal_upload: PortalName, PackageName, Sender,
//     Description, LinkURL (empty for cc recipients), HasPassword, Expiry,
//     Size, Files, Fields, When.
//   - receipt: PortalName, PackageName, TeamName, Size, Files,
//     Fields, When.
//   - downloaded: PackageName, Recipient, Size, Files, Fields, When,
//     LinkURL (optional: where the sender can see the package).
//   - expiry_reminder: LinkURL and Expiry (required), PackageName, Sender,
//     TeamName, HasPassword, Size, Files, Fields.
//   - invitation: LinkURL (required), TeamName, Sender (who invited),
//     Expiry (of the invitation).
//   - password_reset: LinkURL (required), Expiry (of the link).
//
// To is required for every kind. Names may be empty (the wording adapts):
// a mail is better sent with less detail than not sent.
type Data struct {
	Kind        string
	To          []string
	TeamName    string
	PortalName  string
	PackageName string
	Description string
	// Sender is the sender's email (or who invited, for invitation).
	Sender string
	// Recipient is who downloaded, for downloaded.
	Recipient string
	// LinkURL is the download link, or the invitation or reset URL; an
	// absolute http(s) URL.
	LinkURL string
	// HasPassword says the link needs a password; the mail says so and
	// never includes it.
	HasPassword bool
	Expiry      time.Time
	Size        int64
	Files       int
	// Fields is the metadata (email_body) shown when non-empty.
	Fields   []Field
	Branding Branding
	// When the event happened (upload, download); zero omits it.
	When time.Time
}

// view is what the templates see: Data cleaned and formatted.
type view struct {
	Kind        string
	Subject     string
	TeamName    string
	PortalName  string
	PackageName string
	Description string
	Sender      string
	Recipient   string
	LinkURL     string
	HasPassword bool
	Expiry      string // formatted; "" when zero
	ExpiryDate  string // date only; "" when zero
	When        string // formatted; "" when zero
	Size        string // "" when 0
	Files       int
	Summary     string // "3 files, 1.2 GB"; "" when nothing is known
	Fields      []Field

	Brand     string // name in the header: TeamName or "haul"
	Color     string // #rrggbb
	TextColor string // #ffffff or #111111, readable on Color
	LinkColor string // Color when it reads on white, else DefaultColor
	LogoURL   string
}

// Render writes the mail of d. It fails with ErrUnknownKind for an unknown
// kind, ErrMissingData when To or a field the kind needs is empty, and
// ErrInvalidData for a malformed address or link.
func Render(d Data) (*Mail, error) {
	set, ok := templates[d.Kind]
	if !ok {
		return nil, fmt.Errorf("notify: %w %q", ErrUnknownKind, d.Kind)
	}
	if len(d.To) == 0 {
		return nil, fmt.Errorf("notify: %s: %w: no recipient (To)", d.Kind, ErrMissingData)
	}
	for _, to := range d.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return nil, fmt.Errorf("notify: %s: %w: recipient %q is not an email address", d.Kind, ErrInvalidData, oneLine(to))
		}
	}
	if err := check(d); err != nil {
		return nil, err
	}

	v := newView(d)
	var b strings.Builder
	if err := set.text.ExecuteTemplate(&b, "subject", v); err != nil {
		return nil, fmt.Errorf("notify: %s: subject: %w", d.Kind, err)
	}
	v.Subject = truncate(oneLine(b.String()), maxSubject)

	b.Reset()
	if err := set.text.ExecuteTemplate(&b, "layout", v); err != nil {
		return nil, fmt.Errorf("notify: %s: text: %w", d.Kind, err)
	}
	text := tidyText(b.String())

	b.Reset()
	if err := set.html.ExecuteTemplate(&b, "layout", v); err != nil {
		return nil, fmt.Errorf("notify: %s: html: %w", d.Kind, err)
	}

	return &Mail{
		To:      append([]string(nil), d.To...),
		Subject: v.Subject,
		Text:    text,
		HTML:    b.String(),
		Kind:    d.Kind,
	}, nil
}

// check enforces what each kind needs.
func check(d Data) error {
	missing := func(field string) error {
		return fmt.Errorf("notify: %s: %w: %s", d.Kind, ErrMissingData, field)
	}
	needLink := false
	switch d.Kind {
	case KindRecipientLink, KindInvitation, KindPasswordReset:
		needLink = true
	case KindExpiryReminder:
		needLink = true
		if d.Expiry.IsZero() {
			return missing("Expiry")
		}
	}
	if needLink && d.LinkURL == "" {
		return missing("LinkURL")
	}
	if d.LinkURL != "" && !validURL(d.LinkURL) {
		return fmt.Errorf("notify: %s: %w: LinkURL is not an absolute http(s) URL", d.Kind, ErrInvalidData)
	}
	return nil
}

func newView(d Data) view {
	v := view{
		Kind:        d.Kind,
		TeamName:    truncate(oneLine(d.TeamName), maxName),
		PortalName:  truncate(oneLine(d.PortalName), maxName),
		PackageName: truncate(oneLine(d.PackageName), maxName),
		Description: multiLine(d.Description),
		Sender:      truncate(oneLine(d.Sender), maxName),
		Recipient:   truncate(oneLine(d.Recipient), maxName),
		LinkURL:     d.LinkURL,
		HasPassword: d.HasPassword,
		Files:       d.Files,
		Color:       DefaultColor,
	}
	if !d.Expiry.IsZero() {
		v.Expiry = d.Expiry.Format(timeLayout)
		v.ExpiryDate = d.Expiry.Format(dateLayout)
	}
	if !d.When.IsZero() {
		v.When = d.When.Format(timeLayout)
	}
	if d.Size > 0 {
		v.Size = formatSize(d.Size)
	}
	var parts []string
	switch {
	case d.Files == 1:
		parts = append(parts, "1 file")
	case d.Files > 1:
		parts = append(parts, strconv.Itoa(d.Files)+" files")
	}
	if v.Size != "" {
		parts = append(parts, v.Size)
	}
	v.Summary = strings.Join(parts, ", ")
	for _, f := range d.Fields {
		label := truncate(oneLine(f.Label), maxName)
		value := multiLine(f.Value)
		if label == "" && value == "" {
			continue
		}
		v.Fields = append(v.Fields, Field{Label: label, Value: value})
	}

	v.Brand = v.TeamName
	if v.Brand == "" {
		v.Brand = "haul"
	}
	if c, ok := normalizeColor(d.Branding.Color); ok {
		v.Color = c
	}
	v.TextColor = textColorOn(v.Color)
	v.LinkColor = DefaultColor
	if v.TextColor == "#ffffff" {
		v.LinkColor = v.Color
	}
	if d.Branding.LogoURL != "" && validURL(d.Branding.LogoURL) {
		v.LogoURL = d.Branding.LogoURL
	}
	return v
}

const (
	maxSubject = 160 // runes
	maxName    = 200 // runes, for a name shown on one line
	timeLayout = "Mon 2 Jan 2006 15:04 MST"
	dateLayout = "2 Jan 2006"
)

// oneLine replaces line breaks, tabs and other control characters with
// spaces and collapses runs of spaces: the value cannot break a header or
// forge a line of the text part.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// multiLine keeps line breaks (normalized to \n) but removes other control
// characters and trailing blanks.
func multiLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.NewReplacer("\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n").Replace(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = strings.Map(func(r rune) rune {
			if r == '\t' {
				return ' '
			}
			if unicode.IsControl(r) {
				return -1
			}
			return r
		}, l)
		lines[i] = strings.TrimRightFunc(l, unicode.IsSpace)
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// truncate cuts s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRightFunc(string(r[:n-1]), unicode.IsSpace) + "…"
}

// tidyText trims trailing blanks, collapses runs of blank lines and ends
// the text with one newline, so templates need not care about whitespace.
func tidyText(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	out := make([]string, 0, len(lines))
	blank := true // drop leading blank lines
	for _, l := range lines {
		l = strings.TrimRightFunc(l, unicode.IsSpace)
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n") + "\n"
}

func validURL(s string) bool {
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

var colorRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// normalizeColor returns c as lower-case #rrggbb.
func normalizeColor(c string) (string, bool) {
	if !colorRE.MatchString(c) {
		return "", false
	}
	c = strings.ToLower(c)
	if len(c) == 4 {
		c = string([]byte{'#', c[1], c[1], c[2], c[2], c[3], c[3]})
	}
	return c, true
}

// textColorOn picks dark or white text, whichever contrasts more with the
// #rrggbb background (WCAG relative luminance).
func textColorOn(bg string) string {
	lin := func(h string) float64 {
		n, _ := strconv.ParseUint(h, 16, 8)
		c := float64(n) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	l := 0.2126*lin(bg[1:3]) + 0.7152*lin(bg[3:5]) + 0.0722*lin(bg[5:7])
	// Contrast with white: 1.05/(l+0.05); with #111111 (l≈0.0056): (l+0.05)/0.0556.
	if 1.05/(l+0.05) >= (l+0.05)/0.0556 {
		return "#ffffff"
	}
	return "#111111"
}

// formatSize writes n bytes with decimal units, as file managers do.
func formatSize(n int64) string {
	if n < 1000 {
		if n == 1 {
			return "1 byte"
		}
		return strconv.FormatInt(n, 10) + " bytes"
	}
	units := []string{"kB", "MB", "GB", "TB", "PB", "EB"}
	f := float64(n)
	i := -1
	for f >= 999.95 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if f >= 100 {
		return strconv.FormatFloat(f, 'f', 0, 64) + " " + units[i]
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + units[i]
}
