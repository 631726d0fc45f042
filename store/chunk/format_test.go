package chunk

import (
	"testing"

	"haul/core"
)

func TestHeaderRoundTrip(t *testing.T) {
	h := header{Shard: 9, Data: 8, Parity: 2, ShardLen: 524288, BlockLen: 4 << 20, Team: core.NewID(), DataCRC: 0xdeadbeef}
	h.Hash[0], h.Hash[31] = 1, 2
	b := make([]byte, headerSize)
	putHeader(b, &h)
	got, err := parseHeader(b)
	if err != nil || got != h {
		t.Fatalf("parse = %+v, %v; want %+v", got, err, h)
	}
	for i := range headerLen {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		if _, err := parseHeader(c); err == nil {
			t.Fatalf("a flipped bit at byte %d went unnoticed", i)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	b := make([]byte, headerSize)
	putHeader(b, &header{Shard: 1, Data: 4, Parity: 2, ShardLen: 1, BlockLen: 3, Team: "T"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			return
		}
		again := make([]byte, headerSize)
		putHeader(again, &h)
		if h2, err := parseHeader(again); err != nil || h2 != h {
			t.Fatalf("re-encoded header differs: %+v vs %+v (%v)", h, h2, err)
		}
	})
}
