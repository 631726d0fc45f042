package chunk

import (
	"bytes"
	"context"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"haul/core"
	"haul/store/chunk/chunktest"
	"haul/store/meta"
)

// testBlockSize keeps tests small: 64 KiB blocks, 8 KiB shards at 8+2.
const testBlockSize = 64 << 10

type testStore struct {
	*Store
	meta *meta.DB
	dirs []string
	cfg  Config
}

func openTestStore(t testing.TB, mut ...func(*Config)) *testStore {
	t.Helper()
	db, err := meta.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := Config{Dirs: []string{t.TempDir()}, BlockSize: testBlockSize, DataShards: 8, ParityShards: 2, SegmentSize: 1 << 20}
	for _, f := range mut {
		f(&cfg)
	}
	s, err := Open(cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testStore{Store: s, meta: db, dirs: cfg.Dirs, cfg: cfg}
}

func (ts *testStore) env() chunktest.Env {
	return chunktest.Env{Store: ts.Store, Meta: ts.meta, BlockSize: ts.BlockSize()}
}

// reopen closes the store and opens it again over the same directories.
func (ts *testStore) reopen(t testing.TB) {
	t.Helper()
	if err := ts.Store.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ts.cfg, ts.meta)
	if err != nil {
		t.Fatal(err)
	}
	ts.Store = s
	t.Cleanup(func() { s.Close() })
}

func TestConformance(t *testing.T) {
	chunktest.Run(t, func(t *testing.T) chunktest.Env { return openTestStore(t).env() })
}

func TestConformanceManyDirsNoParity(t *testing.T) {
	chunktest.Run(t, func(t *testing.T) chunktest.Env {
		return openTestStore(t, func(c *Config) {
			c.Dirs = []string{t.TempDir(), t.TempDir(), t.TempDir()}
			c.DataShards, c.ParityShards = 4, 0
		}).env()
	})
}

// segFiles lists every segment file of the store.
func (ts *testStore) segFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, d := range ts.dirs {
		m, _ := filepath.Glob(filepath.Join(d, "*.seg"))
		out = append(out, m...)
	}
	return out
}

func TestDamageIsRepairedOnRead(t *testing.T) {
	team := chunktest.Team("A")
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, ts *testStore, e *core.BlockEntry)
	}{
		{"flipped byte in a data shard", func(t *testing.T, ts *testStore, e *core.BlockEntry) {
			flip(t, ts, e, 0, headerSize+100)
		}},
		{"flipped byte in a header", func(t *testing.T, ts *testStore, e *core.BlockEntry) {
			flip(t, ts, e, 3, 60)
		}},
		{"two shards lost", func(t *testing.T, ts *testStore, e *core.BlockEntry) {
			flip(t, ts, e, 1, headerSize)
			flip(t, ts, e, 9, headerSize+5)
		}},
		{"segment file deleted", func(t *testing.T, ts *testStore, e *core.BlockEntry) {
			if err := os.Remove(ts.segPath(e.Shards[2], 2)); err != nil {
				t.Fatal(err)
			}
		}},
		{"segment file halved", func(t *testing.T, ts *testStore, e *core.BlockEntry) {
			p := ts.segPath(e.Shards[5], 5)
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := openTestStore(t)
			data := chunktest.Data(3, 3*testBlockSize)
			blocks := chunktest.Put(t, ts.env(), team, data, len(data))
			e := ts.entryOf(t, team, blocks[1])
			tc.damage(t, ts, e)
			if got := chunktest.Get(t, ts.env(), team, blocks, 0, int64(len(data))); !bytes.Equal(got, data) {
				t.Fatal("damaged block read back wrong")
			}
			if ts.repairs.Load() == 0 {
				t.Fatal("no repair recorded")
			}
			repaired := ts.repairs.Load()
			after := ts.entryOf(t, team, blocks[1])
			for i := range after.Shards {
				if _, err := ts.readShard(&reader{}, team.TeamID, blocks[1].Hash, after, i); err != nil {
					t.Fatalf("shard %d still bad after repair: %v", i, err)
				}
			}
			// Reading again needs no repair.
			chunktest.Get(t, ts.env(), team, blocks, 0, int64(len(data)))
			if ts.repairs.Load() != repaired {
				t.Fatal("a repaired block was repaired again")
			}
		})
	}
}

