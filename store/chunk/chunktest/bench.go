package chunktest

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zeebo/blake3"
)

// The helpers below serve the benches that report figures as ratios
// against baselines measured in the same run (make bench): the chunk
// store's and the upload flow's.

// BenchSize is the bench's data size: HAUL_BENCH_MIB MiB, default 4 GiB.
func BenchSize() int64 {
	if v, err := strconv.ParseInt(os.Getenv("HAUL_BENCH_MIB"), 10, 64); err == nil && v > 0 {
		return v << 20
	}
	return 4 << 30
}

// Figure is one measured rate over the alternating runs of a bench.
type Figure struct {
	Name string
	Runs []float64
}

// Add records one run.
func (f *Figure) Add(v float64) { f.Runs = append(f.Runs, v) }

// Med is the median run.
func (f *Figure) Med() float64 {
	r := slices.Clone(f.Runs)
	slices.Sort(r)
	return r[len(r)/2]
}

// Spread is (max − min) / median.
func (f *Figure) Spread() float64 {
	return (slices.Max(f.Runs) - slices.Min(f.Runs)) / f.Med()
}

// RunsString lists the runs with two decimals.
func (f *Figure) RunsString() string {
	s := make([]string, len(f.Runs))
	for i, v := range f.Runs {
		s[i] = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strings.Join(s, " ")
}

// OneCoreBLAKE3 measures zeebo BLAKE3 on one goroutine over a 4 MiB
// buffer, in GB/s: the hashing baseline.
func OneCoreBLAKE3() float64 {
	buf := Data(5, 4<<20)
	start := time.Now()
	const rounds = 256 // 1 GiB
	for range rounds {
		blake3.Sum256(buf)
	}
	return float64(rounds*len(buf)) / time.Since(start).Seconds() / 1e9
}
