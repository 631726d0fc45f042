// Package client is a Go client of haul's REST API (MASV's API shapes).
// It speaks only HTTP and imports nothing of the server, so its tests
// check the wire format for real. The agent subcommands and end-to-end
// tests are built on it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one haul server. Set APIKey or UserToken (from Login) to
// authenticate. It is safe for concurrent use once configured.
type Client struct {
	// BaseURL is the server, e.g. https://haul.example.com.
	BaseURL string
	// APIKey is sent as X-API-KEY.
	APIKey string
	// UserToken is sent as X-User-Token when APIKey is empty.
	UserToken string
	// HTTP is the underlying client; nil means one with a 60 s timeout
	// (and none for upload parts, which their context bounds).
	HTTP *http.Client

	packageToken string // set on copies made by doPkg
}

// New returns a client of baseURL.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/")}
}

// Error is an error answer of the server (MASV's body).
type Error struct {
	Status     int
	Code       string
	Msg        string
	Field      string
	RequestID  string
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := fmt.Sprintf("haul: %d %s: %s", e.Status, e.Code, e.Msg)
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// StatusOf returns the HTTP status of an *Error, or 0.
func StatusOf(err error) int {
	if e, ok := err.(*Error); ok {
		return e.Status
	}
	return 0
}

// do sends a JSON request and decodes a JSON answer into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	switch {
	case c.packageToken != "":
		req.Header.Set("X-Package-Token", c.packageToken)
	case c.APIKey != "":
		req.Header.Set("X-API-KEY", c.APIKey)
	case c.UserToken != "":
		req.Header.Set("X-User-Token", c.UserToken)
	}
	return c.send(req, path, out, true)
}

// send sends req (to path) and decodes its JSON answer into out; with
// emptyOK, a nil out or a 204 answer is read and dropped instead.
func (c *Client) send(req *http.Request, path string, out any, emptyOK bool) error {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return readError(res)
	}
	if emptyOK && (out == nil || res.StatusCode == http.StatusNoContent) {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("haul: decoding the answer to %s %s: %w", req.Method, path, err)
	}
	return nil
}

func readError(res *http.Response) error {
	e := &Error{Status: res.StatusCode, RequestID: res.Header.Get("X-Request-Id")}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	var b struct {
		Errors []struct{ Code, Msg, Field string }
	}
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var x struct {
		XMLName xml.Name
		Code    string
		Message string
	}
	if json.Unmarshal(raw, &b) == nil && len(b.Errors) > 0 {
		e.Code, e.Msg, e.Field = b.Errors[0].Code, b.Errors[0].Msg, b.Errors[0].Field
	} else if xml.Unmarshal(raw, &x) == nil && x.XMLName.Local == "Error" { // the data plane's S3 errors
		e.Code, e.Msg = x.Code, x.Message
	} else {
		e.Code, e.Msg = http.StatusText(res.StatusCode), strings.TrimSpace(string(raw))
	}
	return e
}
