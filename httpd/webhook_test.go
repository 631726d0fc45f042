package httpd_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"haul/core"
)

// verify is README's verification snippet, verbatim (readmeVerify below
// is its text, checked against the README).
func verify(secret, header string, body []byte, now time.Time) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(t, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(sig), []byte(want))
}

const readmeVerify = `func verify(secret, header string, body []byte, now time.Time) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(t, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(sig), []byte(want))
}`

// hookCall is one request a receiver got.
type hookCall struct {
	Event, Delivery, Signature string
	Body                       []byte
	Status                     int
}

// receiver answers the first failFirst attempts of each delivery with
// 500, then 200.
type receiver struct {
	mu        sync.Mutex
	calls     []hookCall
	failFirst int
	srv       *httptest.Server
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status, tries := 200, 0
		for _, c := range r.calls {
			if c.Delivery == req.Header.Get("X-Haul-Delivery") {
				tries++
			}
		}
		if tries < r.failFirst {
			status = 500
		}
		r.calls = append(r.calls, hookCall{Event: req.Header.Get("X-Haul-Event"), Delivery: req.Header.Get("X-Haul-Delivery"),
			Signature: req.Header.Get("X-Haul-Signature"), Body: body, Status: status})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) waitFor(t *testing.T, event string, ok int) []hookCall {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		var got []hookCall
		n := 0
		for _, c := range r.calls {
			if c.Event == event {
				got = append(got, c)
				if c.Status == 200 {
					n++
				}
			}
		}
		r.mu.Unlock()
		if n >= ok {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d successful %s deliveries, want %d: %+v", n, event, ok, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fastRetries(o *envOptions) {
	o.outbox = core.OutboxConfig{RetryBase: 30 * time.Millisecond, RetryMax: 60 * time.Millisecond, MaxAttempts: 1000}
}

// TestWebhooks: a receiver that fails twice gets the same delivery, with
// a signature README's snippet accepts; the payload carries the package,
// its files and digests; a receiver down for the whole window ends as a
// failed delivery in the log; a portal's webhooks fire for its packages
// only.
func TestWebhooks(t *testing.T) {
	e := newEnv(t, fastRetries)
	o := e.owner()
	readme, err := os.ReadFile("../README.md")
	if err != nil || !strings.Contains(string(readme), readmeVerify) {
		t.Fatalf("README does not hold the verification snippet verbatim (%v)", err)
	}
	rcv := newReceiver(t, 2)
	hook := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/custom_webhooks", map[string]any{"name": "MAM", "url": rcv.srv.URL + "/in",
		"events": []string{"package.created", "package.finalized", "link.accessed", "package.downloaded"}, "headers": map[string]string{"X-Api-Token": "mam"},
		"body_extras": map[string]any{"workflow": "ingest"}}, apiKey(o.APIKey)).Map(t)
	secret := hook["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || hook["method"] != "POST" {
		t.Fatalf("webhook = %v", hook)
	}
	if strings.Contains(string(e.must(200, "GET", "/v1/custom_webhooks/"+hook["id"].(string), nil, apiKey(o.APIKey)).Body), secret) {
		t.Fatal("the secret is shown again")
	}
	for _, bad := range []map[string]any{
		{"name": "x", "url": "ftp://x", "events": []string{"package.created"}},
		{"name": "x", "url": "http://x", "events": []string{"package.exploded"}},
		{"name": "x", "url": "http://x", "events": []string{"package.created"}, "method": "GET"},
		{"name": "x", "url": "http://x", "events": []string{"package.created"}, "headers": map[string]string{"X-Haul-Signature": "forged"}},
	} {
		e.must(400, "POST", "/v1/teams/"+e.TeamID+"/custom_webhooks", bad, apiKey(o.APIKey))
	}

	data := randomData(5, 4000)
	pid, tok, fids := e.sentPackage(userToken(o.Token), "Dailies", map[string][]byte{"a.mov": data})
	created := rcv.waitFor(t, "package.created", 1)
	if len(created) != 3 || created[0].Delivery == "" || created[0].Delivery != created[1].Delivery || created[1].Delivery != created[2].Delivery {
		t.Fatalf("attempts of the first delivery: %+v", created)
	}
	for _, c := range created {
		if !verify(secret, c.Signature, c.Body, time.Now()) {
			t.Fatalf("the signature %q does not verify", c.Signature)
		}
	}
	if verify(secret, created[0].Signature, append([]byte(" "), created[0].Body...), time.Now()) || verify("whsec_other", created[0].Signature, created[0].Body, time.Now()) {
		t.Fatal("a tampered body or another secret verifies")
	}
	fin := rcv.waitFor(t, "package.finalized", 1)
	var payload struct {
		ID      string `json:"id"`
		Event   string `json:"event"`
		Team    struct{ Name string }
		Package struct {
			ID    string `json:"id"`
			Name  string `json:"name"`
			Size  int64  `json:"size"`
			Files []struct {
				ID     string `json:"id"`
				Digest string `json:"digest"`
				Size   int64  `json:"size"`
			} `json:"files"`
		} `json:"package"`
		Extras map[string]any `json:"extras"`
	}
	if err := json.Unmarshal(fin[len(fin)-1].Body, &payload); err != nil {
		t.Fatal(err)
	}
	if payload.Event != "package.finalized" || payload.ID != fin[len(fin)-1].Delivery || payload.Package.ID != pid || payload.Package.Size != int64(len(data)) ||
		len(payload.Package.Files) != 1 || payload.Package.Files[0].ID != fids["a.mov"] || len(payload.Package.Files[0].Digest) != 64 ||
		payload.Extras["workflow"] != "ingest" || payload.Team.Name != "Studio" {
		t.Fatalf("payload = %s", fin[len(fin)-1].Body)
	}
	l := e.must(201, "POST", "/v1/packages/"+pid+"/links", map[string]any{}, ptok(tok)).Map(t)
	dtok := e.openLink(l["id"].(string), l["download_secret"].(string), "")
	rcv.waitFor(t, "link.accessed", 1)
	e.fileURL(pid, fids["a.mov"], dtok)
	rcv.waitFor(t, "package.downloaded", 1)

	var log []map[string]any
	e.must(200, "GET", "/v1/custom_webhooks/"+hook["id"].(string)+"/deliveries", nil, apiKey(o.APIKey)).JSON(t, &log)
	var first []map[string]any
	for _, a := range log {
		if a["delivery_id"] == created[0].Delivery {
			first = append(first, a)
		}
	}
	if len(first) != 3 || first[0]["status"] != 200.0 || first[0]["final"] != "sent" || first[2]["status"] != 500.0 || first[2]["attempt"] != 1.0 {
		t.Fatalf("the first delivery's log = %v", first)
	}

	// A receiver down for the whole window: five attempts, then failed.
	probe, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + probe.Addr().String() + "/never"
	probe.Close()
	dead := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/custom_webhooks", map[string]any{"name": "Down", "url": down, "events": []string{"package.created"}}, apiKey(o.APIKey)).Map(t)
	e.newPackage(userToken(o.Token), "into the void")
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.must(200, "GET", "/v1/custom_webhooks/"+dead["id"].(string)+"/deliveries", nil, apiKey(o.APIKey)).JSON(t, &log)
		if len(log) == 5 && log[0]["final"] == "failed" && log[0]["attempt"] == 5.0 && log[0]["error"] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead receiver's log = %v", log)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A webhook named by a portal fires for that portal's packages only.
	prc := newReceiver(t, 0)
	ph := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/custom_webhooks", map[string]any{"name": "Portal only", "url": prc.srv.URL, "events": []string{"package.created"}}, apiKey(o.APIKey)).Map(t)
	pt := e.portal(o.Token, map[string]any{"custom_webhooks": []string{ph["id"].(string)}})
	e.portalPackage(201, pt["id"].(string), map[string]any{"name": "from a vendor", "sender": "v@post.example"})
	e.newPackage(userToken(o.Token), "a team package")
	got := prc.waitFor(t, "package.created", 1)
	time.Sleep(200 * time.Millisecond)
	prc.mu.Lock()
	n := len(prc.calls)
	prc.mu.Unlock()
	if n != 1 || !strings.Contains(string(got[0].Body), "from a vendor") || !strings.Contains(string(got[0].Body), `"subdomain"`) {
		t.Fatalf("the portal's webhook got %d calls: %s", n, got[0].Body)
	}
	e.must(204, "DELETE", "/v1/custom_webhooks/"+dead["id"].(string), nil, apiKey(o.APIKey))
	e.must(404, "GET", "/v1/custom_webhooks/"+dead["id"].(string), nil, apiKey(o.APIKey))
}

