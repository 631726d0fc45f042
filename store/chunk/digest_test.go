package chunk

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	zeebo "github.com/zeebo/blake3"
	"lukechampine.com/blake3/guts"

	"haul/core"
)

const (
	digestKiB = 1 << 10
	digestMiB = 1 << 20
)

// digestRand returns n seeded pseudo-random bytes.
func digestRand(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6861756c))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// digestBlocks cuts data into blocks of the given lengths (the last runs to
// the end of data when the lengths fall short) and gives each the CVs
// blockCVs makes for it, as ingest would (the last block too, when aligned).
func digestBlocks(t testing.TB, data []byte, lens []int64) []core.Block {
	t.Helper()
	var c cvHasher
	var blocks []core.Block
	var off int64
	for k := 0; off < int64(len(data)) || k == 0; k++ {
		n := int64(len(data)) - off
		if k < len(lens) && lens[k] < n {
			n = lens[k]
		}
		b := core.Block{Off: off, Len: n}
		cvs, ok := c.blockCVs(nil, data[off:off+n], off)
		if ok != (off%1024 == 0 && n%1024 == 0) {
			t.Fatalf("blockCVs(off %d, len %d): ok = %v", off, n, ok)
		}
		if !ok && cvs != nil {
			t.Fatalf("blockCVs(off %d, len %d): not ok but %d CVs", off, n, len(cvs))
		}
		b.CVs = cvs
		blocks = append(blocks, b)
		off += n
		if n == 0 {
			break
		}
	}
	return blocks
}

// digestFixed cuts data into blocks at multiples of bs.
func digestFixed(t testing.TB, data []byte, bs int64) []core.Block {
	lens := make([]int64, (int64(len(data))+bs-1)/bs)
	for i := range lens {
		lens[i] = bs
	}
	return digestBlocks(t, data, lens)
}

// digestCheck asserts fileDigest of blocks (over data) is BLAKE3 of data.
func digestCheck(t testing.TB, data []byte, blocks []core.Block) {
	t.Helper()
	var last []byte
	if len(blocks) > 0 {
		lb := blocks[len(blocks)-1]
		last = data[lb.Off : lb.Off+lb.Len]
	}
	got, err := fileDigest(blocks, last)
	if err != nil {
		t.Fatalf("size %d, %d blocks: %v", len(data), len(blocks), err)
	}
	if want := core.Hash(zeebo.Sum256(data)); got != want {
		t.Fatalf("size %d, %d blocks %v: digest %s, want %s", len(data), len(blocks), digestLayout(blocks), got, want)
	}
}

func digestLayout(blocks []core.Block) string {
	var sb strings.Builder
	for _, b := range blocks {
		fmt.Fprintf(&sb, "[%d+%d:%dcv]", b.Off, b.Len, len(b.CVs))
	}
	return sb.String()
}

func TestDigestSizes(t *testing.T) {
	sizes := []int{0, 1, 1023, 1024, 1025, 2047, 2048, 3072, 4095, 4096, 4097,
		16*digestKiB - 1, 16 * digestKiB, 16*digestKiB + 1, 32*digestKiB + 1024, 1*digestMiB + 7}
	for _, size := range sizes {
		data := digestRand(uint64(size), size)
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			if size == 0 {
				digestCheck(t, data, nil) // no blocks at all
			}
			digestCheck(t, data, digestBlocks(t, data, nil)) // one block
			for _, bs := range []int64{1024, 4096, 64 * digestKiB} {
				digestCheck(t, data, digestFixed(t, data, bs))
			}
		})
	}
}

func TestDigestMultiBlock(t *testing.T) {
	for _, bs := range []int64{4096, 64 * digestKiB, 4 * digestMiB} {
		for _, tail := range []int64{0, 1, 1023, 1024, 1025, bs / 2, bs/2 + 1, bs - 1} {
			for _, full := range []int64{1, 2, 3, 4} {
				if bs == 4*digestMiB && full != 3 {
					continue // keep the test quick
				}
				size := full*bs + tail
				t.Run(fmt.Sprintf("bs%d/%d+%d", bs, full, tail), func(t *testing.T) {
					data := digestRand(uint64(size)^uint64(bs), int(size))
					blocks := digestFixed(t, data, bs)
					if len(blocks[0].CVs) != 1 {
						t.Fatalf("first block of %d bytes at 0: %d CVs, want 1", bs, len(blocks[0].CVs))
					}
					digestCheck(t, data, blocks)
				})
			}
		}
	}
}

