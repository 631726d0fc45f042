package httpd_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"haul/core"
	"haul/core/notify"
)

// mailbox is an SMTP server on loopback that keeps what it receives.
type mailbox struct {
	mu   sync.Mutex
	msgs []received
	ln   net.Listener
	srv  *smtp.Server
}

type received struct {
	To      []string
	Subject string
	Text    string
	HTML    string
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{box: m}, nil }

type mailSession struct {
	box *mailbox
	to  []string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	rec := received{To: s.to, Subject: subject}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(p)
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			rec.HTML = string(b)
		} else {
			rec.Text = string(b)
		}
	}
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, rec)
	s.box.mu.Unlock()
	return nil
}

// startMailbox listens on addr ("127.0.0.1:0" for any port).
func startMailbox(t *testing.T, addr string) *mailbox {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	m := &mailbox{ln: ln}
	m.srv = smtp.NewServer(m)
	m.srv.Domain = "localhost"
	go m.srv.Serve(ln)
	t.Cleanup(func() { m.srv.Close() })
	return m
}

// waitFor waits until a mail to `to` whose subject contains `about`
// arrives and returns it.
func (m *mailbox) waitFor(t *testing.T, to, about string) received {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		for _, r := range m.msgs {
			for _, rcpt := range r.To {
				if rcpt == to && strings.Contains(r.Subject, about) {
					m.mu.Unlock()
					return r
				}
			}
		}
		m.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail to %s about %q; got %+v", to, about, m.all())
	return received{}
}

func (m *mailbox) all() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]received{}, m.msgs...)
}

func (m *mailbox) count(to string) int {
	n := 0
	for _, r := range m.all() {
		for _, rcpt := range r.To {
			if rcpt == to {
				n++
			}
		}
	}
	return n
}

