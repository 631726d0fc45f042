package httpd

import (
	"context"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"haul/core"
)

func (s *Server) systemStorage(c *fiber.Ctx, p *core.Principal) error {
	st, err := s.svc.StorageStats(c.UserContext(), p)
	if err != nil {
		return err
	}
	return c.JSON(st)
}

// StorageCollector exports a chunk store's figures to /metrics. Stats
// walks the block index, so a scrape reuses figures up to ttl old.
type StorageCollector struct {
	stats func(context.Context) (core.StorageStats, error)
	ttl   time.Duration

	mu   sync.Mutex
	at   time.Time
	last core.StorageStats

	descs map[string]*prometheus.Desc
}

// NewStorageCollector returns a collector over stats.
func NewStorageCollector(stats func(context.Context) (core.StorageStats, error), ttl time.Duration) *StorageCollector {
	c := &StorageCollector{stats: stats, ttl: ttl, descs: map[string]*prometheus.Desc{}}
	for name, help := range storageMetrics {
		c.descs[name] = prometheus.NewDesc("haul_storage_"+name, help, nil, nil)
	}
	return c
}

var storageMetrics = map[string]string{
	"capacity_bytes":   "Bytes of the file systems holding the data directories.",
	"free_bytes":       "Free bytes in the data directories' file systems.",
	"physical_bytes":   "Bytes in segment files.",
	"logical_bytes":    "Bytes of file data referenced, duplicates counted.",
	"unique_bytes":     "Bytes of distinct blocks.",
	"dedup_ratio":      "Logical bytes over unique bytes.",
	"blocks":           "Indexed blocks.",
	"segments":         "Segment files.",
	"repairs_total":    "Shards rebuilt from parity since start.",
	"scrub_progress":   "Fraction of the current scrub pass done.",
	"dir_loss_survive": "Whole data directories the geometry survives losing.",
}

func (c *StorageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *StorageCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) > c.ttl {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := c.stats(ctx)
		cancel()
		if err != nil {
			c.mu.Unlock()
			return // no chunk store (or it failed): export nothing rather than zeros
		}
		c.last, c.at = st, time.Now()
	}
	st := c.last
	c.mu.Unlock()
	vals := map[string]float64{
		"capacity_bytes": float64(st.CapacityBytes), "free_bytes": float64(st.FreeBytes),
		"physical_bytes": float64(st.PhysicalBytes), "logical_bytes": float64(st.LogicalBytes),
		"unique_bytes": float64(st.UniqueBytes), "dedup_ratio": st.DedupRatio, "blocks": float64(st.Blocks),
		"segments": float64(st.Segments), "repairs_total": float64(st.Repairs),
		"scrub_progress": st.ScrubProgress, "dir_loss_survive": float64(st.DirLossSurvive),
	}
	for name, d := range c.descs {
		kind := prometheus.GaugeValue
		if name == "repairs_total" {
			kind = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(d, kind, vals[name])
	}
}