// TestDigestPartEdges cuts files as ingest does when parts end inside
// blocks: at multiples of the block size and at every part edge. Part edges
// are 1 KiB aligned, except the file's end.
func TestDigestPartEdges(t *testing.T) {
	t.Run("listed", func(t *testing.T) {
		lens := []int64{65536, 3072, 62464, 65536, 1024, 64512, 65536, 5000}
		var size int64
		for _, n := range lens {
			size += n
		}
		data := digestRand(7, int(size))
		blocks := digestBlocks(t, data, lens)
		if len(blocks) != len(lens) {
			t.Fatalf("%d blocks, want %d", len(blocks), len(lens))
		}
		// [65536, +3072) is chunks 64..66: trees of 2 and 1 chunks;
		// [68608, +62464) is chunks 67..127: 1+4+8+16+32 chunks.
		if len(blocks[1].CVs) != 2 || len(blocks[2].CVs) != 5 {
			t.Fatalf("CV counts %s, want 2 and 5 for blocks 1 and 2", digestLayout(blocks))
		}
		digestCheck(t, data, blocks)
	})

	r := rand.New(rand.NewPCG(1, 2))
	multi := 0
	for trial := range 60 {
		bs := []int64{4 * digestKiB, 16 * digestKiB, 64 * digestKiB}[trial%3]
		size := r.Int64N(12*bs) + 1
		// Part edges at random chunk boundaries; blocks end at multiples
		// of bs and at part edges.
		edges := map[int64]bool{}
		for range r.IntN(6) {
			edges[r.Int64N(size/1024+1)*1024] = true
		}
		var lens []int64
		for off := int64(0); off < size; {
			end := min((off/bs+1)*bs, size)
			for e := off + 1; e < end; e++ {
				if edges[e] {
					end = e
					break
				}
			}
			lens = append(lens, end-off)
			off = end
		}
		data := digestRand(uint64(trial)+100, int(size))
		blocks := digestBlocks(t, data, lens)
		for _, b := range blocks[:len(blocks)-1] {
			if len(b.CVs) > 1 {
				multi++
			}
		}
		digestCheck(t, data, blocks)
	}
	if multi == 0 {
		t.Fatal("no block with more than one CV: the random layouts test nothing")
	}
}

// TestDigestSameBytes puts the same block bytes at different offsets: its
// CVs depend on the offset (the chunk counter), the digests must be right.
func TestDigestSameBytes(t *testing.T) {
	blk := digestRand(42, 8*digestKiB)
	fill := digestRand(43, 64*digestKiB)
	// File: blk at 0, filler, blk at 12 KiB... laid out by the block list.
	var data []byte
	data = append(data, blk...)                  // [0, 8K)
	data = append(data, fill[:4*digestKiB]...)   // [8K, 12K)
	data = append(data, blk...)                  // [12K, 20K)
	data = append(data, fill[:12*digestKiB]...)  // [20K, 32K)
	data = append(data, blk...)                  // [32K, 40K)
	data = append(data, fill[:3*digestKiB+5]...) // tail
	lens := []int64{8 * digestKiB, 4 * digestKiB, 8 * digestKiB, 12 * digestKiB, 8 * digestKiB}
	blocks := digestBlocks(t, data, lens)
	a, b, c := blocks[0], blocks[2], blocks[4]
	if a.Len != int64(len(blk)) || b.Len != a.Len || c.Len != a.Len ||
		!bytes.Equal(data[b.Off:b.Off+b.Len], blk) || !bytes.Equal(data[c.Off:c.Off+c.Len], blk) {
		t.Fatalf("layout wrong: %s", digestLayout(blocks))
	}
	// At 0 and at 32K the 8 chunks are one tree, at 12K two (4+4): the
	// counters differ in every case.
	if len(a.CVs) != 1 || len(b.CVs) != 2 || len(c.CVs) != 1 || a.CVs[0] == c.CVs[0] {
		t.Fatalf("CVs of the same bytes at 0, 12K, 32K: %v %v %v", a.CVs, b.CVs, c.CVs)
	}
	digestCheck(t, data, blocks)

	// The same bytes as a whole file and as a block of a bigger one.
	digestCheck(t, blk, digestBlocks(t, blk, nil))
}

