package httpd_test

import (
	"strings"
	"testing"
)

// TestSystemStorage: the storage figures reach the API and /metrics.
func TestSystemStorage(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	var st map[string]any
	e.must(200, "GET", "/v1/system/storage", nil, apiKey(o.APIKey)).JSON(t, &st)
	for _, k := range []string{"capacity_bytes", "free_bytes", "physical_bytes", "logical_bytes", "dedup_ratio",
		"block_size", "data_shards", "parity_shards", "dir_loss_survive", "repairs", "scrub_progress"} {
		if _, ok := st[k]; !ok {
			t.Errorf("storage figures lack %q: %v", k, st)
		}
	}
	if st["block_size"] != float64(64<<10) || st["parity_shards"] != float64(2) || st["capacity_bytes"].(float64) <= 0 {
		t.Errorf("figures = %v", st)
	}
	body := string(e.must(200, "GET", "/metrics", nil).Body)
	for _, m := range []string{"haul_storage_capacity_bytes", "haul_storage_physical_bytes", "haul_storage_dedup_ratio", "haul_storage_repairs_total"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}
