package core

import (
	"crypto/hmac"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Query parameters of a signed URL. The signature covers the method, the
// path, every other query parameter (sorted by name, then value) and the
// expiry; the key id travels along so that signatures made before a key
// rotation still verify. Content-Type is not signed: MASV clients differ in
// what they send.
const (
	SigKeyParam     = "X-Haul-Key"
	SigExpiresParam = "X-Haul-Expires"
	SigParam        = "X-Haul-Signature"
)

// signingString is what a URL signature covers.
func signingString(method, path string, q url.Values) []byte {
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != SigParam {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("haul-url-v1\n")
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	b.WriteString(path)
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteByte('\n')
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return []byte(b.String())
}

// SignURL returns the query string (without "?") of a signed request of
// method on path with the parameters q, valid until exp (capped at
// MaxSignatureLifetime from now). q is not changed.
func (k *Keyring) SignURL(method, path string, q url.Values, exp, now time.Time) string {
	if limit := now.Add(MaxSignatureLifetime); exp.After(limit) {
		exp = limit
	}
	s := url.Values{}
	for key, vs := range q {
		s[key] = append([]string(nil), vs...)
	}
	_, kid, _ := k.mac("", nil)
	s.Set(SigKeyParam, kid)
	s.Set(SigExpiresParam, strconv.FormatInt(exp.Unix(), 10))
	sig, _, _ := k.mac(kid, signingString(method, path, s))
	s.Set(SigParam, b64url.EncodeToString(sig))
	// The request's own parameters come first, S3 flags such as "uploads"
	// bare, as S3 clients write them ("?uploads&..."); then the signature's.
	var b strings.Builder
	keys := make([]string, 0, len(q))
	for key := range q {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range append(keys, SigKeyParam, SigExpiresParam, SigParam) {
		for _, v := range s[key] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(key))
			if v != "" {
				b.WriteByte('=')
				b.WriteString(url.QueryEscape(v))
			}
		}
	}
	return b.String()
}

// Errors of VerifyURL; Code is the S3 error code the data plane renders.
func errSignature(op string) error {
	return &Error{Op: op, Kind: Forbidden, Code: "SignatureDoesNotMatch",
		Msg: "the request signature does not match: use the URL exactly as haul gave it"}
}

// VerifyURL checks a signed request made by SignURL: Forbidden with code
// SignatureDoesNotMatch when it is missing, altered or signed by an unknown
// key, and Forbidden with code AccessDenied once it has expired.
func (k *Keyring) VerifyURL(method, path string, q url.Values, now time.Time) error {
	const op = "url.verify"
	kid, expText, sigText := q.Get(SigKeyParam), q.Get(SigExpiresParam), q.Get(SigParam)
	if kid == "" || expText == "" || sigText == "" {
		return &Error{Op: op, Kind: Forbidden, Code: "AccessDenied",
			Msg: "this URL is not signed: use the URLs (blueprints) the API hands out"}
	}
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil {
		return errSignature(op)
	}
	got, err := b64url.DecodeString(sigText)
	if err != nil {
		return errSignature(op)
	}
	want, _, ok := k.mac(kid, signingString(method, path, q))
	if !ok || !hmac.Equal(got, want) {
		return errSignature(op)
	}
	if now.Unix() >= exp {
		return &Error{Op: op, Kind: Forbidden, Code: "AccessDenied",
			Msg: "request has expired: ask the API for a new URL (POST /v1/packages/{package_id}/files/{file_id}?start=&count=)"}
	}
	return nil
}