// unreachable is a webhook client that reaches no one (a network down).
type unreachable struct{}

func (unreachable) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: io.ErrUnexpectedEOF}
}

// TestWebhookSurvivesRestart: a delivery that failed before a restart
// goes out, once, from a new Service on the same store.
func TestWebhookSurvivesRestart(t *testing.T) {
	e := newEnv(t, func(o *envOptions) {
		o.hookClient = &http.Client{Transport: unreachable{}}
		o.outbox = core.OutboxConfig{RetryBase: time.Hour, RetryMax: time.Hour}
	})
	o := e.owner()
	rcv := newReceiver(t, 0)
	hook := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/custom_webhooks", map[string]any{"name": "MAM", "url": rcv.srv.URL, "events": []string{"package.created"}}, apiKey(o.APIKey)).Map(t)
	e.newPackage(userToken(o.Token), "before the restart")
	var log []map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for len(log) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no failed attempt before the restart")
		}
		time.Sleep(20 * time.Millisecond)
		e.must(200, "GET", "/v1/custom_webhooks/"+hook["id"].(string)+"/deliveries", nil, apiKey(o.APIKey)).JSON(t, &log)
	}
	// Restarted two hours later (the retry is due), with the network back.
	again := core.NewService(core.Deps{Store: e.Meta, Chunks: e.Chunks, Keys: e.Svc.Keys(), Hasher: e.Hasher, PublicURL: e.URL,
		Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	again.SendDue(t.Context())
	got := rcv.waitFor(t, "package.created", 1)
	if len(got) != 1 || got[0].Delivery != log[0]["delivery_id"] || !strings.Contains(string(got[0].Body), "before the restart") {
		t.Fatalf("deliveries after the restart: %+v", got)
	}
	e.must(200, "GET", "/v1/custom_webhooks/"+hook["id"].(string)+"/deliveries", nil, apiKey(o.APIKey)).JSON(t, &log)
	if len(log) != 2 || log[0]["attempt"] != 2.0 || log[0]["final"] != "sent" {
		t.Fatalf("log = %v", log)
	}
}

// TestWebhookRefusesLinkLocal: a delivery to a link-local address (where
// cloud metadata services answer) is refused at dial time.
func TestWebhookRefusesLinkLocal(t *testing.T) {
	e := newEnv(t, fastRetries)
	o := e.owner()
	hook := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/custom_webhooks", map[string]any{"name": "Metadata", "url": "http://169.254.169.254/latest/meta-data/",
		"events": []string{"package.created"}}, apiKey(o.APIKey)).Map(t)
	e.newPackage(userToken(o.Token), "probe")
	var log []map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for len(log) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		e.must(200, "GET", "/v1/custom_webhooks/"+hook["id"].(string)+"/deliveries", nil, apiKey(o.APIKey)).JSON(t, &log)
	}
	if len(log) == 0 || !strings.Contains(log[0]["error"].(string), "link-local") {
		t.Fatalf("log = %v", log)
	}
}