// TestDigestTrees checks the per-piece CV computation against guts' own
// eigentree compression, for every height at a few offsets.
func TestDigestTrees(t *testing.T) {
	var c cvHasher
	data := digestRand(5, 2*digestMiB)
	for h := 0; h <= 11; h++ {
		n := 1024 << h
		for _, k := range []uint64{0, 1, 3} {
			i := k << h // chunk counter, aligned to the tree
			want := guts.ChainingValue(guts.CompressEigentree(data[:n], &guts.IV, i, 0))
			cvs, ok := c.blockCVs(nil, data[:n], int64(i)*1024)
			if !ok || len(cvs) != 1 || hashCV(cvs[0]) != want {
				t.Fatalf("height %d at chunk %d: ok %v, %d CVs, want 1 = %x", h, i, ok, len(cvs), cvHash(want))
			}
		}
	}
	// A short tree at the very end of a buffer with no capacity past it
	// (CompressBuffer must get a copy).
	short := bytes.Clone(data[:2*digestKiB])
	cvs, ok := c.blockCVs(nil, short, 2*digestKiB)
	if want := guts.ChainingValue(guts.CompressEigentree(data[:2*digestKiB], &guts.IV, 2, 0)); !ok || len(cvs) != 1 || hashCV(cvs[0]) != want {
		t.Fatalf("2-chunk tree at chunk 2: %v %v", ok, cvs)
	}
}

func TestDigestBlockCVsRejects(t *testing.T) {
	var c cvHasher
	data := digestRand(9, 8*digestKiB)
	for _, tc := range []struct {
		n   int
		off int64
	}{{8 * digestKiB, 512}, {8*digestKiB - 1, 0}, {1, 0}, {1000, 1024}, {1024, -1024}} {
		cvs, ok := c.blockCVs([]core.Hash{{1}}, data[:tc.n], tc.off)
		if ok || cvs != nil {
			t.Errorf("blockCVs(len %d, off %d) = %v, %v; want nil, false", tc.n, tc.off, cvs, ok)
		}
	}
	dst := []core.Hash{{1}}
	cvs, ok := c.blockCVs(dst, nil, 4096)
	if !ok || len(cvs) != 1 || cvs[0] != dst[0] {
		t.Errorf("empty buf: %v, %v; want dst unchanged, true", cvs, ok)
	}
	// Appends to dst.
	cvs, ok = c.blockCVs(dst, data[:3*digestKiB], 0)
	if !ok || len(cvs) != 3 || cvs[0] != dst[0] {
		t.Errorf("3 chunks at 0 after 1 CV: %d CVs, %v; want 1+2", len(cvs), ok)
	}
}

func TestDigestBlockCVsAllocs(t *testing.T) {
	var c cvHasher
	data := digestRand(11, 4*digestMiB)
	dst := make([]core.Hash, 0, 64)
	for _, off := range []int64{0, 4 * digestMiB, 1024, 5 * digestKiB} {
		allocs := testing.AllocsPerRun(3, func() {
			if _, ok := c.blockCVs(dst[:0], data, off); !ok {
				t.Fatal("not ok")
			}
		})
		if allocs != 0 {
			t.Errorf("blockCVs of 4 MiB at %d: %v allocs, want 0", off, allocs)
		}
	}
}

func TestDigestNeedFullRead(t *testing.T) {
	data := digestRand(13, 20000)
	check := func(name string, blocks []core.Block) {
		t.Helper()
		lb := blocks[len(blocks)-1]
		_, err := fileDigest(blocks, data[lb.Off:lb.Off+lb.Len])
		if !errors.Is(err, errNeedFullRead) {
			t.Errorf("%s %s: err %v, want errNeedFullRead", name, digestLayout(blocks), err)
		}
		// The fallback.
		d, err := digestReader(bytes.NewReader(data[:lb.Off+lb.Len]))
		if want := core.Hash(zeebo.Sum256(data[:lb.Off+lb.Len])); err != nil || d != want {
			t.Errorf("digestReader: %s, %v; want %s", d, err, want)
		}
	}
	// A middle block not 1 KiB aligned (and so the one after it).
	check("middle block unaligned", digestBlocks(t, data, []int64{4096, 1000, 3096, 4096}))
	// The first block ends inside a chunk.
	check("first block short", digestBlocks(t, data, []int64{1500, 2596, 4096}))
	// Aligned, but the CVs were not recorded.
	blocks := digestBlocks(t, data, []int64{4096, 4096, 4096})
	blocks[1].CVs = nil
	check("CVs missing", blocks)
	// An empty last block after others: the final chunk's bytes are missing.
	blocks = digestBlocks(t, data[:8192], []int64{4096, 4096})
	blocks = append(blocks, core.Block{Off: 8192})
	check("empty last block", blocks)
}