func mailer(t *testing.T, addr string) *notify.Sender {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	s, err := notify.NewSender(notify.SMTP{Host: host, Port: portNum(net.JoinHostPort(host, port)), TLS: notify.TLSNone, From: "haul <haul@studio.example>", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMails: every transfer mail reaches an SMTP server: recipients their
// own link, a portal's recipients the upload notification with the
// metadata, cc recipients without a link, the sender a receipt, a link
// created with an email, the first download, an invitation.
func TestMails(t *testing.T) {
	box := startMailbox(t, "127.0.0.1:0")
	e := newEnv(t, func(o *envOptions) { o.mailer = mailer(t, box.ln.Addr().String()) })
	o := e.owner()

	// A team package with recipients and a password.
	p := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/packages", map[string]any{"name": "Dailies", "recipients": []string{"ed@post.example", "col@post.example"},
		"password": "pkg-secret-pw"}, userToken(o.Token)).Map(t)
	pid, tok := p["id"].(string), p["access_token"].(string)
	u := e.addFile(pid, tok, "a.mov", randomData(1, 5000), 64<<10)
	if r := u.finalize([]string{u.put(u.partURLs(0, 1)[0], 1)}, 5000); r.Status != 200 {
		t.Fatal(string(r.Body))
	}
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, ptok(tok))
	links := map[string]map[string]any{}
	for _, l := range e.must(200, "GET", "/v1/packages/"+pid+"/links", nil, ptok(tok)).array(t) {
		links[l["email"].(string)] = l
	}
	for _, who := range []string{"ed@post.example", "col@post.example"} {
		m := box.waitFor(t, who, "Dailies")
		if !strings.Contains(m.Text, links[who]["url"].(string)) || !strings.Contains(m.HTML, links[who]["id"].(string)) {
			t.Errorf("%s's mail lacks their link: %s", who, m.Text)
		}
		if strings.Contains(m.Text+m.HTML, "pkg-secret-pw") || !strings.Contains(strings.ToLower(m.Text), "password") {
			t.Errorf("%s's mail: the password must be mentioned, never shown: %s", who, m.Text)
		}
	}
	// A link made with an email after finalize is mailed at once; the
	// recipients are not mailed again.
	l := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{"email": "vfx@post.example"}, ptok(tok)).Map(t)
	if m := box.waitFor(t, "vfx@post.example", "Dailies"); !strings.Contains(m.Text, l["url"].(string)) {
		t.Fatalf("the link's mail: %s", m.Text)
	}
	// The first download tells the sender (once).
	dtok := e.openLink(links["ed@post.example"]["id"].(string), links["ed@post.example"]["download_secret"].(string), "pkg-secret-pw")
	e.fileURL(pid, u.fid, dtok)
	box.waitFor(t, ownerEmail, "Dailies")
	dtok2 := e.openLink(links["col@post.example"]["id"].(string), links["col@post.example"]["download_secret"].(string), "pkg-secret-pw")
	e.fileURL(pid, u.fid, dtok2)

	// A portal: recipients with link and metadata, cc without, a receipt.
	pt := e.portal(o.Token, map[string]any{"name": "Vendors", "recipients": []string{"producer@studio.example"}, "cc_recipients": []string{"archive@studio.example"},
		"primary_color": "#aa3300"})
	ptID := pt["id"].(string)
	e.must(201, "POST", "/v1/portals/"+ptID+"/form", map[string]any{"name": "Delivery", "delivery_formats": []string{"json", "email_body"}, "fields": []map[string]any{
		{"name": "sender_email", "label": "Email", "type": "sender_email", "visibility": "required"},
		{"name": "camera", "label": "Camera body", "type": "short_text", "visibility": "required"},
	}}, userToken(o.Token))
	rid := e.must(201, "POST", "/v1/portals/"+ptID+"/form/responses", map[string]any{"values": map[string]any{"sender_email": "dit@vendor.example", "camera": "<Venice 2>"}}).Map(t)["id"].(string)
	pp := e.portalPackage(201, ptID, map[string]any{"name": "ABC-0001 Rushes", "form_data_id": rid}).Map(t)
	v := e.addFile(pp["id"].(string), pp["access_token"].(string), "b.mov", randomData(2, 3000), 64<<10)
	if r := v.finalize([]string{v.put(v.partURLs(0, 1)[0], 1)}, 3000); r.Status != 200 {
		t.Fatal(string(r.Body))
	}
	e.must(200, "POST", "/v1/packages/"+pp["id"].(string)+"/finalize", nil, ptok(pp["access_token"].(string)))
	prod := box.waitFor(t, "producer@studio.example", "ABC-0001")
	if !strings.Contains(prod.Text, "Camera body") || !strings.Contains(prod.Text, "<Venice 2>") || !strings.Contains(prod.HTML, "&lt;Venice 2&gt;") ||
		!strings.Contains(prod.Text, "?secret=") || !strings.Contains(prod.HTML, "#aa3300") {
		t.Errorf("the portal recipient's mail: %s\n%s", prod.Text, prod.HTML)
	}
	if cc := box.waitFor(t, "archive@studio.example", "ABC-0001"); strings.Contains(cc.Text, "?secret=") {
		t.Errorf("the cc mail carries a link: %s", cc.Text)
	}
	box.waitFor(t, "dit@vendor.example", "ABC-0001") // the receipt

	// An invitation.
	e.must(201, "POST", "/v1/teams/"+e.TeamID+"/members", map[string]string{"email": "new@studio.example", "role": "member"}, userToken(o.Token))
	if m := box.waitFor(t, "new@studio.example", "Studio"); !strings.Contains(m.Text, "/invitations/") {
		t.Fatalf("the invitation: %s", m.Text)
	}

	time.Sleep(200 * time.Millisecond) // nothing more is on its way
	for who, want := range map[string]int{"ed@post.example": 1, "col@post.example": 1, ownerEmail: 1, "dit@vendor.example": 1} {
		if n := box.count(who); n != want {
			t.Errorf("%s got %d mails, want %d", who, n, want)
		}
	}
	var sent []map[string]any
	e.must(200, "GET", "/v1/teams/"+e.TeamID+"/mail_deliveries?state=sent", nil, userToken(o.Token)).JSON(t, &sent)
	if len(sent) != len(box.all()) {
		t.Fatalf("%d deliveries listed as sent, %d mails received", len(sent), len(box.all()))
	}
	e.must(403, "GET", "/v1/teams/"+e.TeamID+"/mail_deliveries", nil, userToken(e.addPerson(o.Token, "m@studio.example", core.RoleMember).Token))
}

