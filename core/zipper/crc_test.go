package zipper

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestCombineCRC32RandomSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1<<16)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for range 500 {
		n := rng.IntN(len(buf) + 1)
		s := rng.IntN(n + 1)
		if rng.IntN(10) == 0 {
			s = n // lenB = 0
		}
		a, b := buf[:s], buf[s:n]
		got := CombineCRC32(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b)))
		if want := crc32.ChecksumIEEE(buf[:n]); got != want {
			t.Fatalf("split %d/%d: got %08x, want %08x", s, n, got, want)
		}
	}
	if got := CombineCRC32(0x12345678, 0, 0); got != 0x12345678 {
		t.Errorf("lenB=0: got %08x", got)
	}
	if got := CombineCRC32(0x12345678, 0, -5); got != 0x12345678 {
		t.Errorf("lenB<0: got %08x", got)
	}
}

// zerosCRC returns the CRC-32 of n zero bytes by doubling with
// CombineCRC32, in O(log² n).
func zerosCRC(n int64) uint32 {
	var crc uint32 // of the empty string
	unit, unitLen := crc32.ChecksumIEEE([]byte{0}), int64(1)
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			crc = CombineCRC32(crc, unit, unitLen)
		}
		unit = CombineCRC32(unit, unit, unitLen)
		unitLen *= 2
	}
	return crc
}

// TestCombineCRC32Large checks lengths beyond 2^32 (where the x^(2^k)
// table wraps) against hash/crc32 run over the zeros piece by piece.
func TestCombineCRC32Large(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 4 GiB")
	}
	const n = 1<<32 + 12345
	zeros := make([]byte, 1<<20)
	var streamed uint32
	for left := int64(n); left > 0; {
		m := min(left, int64(len(zeros)))
		streamed = crc32.Update(streamed, crc32.IEEETable, zeros[:m])
		left -= m
	}
	if got := zerosCRC(n); got != streamed {
		t.Fatalf("zerosCRC(%d) = %08x, streamed %08x", int64(n), got, streamed)
	}
	// A non-zero prefix combined with the large zero run.
	prefix := []byte("haul zipper prefix")
	want := crc32.ChecksumIEEE(prefix)
	for left := int64(n); left > 0; {
		m := min(left, int64(len(zeros)))
		want = crc32.Update(want, crc32.IEEETable, zeros[:m])
		left -= m
	}
	if got := CombineCRC32(crc32.ChecksumIEEE(prefix), streamed, n); got != want {
		t.Fatalf("combine with %d-byte B: got %08x, want %08x", int64(n), got, want)
	}
}

func TestZerosCRCSmall(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 1000, 65537} {
		if got, want := zerosCRC(int64(n)), crc32.ChecksumIEEE(make([]byte, n)); got != want {
			t.Errorf("zerosCRC(%d) = %08x, want %08x", n, got, want)
		}
	}
}
