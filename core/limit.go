package core

import (
	"math"
	"sync"
	"time"
)

// Limiter is a set of token buckets keyed by a string (a client address,
// an account). Each bucket holds up to Burst tokens and refills at Rate per
// second. It is safe for concurrent use and forgets full buckets when it
// grows large, so an attacker cycling keys cannot exhaust memory.
type Limiter struct {
	rate, burst float64
	mu          sync.Mutex
	buckets     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const limiterMaxKeys = 100_000

// NewLimiter returns a limiter allowing burst events at once and perMinute
// events a minute after that.
func NewLimiter(burst int, perMinute float64) *Limiter {
	return &Limiter{rate: perMinute / 60, burst: float64(burst), buckets: map[string]*bucket{}}
}

// Allow takes one token from key's bucket. When there is none it returns
// false and how long until there will be one.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= limiterMaxKeys {
			l.prune(now)
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

func (l *Limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