// TestMailOutboxSurvivesSMTPDownAndRestart: with SMTP down at finalize,
// the mail waits in the outbox (failed attempts listed with their error)
// and arrives once SMTP is back, also through a new Service on the same
// store (a restart).
func TestMailOutboxSurvivesSMTPDownAndRestart(t *testing.T) {
	// Ports with nothing on them: the env's SMTP stays down; the
	// restarted service's comes up later.
	free := func() string {
		probe, _ := net.Listen("tcp", "127.0.0.1:0")
		defer probe.Close()
		return probe.Addr().String()
	}
	dead, addr := free(), free()
	e := newEnv(t, func(o *envOptions) {
		o.mailer = mailer(t, dead)
		o.outbox = core.OutboxConfig{RetryBase: 100 * time.Millisecond, RetryMax: 200 * time.Millisecond, MaxAttempts: 1000}
	})
	o := e.owner()
	p := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/packages", map[string]any{"name": "Late news", "recipients": []string{"ed@post.example"}}, userToken(o.Token)).Map(t)
	pid, tok := p["id"].(string), p["access_token"].(string)
	u := e.addFile(pid, tok, "a.mov", randomData(3, 100), 64<<10)
	if r := u.finalize([]string{u.put(u.partURLs(0, 1)[0], 1)}, 100); r.Status != 200 {
		t.Fatal(string(r.Body))
	}
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, ptok(tok))
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pending []map[string]any
		e.must(200, "GET", "/v1/teams/"+e.TeamID+"/mail_deliveries?state=pending", nil, userToken(o.Token)).JSON(t, &pending)
		if len(pending) == 1 && pending[0]["attempts"].(float64) >= 2 && pending[0]["last_error"] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending = %v", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A "restarted" service on the same store sends it once SMTP is up.
	box := startMailbox(t, addr)
	again := core.NewService(core.Deps{Store: e.Meta, Chunks: e.Chunks, Keys: e.Svc.Keys(), Hasher: e.Hasher, PublicURL: e.URL,
		Mailer: mailer(t, addr)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for box.count("ed@post.example") == 0 && ctx.Err() == nil {
		again.SendDue(ctx)
		time.Sleep(50 * time.Millisecond)
	}
	m := box.waitFor(t, "ed@post.example", "Late news")
	if !bytes.Contains([]byte(m.Text), []byte("?secret=")) {
		t.Fatalf("the mail: %s", m.Text)
	}
	time.Sleep(300 * time.Millisecond)
	if n := box.count("ed@post.example"); n != 1 {
		t.Fatalf("the mail arrived %d times", n)
	}
	var sent []map[string]any
	e.must(200, "GET", "/v1/teams/"+e.TeamID+"/mail_deliveries?state=sent", nil, userToken(o.Token)).JSON(t, &sent)
	if len(sent) != 1 {
		t.Fatalf("sent = %v", sent)
	}
}

// TestPasswordResetAndReminder: a reset link by mail sets a new password
// once (and ends the account's sessions), unknown accounts are not
// revealed; link recipients are reminded once before expiry.
func TestPasswordResetAndReminder(t *testing.T) {
	box := startMailbox(t, "127.0.0.1:0")
	var c clock
	e := newEnv(t, func(o *envOptions) { o.mailer = mailer(t, box.ln.Addr().String()); o.now = c.now })
	o := e.owner()
	e.must(202, "POST", "/v1/auth/password_reset", map[string]string{"email": "nobody@studio.example"})
	e.must(202, "POST", "/v1/auth/password_reset", map[string]string{"email": strings.ToUpper(ownerEmail)})
	m := box.waitFor(t, ownerEmail, "")
	i := strings.Index(m.Text, "/password_reset/")
	if i < 0 {
		t.Fatalf("reset mail: %s", m.Text)
	}
	token := strings.Fields(m.Text[i+len("/password_reset/"):])[0]
	e.must(400, "POST", "/v1/auth/password_reset/"+token, map[string]string{"password": "short"})
	e.must(204, "POST", "/v1/auth/password_reset/"+token, map[string]string{"password": "a-brand-new-password"})
	e.must(410, "POST", "/v1/auth/password_reset/"+token, map[string]string{"password": "another-new-password"})
	e.must(401, "GET", "/v1/users/me", nil, userToken(o.Token)) // the old session ended
	if tok := e.login(ownerEmail, "a-brand-new-password"); tok == "" {
		t.Fatal("no login with the new password")
	}
	if box.count("nobody@studio.example") != 0 {
		t.Fatal("a mail went to an unknown account")
	}

	// Reminders: a package expiring within the window, once.
	tok := e.login(ownerEmail, "a-brand-new-password")
	p := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/packages", map[string]any{"name": "Soon gone", "recipients": []string{"ed@post.example"},
		"expiry": c.now().Add(30 * time.Hour).UTC().Format(time.RFC3339)}, userToken(tok)).Map(t)
	pid, ptk := p["id"].(string), p["access_token"].(string)
	u := e.addFile(pid, ptk, "a.mov", randomData(4, 100), 64<<10)
	if r := u.finalize([]string{u.put(u.partURLs(0, 1)[0], 1)}, 100); r.Status != 200 {
		t.Fatal(string(r.Body))
	}
	e.must(200, "POST", "/v1/packages/"+pid+"/finalize", nil, ptok(ptk))
	box.waitFor(t, "ed@post.example", "Soon gone")
	if n, err := e.Svc.RemindExpiring(t.Context(), c.now(), 24*time.Hour); err != nil || n != 0 {
		t.Fatalf("reminded %d outside the window (%v)", n, err)
	}
	c.advance(8 * time.Hour)
	for range 2 {
		if _, err := e.Svc.RemindExpiring(t.Context(), c.now(), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for box.count("ed@post.example") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := box.count("ed@post.example"); n != 2 {
		t.Fatalf("ed got %d mails, want the link and one reminder", n)
	}
}
