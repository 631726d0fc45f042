package notify

import (
	"encoding/json"
	"errors"
	"html"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testLink = "https://haul.example/d/0123ABC?t=x1&sig=y2"

// full is a Data with every field set, for kind.
func full(kind string) Data {
	when := time.Date(2026, 3, 4, 17, 5, 0, 0, time.UTC)
	return Data{
		Kind:        kind,
		To:          []string{"ed@post.example"},
		TeamName:    "Studio",
		PortalName:  "Vendors",
		PackageName: "ABC-0001 Rushes",
		Description: "Day 3 rushes.\nReel A and B.",
		Sender:      "dit@vendor.example",
		Recipient:   "ed@post.example",
		LinkURL:     testLink,
		HasPassword: true,
		Expiry:      when.Add(72 * time.Hour),
		Size:        1_234_567_890,
		Files:       3,
		Fields:      []Field{{Label: "Show", Value: "Night Shift"}, {Label: "Notes", Value: "line one\nline two"}},
		When:        when,
	}
}

func TestRenderEveryKind(t *testing.T) {
	for _, kind := range Kinds() {
		t.Run(kind, func(t *testing.T) {
			m, err := Render(full(kind))
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != kind || len(m.To) != 1 || m.To[0] != "ed@post.example" {
				t.Fatalf("Kind %q To %q", m.Kind, m.To)
			}
			if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") {
				t.Fatalf("subject %q", m.Subject)
			}
			if kind == KindReceipt { // the uploader gets no link
				if strings.Contains(m.Text, testLink) || strings.Contains(m.HTML, "href=") {
					t.Errorf("receipt has a link:\n%s", m.Text)
				}
			} else if !strings.Contains(m.Text, "\n"+testLink+"\n") {
				t.Errorf("text lacks the link on its own line:\n%s", m.Text)
			}
			if kind != KindReceipt && !strings.Contains(m.HTML, `href="`+html.EscapeString(testLink)+`"`) {
				t.Errorf("HTML lacks the link:\n%s", m.HTML)
			}
			if !strings.HasPrefix(m.HTML, "<!DOCTYPE html>") || !strings.Contains(m.HTML, "</html>") {
				t.Errorf("HTML is not a document:\n%s", m.HTML)
			}
			if strings.Contains(m.Text, "{{") || strings.Contains(m.HTML, "{{") || strings.Contains(m.HTML, "ZgotmplZ") {
				t.Errorf("template residue:\n%s\n%s", m.Text, m.HTML)
			}
			if !strings.HasSuffix(m.Text, "\n") || strings.Contains(m.Text, "\n\n\n") {
				t.Errorf("text whitespace:\n%q", m.Text)
			}
		})
	}
}

func TestRenderSubjects(t *testing.T) {
	d := full(KindRecipientLink)
	d.PackageName = "Dailies"
	cases := []struct {
		d    Data
		want string
	}{
		{d, "Dailies from dit@vendor.example is ready to download"},
		{func() Data { d := d; d.PackageName = ""; return d }(), "Files from dit@vendor.example are ready to download"},
		{full(KindPortalUpload), "Files arrived through Vendors: ABC-0001 Rushes"},
		{full(KindReceipt), "Your upload to Vendors is complete: ABC-0001 Rushes"},
		{full(KindDownloaded), "ABC-0001 Rushes was downloaded by ed@post.example"},
		{full(KindExpiryReminder), "Reminder: ABC-0001 Rushes expires on 7 Mar 2026"},
		{full(KindInvitation), "dit@vendor.example invited you to join Studio on haul"},
		{full(KindPasswordReset), "Reset your haul password"},
	}
	for _, c := range cases {
		m, err := Render(c.d)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != c.want {
			t.Errorf("%s: subject %q, want %q", c.d.Kind, m.Subject, c.want)
		}
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	d := full(KindPortalUpload)
	d.PackageName = `<script>alert("name")</script>`
	d.Description = `<b>bold</b>`
	d.Fields = []Field{{Label: `<i>label</i>`, Value: `<script>alert("value")</script>`}}
	d.Sender = `"x"<img src=x onerror=alert(1)>@evil.example`
	m, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"<script", "<b>", "<i>", "<img src=x"} {
		if strings.Contains(m.HTML, raw) {
			t.Errorf("HTML contains unescaped %q:\n%s", raw, m.HTML)
		}
	}
	for _, esc := range []string{"&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;", "&lt;script&gt;alert(&#34;value&#34;)&lt;/script&gt;", "&lt;b&gt;bold&lt;/b&gt;"} {
		if !strings.Contains(m.HTML, esc) {
			t.Errorf("HTML lacks %q:\n%s", esc, m.HTML)
		}
	}
	// The text part is plain text: shown as is.
	if !strings.Contains(m.Text, `<script>alert("value")</script>`) {
		t.Errorf("text lost the value:\n%s", m.Text)
	}
}

