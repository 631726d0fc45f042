package chunk

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"haul/store/chunk/chunktest"
)

// TestBufferBudget: however many ingests run at once, they hold at most
// MaxBuffers block buffers, and all of them finish.
func TestBufferBudget(t *testing.T) {
	ts := openTestStore(t, func(c *Config) { c.MaxBuffers = 3 })
	team := chunktest.Team("A")
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := int64(len(ts.bufSem)); n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := chunktest.Data(uint64(100+g), 6*testBlockSize)
			if _, err := ts.Ingest(context.Background(), team, 0, &slowReader{r: bytes.NewReader(data)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if p := peak.Load(); p > 3 || p == 0 {
		t.Fatalf("peak buffers in use %d, budget 3", p)
	}
	if n := len(ts.bufSem); n != 0 {
		t.Fatalf("%d buffers still held after every ingest finished", n)
	}
}

// slowReader hands out data in small pieces with pauses, like a slow client.
type slowReader struct{ r *bytes.Reader }

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(200 * time.Microsecond)
	return s.r.Read(p[:min(len(p), 16<<10)])
}