func TestTooMuchDamageIsCorrupt(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	blocks := chunktest.Put(t, ts.env(), team, chunktest.Data(4, testBlockSize), testBlockSize)
	e := ts.entryOf(t, team, blocks[0])
	for _, i := range []int{0, 4, 8} {
		flip(t, ts, e, i, headerSize+1)
	}
	var buf bytes.Buffer
	err := ts.ReadRange(context.Background(), team, blocks, 0, testBlockSize, &buf)
	if !core.Is(err, core.Corrupt) || !strings.Contains(err.Error(), "cannot be rebuilt") {
		t.Fatalf("three of ten shards lost with parity 2: %v, want Corrupt", err)
	}
}

func TestMarkers(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	chunktest.Put(t, ts.env(), team, chunktest.Data(5, 1000), 1000)
	ts.Close()
	t.Run("missing marker on a non-empty dir", func(t *testing.T) {
		os.Rename(filepath.Join(ts.dirs[0], markerName), filepath.Join(ts.dirs[0], "moved"))
		defer os.Rename(filepath.Join(ts.dirs[0], "moved"), filepath.Join(ts.dirs[0], markerName))
		if _, err := Open(ts.cfg, ts.meta); err == nil || !strings.Contains(err.Error(), "not a haul chunk directory") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty dir while the index lists blocks (unmounted disk)", func(t *testing.T) {
		cfg := ts.cfg
		cfg.Dirs = []string{t.TempDir()}
		if _, err := Open(cfg, ts.meta); !core.Is(err, core.Unavailable) || !strings.Contains(err.Error(), "mounted") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a new empty dir beside a marked one", func(t *testing.T) {
		cfg := ts.cfg
		cfg.Dirs = append([]string{t.TempDir()}, ts.dirs...)
		if _, err := Open(cfg, ts.meta); !core.Is(err, core.Unavailable) || !strings.Contains(err.Error(), "fsck --repair") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("reordered dirs keep their identity", func(t *testing.T) {
		ts := openTestStore(t, func(c *Config) { c.Dirs = []string{t.TempDir(), t.TempDir()} })
		data := chunktest.Data(6, 3*testBlockSize)
		blocks := chunktest.Put(t, ts.env(), team, data, len(data))
		ts.Close()
		ts.cfg.Dirs = []string{ts.dirs[1], ts.dirs[0]}
		s, err := Open(ts.cfg, ts.meta)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var buf bytes.Buffer
		if err := s.ReadRange(context.Background(), team, blocks, 0, int64(len(data)), &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("read after reordering dirs: %v", err)
		}
	})
}

func TestSegmentsRollOverAndSurviveReopen(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	data := chunktest.Data(8, 40*testBlockSize) // ≈ 410 KiB per stream with 1 MiB segments: no roll yet
	blocks := chunktest.Put(t, ts.env(), team, data, 8*testBlockSize)
	more := chunktest.Data(9, 120*testBlockSize)
	blocks2 := chunktest.Put(t, ts.env(), team, more, 8*testBlockSize)
	if n := len(ts.segFiles(t)); n <= 10 {
		t.Fatalf("%d segment files: segments did not roll over at 1 MiB", n)
	}
	for _, f := range ts.segFiles(t) {
		if fi, _ := os.Stat(f); fi.Size() > 1<<20 {
			t.Fatalf("segment %s is %d bytes, over the 1 MiB limit", f, fi.Size())
		}
	}
	ts.reopen(t)
	blocks3 := chunktest.Put(t, ts.env(), team, chunktest.Data(10, 5*testBlockSize), testBlockSize)
	for _, c := range []struct {
		b []core.Block
		d []byte
	}{{blocks, data}, {blocks2, more}, {blocks3, chunktest.Data(10, 5*testBlockSize)}} {
		if got := chunktest.Get(t, ts.env(), team, c.b, 0, int64(len(c.d))); !bytes.Equal(got, c.d) {
			t.Fatal("data differs after reopen")
		}
	}
}

func (ts *testStore) entryOf(t testing.TB, team core.TeamKey, b core.Block) *core.BlockEntry {
	t.Helper()
	e, err := ts.entry(context.Background(), team, b.Hash)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (ts *testStore) segPath(l core.ShardLoc, shard int) string {
	return filepath.Join(ts.Store.dirs[l.Dir], segName(shard, l.Seg))
}

// flip inverts one byte of shard i's record of a block.
func flip(t testing.TB, ts *testStore, e *core.BlockEntry, i int, at int64) {
	t.Helper()
	f, err := os.OpenFile(ts.segPath(e.Shards[i], i), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, e.Shards[i].Off+at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, e.Shards[i].Off+at); err != nil {
		t.Fatal(err)
	}
}

func TestDigestThroughTheStore(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	for _, tc := range []struct {
		name       string
		size, part int
	}{
		{"empty", 0, 100},
		{"one byte", 1, 100},
		{"block multiple", 4 * testBlockSize, testBlockSize},
		{"parts of 1.5 blocks", 5*testBlockSize + 17, 3 * testBlockSize / 2},
		{"parts not on 1 KiB edges (full read)", 3*testBlockSize + 5, 10000},
		{"one partial chunk at the end", testBlockSize + 1, testBlockSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := chunktest.Data(uint64(tc.size), tc.size)
			blocks := chunktest.Put(t, ts.env(), team, data, tc.part)
			got, err := ts.Digest(context.Background(), team, blocks)
			if err != nil {
				t.Fatal(err)
			}
			if want := core.Hash(blake3.Sum256(data)); got != want {
				t.Fatalf("digest %s, want %s", got, want)
			}
		})
	}
}

// TestUnmountedDirIsNotRefilled: a data directory that loses its marker
// while the store runs (a disk unmounted under it) gets no new segment.
func TestUnmountedDirIsNotRefilled(t *testing.T) {
	ts := openTestStore(t, func(c *Config) { c.SegmentSize = 64 << 10 })
	team := chunktest.Team("A")
	chunktest.Put(t, ts.env(), team, chunktest.Data(1, testBlockSize), testBlockSize)
	dir := ts.dirs[0]
	// Simulate the unmount: the directory is now empty.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
	_, err := ts.Ingest(context.Background(), team, 0, bytes.NewReader(chunktest.Data(2, 4*testBlockSize)))
	if !core.Is(err, core.Unavailable) || !strings.Contains(err.Error(), "unmounted") {
		t.Fatalf("ingest into an unmounted directory: %v, want Unavailable", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("the empty mount point was refilled with %d files", len(ents))
	}
}

// TestIngestRecordsCRC: every ingested block carries its IEEE CRC-32, a
// deduplicated one too, and the block index keeps it for blocks the
// ingest wrote (parts by reference take it from there).
func TestIngestRecordsCRC(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	data := chunktest.Data(7, 3*testBlockSize+123)
	first := chunktest.Put(t, ts.env(), team, data, 2*testBlockSize)
	again := chunktest.Put(t, ts.env(), team, data, 2*testBlockSize) // every block known
	for _, blocks := range [][]core.Block{first, again} {
		for _, b := range blocks {
			want := crc32.ChecksumIEEE(data[b.Off : b.Off+b.Len])
			if b.CRC == nil || *b.CRC != want {
				t.Fatalf("block at %d: CRC %v, want %08x", b.Off, b.CRC, want)
			}
			var e *core.BlockEntry
			if err := ts.env().Meta.View(context.Background(), func(tx core.Tx) (err error) {
				e, err = tx.Block(team.TeamID, b.Hash)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if !e.HasCRC || e.CRC != want {
				t.Fatalf("index entry of block at %d: %+v", b.Off, e)
			}
		}
	}
}

// TestReingestTakesIndexedCVs: re-ingesting blocks that a finalized file
// held at the same offsets (their CVs saved) takes the CVs and CRCs from
// the index instead of computing them, with the same result; at another
// offset they are computed.
func TestReingestTakesIndexedCVs(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	ctx := context.Background()
	data := chunktest.Data(9, 4*testBlockSize+100)
	first := chunktest.Put(t, ts.env(), team, data, len(data))
	// As FinalizeFile does: save each block's CVs at its offset.
	if err := ts.env().Meta.Update(ctx, func(tx core.Tx) error {
		for _, b := range first {
			if b.CVs == nil {
				continue // a short last block: its digest part is read back
			}
			if err := tx.PutBlockCVs(team.TeamID, b.Hash, b.Off, b.CVs); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := ts.Stats(ctx)
	again, err := ts.Ingest(ctx, team, 0, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := ts.Stats(ctx)
	if after.PhysicalBytes != before.PhysicalBytes {
		t.Fatalf("a re-ingest wrote %d bytes", after.PhysicalBytes-before.PhysicalBytes)
	}
	for i, b := range again.Blocks {
		if again.New[i] != nil || b.Hash != first[i].Hash || *b.CRC != *first[i].CRC || len(b.CVs) != len(first[i].CVs) {
			t.Fatalf("block %d: %+v, first %+v", i, b, first[i])
		}
		for j := range b.CVs {
			if b.CVs[j] != first[i].CVs[j] {
				t.Fatalf("block %d CV %d differs", i, j)
			}
		}
	}
	if err := ts.env().Meta.Update(ctx, func(tx core.Tx) error { return ts.Commit(tx, team, again) }); err != nil {
		t.Fatal(err)
	}
	if got, err := ts.Digest(ctx, team, again.Blocks); err != nil || got != core.Hash(blake3.Sum256(data)) {
		t.Fatalf("digest %s, %v", got, err)
	}
	// The CVs really come from the index: altered there, they come back
	// altered (the index is the server's own, so it is trusted).
	marked := append([]core.Hash{}, first[0].CVs...)
	marked[0][0] ^= 0xff
	if err := ts.env().Meta.Update(ctx, func(tx core.Tx) error { return tx.PutBlockCVs(team.TeamID, first[0].Hash, 0, marked) }); err != nil {
		t.Fatal(err)
	}
	if in, err := ts.Ingest(ctx, team, 0, bytes.NewReader(data[:testBlockSize])); err != nil || in.Blocks[0].CVs[0] != marked[0] {
		t.Fatalf("re-ingest did not take the indexed CVs: %v", err)
	}
	if err := ts.env().Meta.Update(ctx, func(tx core.Tx) error { return tx.PutBlockCVs(team.TeamID, first[0].Hash, 0, first[0].CVs) }); err != nil {
		t.Fatal(err)
	}
	// Shifted by one block: the same blocks at other offsets (no saved
	// CVs there) get CVs computed for their place.
	shifted := append(append([]byte{}, data[:testBlockSize]...), data...)
	in, err := ts.Ingest(ctx, team, 0, bytes.NewReader(shifted))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.env().Meta.Update(ctx, func(tx core.Tx) error { return ts.Commit(tx, team, in) }); err != nil {
		t.Fatal(err)
	}
	if got, err := ts.Digest(ctx, team, in.Blocks); err != nil || got != core.Hash(blake3.Sum256(shifted)) {
		t.Fatalf("shifted digest %s, %v", got, err)
	}
}