func TestRenderBranding(t *testing.T) {
	d := full(KindRecipientLink)
	plain, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.HTML, "<img") {
		t.Error("logo without LogoURL")
	}
	if !strings.Contains(plain.HTML, "background-color:"+DefaultColor) {
		t.Error("default colour missing")
	}

	d.Branding = Branding{Color: "#C0FFEE", LogoURL: "https://haul.example/api/v1/portals/p1/logo?v=2&x=1"}
	branded, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(branded.HTML, `<img src="https://haul.example/api/v1/portals/p1/logo?v=2&amp;x=1" alt="Studio"`) {
		t.Errorf("logo missing:\n%s", branded.HTML)
	}
	if !strings.Contains(branded.HTML, "background-color:#c0ffee") {
		t.Errorf("colour missing:\n%s", branded.HTML)
	}
	if strings.Contains(branded.HTML, "background-color:"+DefaultColor) {
		t.Error("default colour still used")
	}
	if strings.Contains(plain.HTML, "c0ffee") {
		t.Error("colour without Color")
	}
	// A light colour gets dark text.
	if !strings.Contains(branded.HTML, "color:#111111") {
		t.Error("no dark text on a light colour")
	}

	d.Branding = Branding{Color: "#abc"}
	short, _ := Render(d)
	if !strings.Contains(short.HTML, "background-color:#aabbcc") {
		t.Error("#rgb not expanded")
	}

	// Malformed branding falls back to the defaults rather than failing.
	d.Branding = Branding{Color: "red;background:url(x)", LogoURL: "javascript:alert(1)"}
	bad, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(bad.HTML, "<img") || strings.Contains(bad.HTML, "javascript") || strings.Contains(bad.HTML, "url(x)") {
		t.Errorf("malformed branding used:\n%s", bad.HTML)
	}
}

func TestRenderFields(t *testing.T) {
	m, err := Render(full(KindReceipt))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "\nShow: Night Shift\nNotes: line one\n    line two\n") {
		t.Errorf("text fields:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, ">Show</th>") || !strings.Contains(m.HTML, ">Night Shift</td>") {
		t.Errorf("HTML fields:\n%s", m.HTML)
	}
	d := full(KindReceipt)
	d.Fields = nil
	m, _ = Render(d)
	if strings.Contains(m.HTML, "<th") || strings.Contains(m.Text, "Show:") {
		t.Error("fields block without fields")
	}
}

func TestRenderPortalUploadCC(t *testing.T) {
	d := full(KindPortalUpload)
	d.LinkURL = ""
	m, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Text, "https://") || strings.Contains(m.HTML, "href=") {
		t.Errorf("cc mail has a link:\n%s\n%s", m.Text, m.HTML)
	}
	if !strings.Contains(m.Text, "copied") {
		t.Errorf("cc mail does not say why:\n%s", m.Text)
	}
}

func TestRenderPassword(t *testing.T) {
	d := full(KindRecipientLink)
	m, _ := Render(d)
	if !strings.Contains(m.Text, "password-protected") || !strings.Contains(m.HTML, "password-protected") {
		t.Error("HasPassword not mentioned")
	}
	d.HasPassword = false
	m, _ = Render(d)
	if strings.Contains(m.Text, "password") || strings.Contains(m.HTML, "password") {
		t.Error("password mentioned without HasPassword")
	}
}

func TestRenderLineBreaksInNames(t *testing.T) {
	d := full(KindPortalUpload)
	d.PortalName = "Vendors\r\nBcc: victim@example.com"
	d.PackageName = "A\nB\u2028C\tD"
	d.Sender = "x@y.example\r\nInjected: yes"
	m, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Files arrived through Vendors Bcc: victim@example.com: A B C D"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	for _, l := range strings.Split(m.Text, "\n") {
		if strings.HasPrefix(l, "Bcc:") || strings.HasPrefix(l, "Injected:") || l == "B" {
			t.Errorf("a name broke a line: %q", l)
		}
	}

	d.PackageName = strings.Repeat("long name ", 50)
	m, _ = Render(d)
	if n := len([]rune(m.Subject)); n > maxSubject {
		t.Errorf("subject of %d runes", n)
	}
}