func TestDigestBadBlocks(t *testing.T) {
	data := digestRand(17, 16*digestKiB+10)
	good := digestFixed(t, data, 4096)
	last := data[good[len(good)-1].Off:]
	if _, err := fileDigest(good, last); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []core.Block) []core.Block) []core.Block {
		b := make([]core.Block, len(good))
		for i := range good {
			b[i] = good[i]
			b[i].CVs = append([]core.Hash(nil), good[i].CVs...)
		}
		return f(b)
	}
	cases := map[string][]core.Block{
		"gap":          edit(func(b []core.Block) []core.Block { return append(b[:1], b[2:]...) }),
		"overlap":      edit(func(b []core.Block) []core.Block { b[1].Len += 1024; return b }),
		"not from 0":   edit(func(b []core.Block) []core.Block { return b[1:] }),
		"swapped":      edit(func(b []core.Block) []core.Block { b[1], b[2] = b[2], b[1]; return b }),
		"negative len": edit(func(b []core.Block) []core.Block { b[1].Len = -4096; b[2].Off = 0; return b }),
		"extra CV":     edit(func(b []core.Block) []core.Block { b[1].CVs = append(b[1].CVs, core.Hash{}); return b }),
	}
	for name, blocks := range cases {
		_, err := fileDigest(blocks, last)
		if err == nil || errors.Is(err, errNeedFullRead) {
			t.Errorf("%s %s: err %v, want a layout error", name, digestLayout(blocks), err)
		}
	}
	// last of the wrong length, and bytes with no blocks.
	if _, err := fileDigest(good, last[1:]); err == nil {
		t.Error("short last: no error")
	}
	if _, err := fileDigest(nil, []byte{1}); err == nil {
		t.Error("no blocks, 1 byte of last: no error")
	}
	// A wrong CV is not detectable, but must change the digest.
	bad := edit(func(b []core.Block) []core.Block { b[1].CVs[0][0] ^= 1; return b })
	if d, err := fileDigest(bad, last); err != nil || d == core.Hash(zeebo.Sum256(data)) {
		t.Errorf("flipped CV bit: %s, %v", d, err)
	}
}

func TestDigestReader(t *testing.T) {
	for _, size := range []int{0, 1, 1025, 300*digestKiB + 3} {
		data := digestRand(uint64(size)+1, size)
		d, err := digestReader(bytes.NewReader(data))
		if want := core.Hash(zeebo.Sum256(data)); err != nil || d != want {
			t.Errorf("size %d: %s, %v; want %s", size, d, err, want)
		}
	}
}

// TestDigestB3sum compares with the b3sum tool, when installed.
func TestDigestB3sum(t *testing.T) {
	b3sum, err := exec.LookPath("b3sum")
	if err != nil {
		t.Skip("b3sum not on PATH")
	}
	dir := t.TempDir()
	for _, size := range []int{0, 1, 1024, 1025, 64*digestKiB + 3, 3*digestMiB + 1234} {
		data := digestRand(uint64(size)+77, size)
		name := filepath.Join(dir, fmt.Sprint(size))
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(b3sum, name).Output()
		if err != nil {
			t.Fatalf("b3sum: %v", err)
		}
		f := strings.Fields(string(out)) // "<hex>  <name>"
		if len(f) == 0 {
			t.Fatalf("b3sum output %q", out)
		}
		want, err := core.ParseHash(f[0])
		if err != nil {
			t.Fatalf("b3sum output %q: %v", out, err)
		}
		blocks := digestFixed(t, data, 64*digestKiB)
		if len(data) == 0 {
			blocks = nil
		}
		var last []byte
		if len(blocks) > 0 {
			last = data[blocks[len(blocks)-1].Off:]
		}
		got, err := fileDigest(blocks, last)
		if err != nil || got != want {
			t.Errorf("size %d: fileDigest %s, %v; b3sum %s", size, got, err, want)
		}
	}
}

func BenchmarkBlockCVs(b *testing.B) {
	data := digestRand(3, 4*digestMiB)
	for _, off := range []int64{4 * digestMiB, 1024} {
		b.Run(fmt.Sprintf("4MiB-at-%d", off), func(b *testing.B) {
			var c cvHasher
			dst := make([]core.Hash, 0, 64)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				dst, _ = c.blockCVs(dst[:0], data, off)
			}
		})
	}
	// For comparison: the whole-buffer hash of the same block.
	b.Run("zeebo-Sum256-4MiB", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			zeebo.Sum256(data)
		}
	})
}
