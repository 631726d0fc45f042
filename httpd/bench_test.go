package httpd_test

import (
	"testing"
	"time"
)

// BenchmarkAuthenticatedRead measures an API-key request (GET /v1/teams:
// key lookup, membership, JSON) against GET /healthz measured in the same
// loop, so the ratio holds on a noisy machine. Both go over real HTTP on
// loopback.
func BenchmarkAuthenticatedRead(b *testing.B) {
	e := newEnv(b)
	o := e.owner()
	key := apiKey(o.APIKey)
	var base, authed time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		e.must(200, "GET", "/healthz", nil)
		t1 := time.Now()
		e.must(200, "GET", "/v1/teams", nil, key)
		authed += time.Since(t1)
		base += t1.Sub(t0)
	}
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "healthz-ns/op")
	b.ReportMetric(float64(authed.Nanoseconds())/float64(b.N), "apikey-ns/op")
	b.ReportMetric(float64(authed)/float64(base), "x-healthz")
}