func TestRenderErrors(t *testing.T) {
	mod := func(kind string, f func(*Data)) Data {
		d := full(kind)
		f(&d)
		return d
	}
	cases := []struct {
		name string
		d    Data
		want error
	}{
		{"unknown kind", mod("nope", func(*Data) {}), ErrUnknownKind},
		{"empty kind", mod("", func(*Data) {}), ErrUnknownKind},
		{"no To", mod(KindReceipt, func(d *Data) { d.To = nil }), ErrMissingData},
		{"bad To", mod(KindReceipt, func(d *Data) { d.To = []string{"not an address"} }), ErrInvalidData},
		{"To with CRLF", mod(KindReceipt, func(d *Data) { d.To = []string{"a@b.example\r\nBcc: c@d.example"} }), ErrInvalidData},
		{"recipient_link without link", mod(KindRecipientLink, func(d *Data) { d.LinkURL = "" }), ErrMissingData},
		{"invitation without link", mod(KindInvitation, func(d *Data) { d.LinkURL = "" }), ErrMissingData},
		{"password_reset without link", mod(KindPasswordReset, func(d *Data) { d.LinkURL = "" }), ErrMissingData},
		{"expiry_reminder without link", mod(KindExpiryReminder, func(d *Data) { d.LinkURL = "" }), ErrMissingData},
		{"expiry_reminder without expiry", mod(KindExpiryReminder, func(d *Data) { d.Expiry = time.Time{} }), ErrMissingData},
		{"relative link", mod(KindRecipientLink, func(d *Data) { d.LinkURL = "/d/abc" }), ErrInvalidData},
		{"javascript link", mod(KindRecipientLink, func(d *Data) { d.LinkURL = "javascript:alert(1)" }), ErrInvalidData},
		{"link with CRLF", mod(KindPasswordReset, func(d *Data) { d.LinkURL = "https://a.example/\r\nx" }), ErrInvalidData},
	}
	for _, c := range cases {
		m, err := Render(c.d)
		if !errors.Is(err, c.want) || m != nil {
			t.Errorf("%s: %v, %v; want %v", c.name, m, err, c.want)
		}
	}
}

func TestRenderMinimal(t *testing.T) {
	// Only what each kind requires.
	for _, kind := range Kinds() {
		d := Data{Kind: kind, To: []string{"a@b.example"}}
		switch kind {
		case KindRecipientLink, KindInvitation, KindPasswordReset:
			d.LinkURL = testLink
		case KindExpiryReminder:
			d.LinkURL, d.Expiry = testLink, time.Now()
		}
		m, err := Render(d)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if strings.Contains(m.Subject, "  ") || strings.HasSuffix(m.Subject, " ") {
			t.Errorf("%s: subject %q", kind, m.Subject)
		}
		if want := map[string]string{KindPortalUpload: "Files arrived", KindReceipt: "Your upload is complete"}[kind]; want != "" && m.Subject != want {
			t.Errorf("%s: subject %q, want %q", kind, m.Subject, want)
		}
		if strings.Contains(m.Text, " .") || strings.Contains(m.Text, "  ") {
			t.Errorf("%s: gaps in the text:\n%s", kind, m.Text)
		}
		if !strings.Contains(m.HTML, ">haul</td>") {
			t.Errorf("%s: no haul brand without a team", kind)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		1: "1 byte", 999: "999 bytes", 1000: "1.0 kB", 1_500_000: "1.5 MB",
		999_999: "1.0 MB", 123_456_789_012: "123 GB", 2_000_000_000_000: "2.0 TB",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTextColorOn(t *testing.T) {
	for bg, want := range map[string]string{"#ffffff": "#111111", "#000000": "#ffffff", DefaultColor: "#ffffff", "#ffcc00": "#111111"} {
		if got := textColorOn(bg); got != want {
			t.Errorf("textColorOn(%s) = %s, want %s", bg, got, want)
		}
	}
}

func TestMailJSON(t *testing.T) {
	m, err := Render(full(KindRecipientLink))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Mail
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, m) {
		t.Fatalf("round trip changed the mail: %s", b)
	}
	if !strings.Contains(string(b), `"subject":`) {
		t.Errorf("json names: %s", b)
	}
}
