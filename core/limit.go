package core

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// Limiter is a set of token buckets keyed by a string (a client address,
// an account). Each bucket holds up to Burst tokens and refills at Rate per
// second. It is safe for concurrent use and holds at most maxKeys buckets:
// when a new key arrives at the cap, a batch of buckets is evicted (refilled
// ones first, then any), so an attacker cycling keys can neither exhaust
// memory nor make each new key cost a scan of the whole map.
type Limiter struct {
	rate, burst float64
	maxKeys     int
	mu          sync.Mutex
	buckets     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// DefaultLimiterKeys is the cap on buckets of a limiter made by NewLimiter.
const DefaultLimiterKeys = 100_000

// NewLimiter returns a limiter allowing burst events at once and perMinute
// events a minute after that, holding at most DefaultLimiterKeys buckets.
func NewLimiter(burst int, perMinute float64) *Limiter {
	return NewLimiterSize(burst, perMinute, DefaultLimiterKeys)
}

// NewLimiterSize is NewLimiter with a cap of maxKeys buckets (at least 1).
func NewLimiterSize(burst int, perMinute float64, maxKeys int) *Limiter {
	return &Limiter{rate: perMinute / 60, burst: float64(burst), maxKeys: max(1, maxKeys), buckets: map[string]*bucket{}}
}

// Len returns how many buckets the limiter holds.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Allow takes one token from key's bucket. When there is none it returns
// false and how long until there will be one.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// Refund gives back a token Allow took (a success that should not count),
// up to the bucket's burst.
func (l *Limiter) Refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		b.tokens = math.Min(l.burst, b.tokens+1)
	}
}

// evict frees a batch of about 1/64 of the cap, so it runs once per batch
// of new keys and costs O(batch): O(1) amortised per new key. It looks at
// a bounded sample of buckets (Go's map iteration starts at a random
// place) and drops the refilled ones, which forget nothing; if the sample
// had too few, it drops arbitrary buckets to make up the batch.
func (l *Limiter) evict(now time.Time) {
	batch := max(1, l.maxKeys/64)
	freed, seen := 0, 0
	for k, b := range l.buckets {
		if freed == batch || seen == max(64, 4*batch) {
			break
		}
		seen++
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
			freed++
		}
	}
	for k := range l.buckets {
		if freed >= batch && len(l.buckets) < l.maxKeys {
			break
		}
		delete(l.buckets, k)
		freed++
	}
}

// ClientKey is the rate-limit key of a client address: the address itself
// for IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64, so
// per-address limits would be trivially sidestepped). Anything that is not
// an address is used as it is.
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, err := a.WithZone("").Prefix(64)
		if err == nil {
			return "ip:" + p.String()
		}
	}
	return "ip:" + a.String()
}
