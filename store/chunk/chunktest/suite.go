// Package chunktest is the conformance suite every core.ChunkStore
// implementation must pass. A backend's test calls Run with a factory
// that opens a fresh, empty store over a fresh metadata store.
package chunktest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"haul/core"
)

// Env is one store under test and the metadata store its index lives in.
type Env struct {
	Store     core.ChunkStore
	Meta      core.Store
	BlockSize int64
}

// Factory opens a fresh, empty store.
type Factory func(t *testing.T) Env

// Data returns n seeded pseudo-random bytes.
func Data(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Team returns a team key for tests.
func Team(name string) core.TeamKey {
	k := core.TeamKey{TeamID: "TEAM" + name}
	copy(k.Key[:], "key of team "+name+" ............................")
	return k
}

// Put ingests data as one file in parts of partSize and commits each part.
func Put(t testing.TB, e Env, team core.TeamKey, data []byte, partSize int) []core.Block {
	t.Helper()
	blocks, err := PutErr(e, team, data, partSize)
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// PutErr is Put for goroutines other than the test's.
func PutErr(e Env, team core.TeamKey, data []byte, partSize int) ([]core.Block, error) {
	ctx := context.Background()
	var blocks []core.Block
	for off := 0; off < len(data) || off == 0; off += partSize {
		end := min(off+partSize, len(data))
		in, err := e.Store.Ingest(ctx, team, int64(off), bytes.NewReader(data[off:end]))
		if err != nil {
			return nil, fmt.Errorf("ingest at %d: %w", off, err)
		}
		if in.Size != int64(end-off) {
			return nil, fmt.Errorf("ingest at %d read %d bytes, want %d", off, in.Size, end-off)
		}
		if err := e.Meta.Update(ctx, func(tx core.Tx) error { return e.Store.Commit(tx, team, in) }); err != nil {
			return nil, fmt.Errorf("commit at %d: %w", off, err)
		}
		blocks = append(blocks, in.Blocks...)
		if len(data) == 0 {
			break
		}
	}
	return blocks, nil
}

// Get reads bytes [off, off+n) of a file.
func Get(t testing.TB, e Env, team core.TeamKey, blocks []core.Block, off, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Store.ReadRange(context.Background(), team, blocks, off, n, &buf); err != nil {
		t.Fatalf("read %d+%d: %v", off, n, err)
	}
	return buf.Bytes()
}

// Run runs the suite.
func Run(t *testing.T, open Factory) {
	t.Run("RoundTrip", func(t *testing.T) { roundTrip(t, open) })
	t.Run("Ranges", func(t *testing.T) { ranges(t, open) })
	t.Run("Dedup", func(t *testing.T) { dedup(t, open) })
	t.Run("TeamsNeverShare", func(t *testing.T) { teams(t, open) })
	t.Run("UncommittedIsUnreferenced", func(t *testing.T) { uncommitted(t, open) })
	t.Run("Release", func(t *testing.T) { release(t, open) })
	t.Run("BadRange", func(t *testing.T) { badRange(t, open) })
	t.Run("Concurrent", func(t *testing.T) { concurrent(t, open) })
}

func sizes(bs int) []int {
	return []int{0, 1, 1023, 1024, 1025, bs - 1, bs, bs + 1, 3*bs + bs/2, 4 * bs}
}

func roundTrip(t *testing.T, open Factory) {
	e := open(t)
	bs := int(e.BlockSize)
	team := Team("A")
	for i, n := range sizes(bs) {
		for _, part := range []int{bs, 3 * bs / 2, bs/2 + 7} {
			t.Run(fmt.Sprintf("size%d/part%d", n, part), func(t *testing.T) {
				data := Data(uint64(i*1000+part), n)
				blocks := Put(t, e, team, data, part)
				var total int64
				for j, b := range blocks {
					if b.Off != total {
						t.Fatalf("block %d at %d, want %d", j, b.Off, total)
					}
					if b.Len > int64(bs) || b.Len <= 0 {
						t.Fatalf("block %d has length %d", j, b.Len)
					}
					if (b.Off+b.Len)%int64(bs) != 0 && j != len(blocks)-1 && (b.Off+b.Len)%int64(part) != 0 {
						t.Fatalf("block %d ends at %d: neither a block nor a part edge", j, b.Off+b.Len)
					}
					total += b.Len
				}
				if total != int64(n) {
					t.Fatalf("blocks cover %d bytes, want %d", total, n)
				}
				if got := Get(t, e, team, blocks, 0, int64(n)); !bytes.Equal(got, data) {
					t.Fatal("read back differs")
				}
			})
		}
	}
}

func ranges(t *testing.T, open Factory) {
	e := open(t)
	bs := int(e.BlockSize)
	team := Team("A")
	data := Data(7, 5*bs+333)
	blocks := Put(t, e, team, data, 2*bs)
	r := rand.New(rand.NewPCG(1, 2))
	cases := [][2]int{{0, 0}, {0, 1}, {bs - 1, 2}, {bs, bs}, {len(data) - 1, 1}, {len(data), 0}, {17, len(data) - 17}}
	for range 40 {
		off := r.IntN(len(data))
		cases = append(cases, [2]int{off, r.IntN(len(data) - off + 1)})
	}
	for _, c := range cases {
		if got := Get(t, e, team, blocks, int64(c[0]), int64(c[1])); !bytes.Equal(got, data[c[0]:c[0]+c[1]]) {
			t.Fatalf("range %d+%d differs", c[0], c[1])
		}
	}
}

func physical(t testing.TB, e Env) int64 {
	t.Helper()
	st, err := e.Store.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.PhysicalBytes
}

func dedup(t *testing.T, open Factory) {
	e := open(t)
	bs := int(e.BlockSize)
	team := Team("A")
	data := Data(11, 6*bs)
	first := Put(t, e, team, data, 2*bs)
	before := physical(t, e)
	in, err := e.Store.Ingest(context.Background(), team, 0, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range in.New {
		if n != nil {
			t.Fatalf("block %d of known data was written again", i)
		}
	}
	if err := e.Meta.Update(context.Background(), func(tx core.Tx) error { return e.Store.Commit(tx, team, in) }); err != nil {
		t.Fatal(err)
	}
	if after := physical(t, e); after != before {
		t.Fatalf("physical bytes grew from %d to %d for known data", before, after)
	}
	if got := Get(t, e, team, in.Blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("deduplicated copy reads back wrong")
	}
	for i := range first {
		if first[i].Hash != in.Blocks[i].Hash {
			t.Fatal("same bytes at the same offsets got different addresses")
		}
	}
	st, _ := e.Store.Stats(context.Background())
	if st.DedupRatio < 1.99 || st.DedupRatio > 2.01 {
		t.Fatalf("dedup ratio %.2f after storing the same file twice", st.DedupRatio)
	}
	// The same block repeated inside one ingest is written once.
	same := bytes.Repeat(Data(12, bs), 4)
	in, err = e.Store.Ingest(context.Background(), team, 0, bytes.NewReader(same))
	if err != nil {
		t.Fatal(err)
	}
	written := 0
	for _, n := range in.New {
		if n != nil {
			written++
		}
	}
	if written != 1 {
		t.Fatalf("a block repeated 4 times in one ingest was written %d times", written)
	}
	if err := e.Meta.Update(context.Background(), func(tx core.Tx) error { return e.Store.Commit(tx, team, in) }); err != nil {
		t.Fatal(err)
	}
	if got := Get(t, e, team, in.Blocks, 0, int64(len(same))); !bytes.Equal(got, same) {
		t.Fatal("repeated blocks read back wrong")
	}
}

func teams(t *testing.T, open Factory) {
	e := open(t)
	bs := int(e.BlockSize)
	data := Data(21, 2*bs)
	a := Put(t, e, Team("A"), data, bs)
	before := physical(t, e)
	b := Put(t, e, Team("B"), data, bs)
	if physical(t, e) <= before {
		t.Fatal("a second team's copy was deduplicated against the first team's")
	}
	if a[0].Hash == b[0].Hash {
		t.Fatal("two teams got the same address for the same bytes: addresses must be keyed per team")
	}
	if ok, _ := e.Store.Has(context.Background(), Team("B"), a[0].Hash); ok {
		t.Fatal("team B sees team A's block")
	}
	var buf bytes.Buffer
	if err := e.Store.ReadRange(context.Background(), Team("B"), a, 0, 10, &buf); err == nil {
		t.Fatal("team B read team A's blocks")
	}
}

func uncommitted(t *testing.T, open Factory) {
	e := open(t)
	team := Team("A")
	in, err := e.Store.Ingest(context.Background(), team, 0, bytes.NewReader(Data(31, int(e.BlockSize))))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.Store.Has(context.Background(), team, in.Blocks[0].Hash); ok {
		t.Fatal("an ingest that was never committed is referenced")
	}
}

func release(t *testing.T, open Factory) {
	e := open(t)
	team := Team("A")
	ctx := context.Background()
	data := Data(41, int(e.BlockSize))
	one := Put(t, e, team, data, len(data))
	two := Put(t, e, team, data, len(data))
	rel := func(b []core.Block) {
		t.Helper()
		if err := e.Meta.Update(ctx, func(tx core.Tx) error { return e.Store.Release(tx, team, b) }); err != nil {
			t.Fatal(err)
		}
	}
	rel(one)
	if ok, _ := e.Store.Has(ctx, team, two[0].Hash); !ok {
		t.Fatal("a block still referenced once was freed")
	}
	if got := Get(t, e, team, two, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("the remaining reference reads wrong")
	}
	in, err := e.Store.Ingest(ctx, team, 0, bytes.NewReader(data)) // dedups against the live block
	if err != nil {
		t.Fatal(err)
	}
	// Releasing the last reference and committing the same bytes again
	// in one transaction (a client re-sending a part) must work.
	err = e.Meta.Update(ctx, func(tx core.Tx) error {
		if err := e.Store.Release(tx, team, two); err != nil {
			return err
		}
		return e.Store.Commit(tx, team, in)
	})
	if err != nil {
		t.Fatalf("release and re-commit of the same bytes in one transaction: %v", err)
	}
	if got := Get(t, e, team, in.Blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("the re-committed copy reads wrong")
	}
	rel(in.Blocks)
	st, err := e.Store.Stats(ctx)
	if err != nil || st.LogicalBytes != 0 {
		t.Fatalf("after releasing every reference: logical bytes %d, %v", st.LogicalBytes, err)
	}
	rel(in.Blocks) // releasing again changes nothing and does not fail
}

func badRange(t *testing.T, open Factory) {
	e := open(t)
	team := Team("A")
	blocks := Put(t, e, team, Data(51, 100), 100)
	for _, c := range [][2]int64{{-1, 1}, {0, 101}, {100, 1}, {50, -1}} {
		err := e.Store.ReadRange(context.Background(), team, blocks, c[0], c[1], io.Discard)
		if !core.Is(err, core.BadRange) {
			t.Errorf("range %d+%d: %v, want BadRange", c[0], c[1], err)
		}
	}
}

func concurrent(t *testing.T, open Factory) {
	e := open(t)
	team := Team("A")
	bs := int(e.BlockSize)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := Data(uint64(g%3), 3*bs+g) // overlapping contents
			blocks, err := PutErr(e, team, data, bs)
			if err != nil {
				errs <- err
				return
			}
			var buf bytes.Buffer
			if err := e.Store.ReadRange(context.Background(), team, blocks, 0, int64(len(data)), &buf); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(buf.Bytes(), data) {
				errs <- fmt.Errorf("goroutine %d read back wrong data", g)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
