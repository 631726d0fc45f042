package chunk

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"haul/core"
	"haul/store/chunk/chunktest"
)

// testFile is a stored file: its team, bytes and block list.
type testFile struct {
	team   core.TeamKey
	data   []byte
	blocks []core.Block
}

func putFile(t testing.TB, ts *testStore, team core.TeamKey, seed uint64, n, part int) testFile {
	t.Helper()
	d := chunktest.Data(seed, n)
	return testFile{team, d, chunktest.Put(t, ts.env(), team, d, part)}
}

// checkFiles reads every file back byte for byte.
func (ts *testStore) checkFiles(t testing.TB, files []testFile) {
	t.Helper()
	for i, f := range files {
		var buf bytes.Buffer
		if err := ts.ReadRange(context.Background(), f.team, f.blocks, 0, int64(len(f.data)), &buf); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		if !bytes.Equal(buf.Bytes(), f.data) {
			t.Fatalf("file %d reads back different", i)
		}
	}
}

func (ts *testStore) fsck(t testing.TB, repair bool) FsckReport {
	t.Helper()
	rep, err := ts.Fsck(context.Background(), repair)
	if err != nil {
		t.Fatalf("fsck (repair %v): %v", repair, err)
	}
	return rep
}

// reopenWith closes the store and opens it again with cfg changed.
func (ts *testStore) reopenWith(t testing.TB, mut func(*Config)) error {
	t.Helper()
	ts.Store.Close()
	cfg := ts.cfg
	mut(&cfg)
	s, err := Open(cfg, ts.meta)
	if err != nil {
		return err
	}
	ts.Store, ts.cfg = s, cfg
	t.Cleanup(func() { s.Close() })
	return nil
}

// segFilesIn lists the segment files of one directory.
func segFilesIn(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	return m
}

func TestFsckReportsAndRepairs(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	files := []testFile{putFile(t, ts, team, 31, 5*testBlockSize+3, 2*testBlockSize), putFile(t, ts, team, 32, 1000, 1000)}
	clean := ts.fsck(t, false)
	if !clean.OK() || clean.Blocks != 7 || clean.Shards != 70 || clean.Bad != 0 || clean.Orphans != 0 || clean.Records != 70 || clean.Segments != 10 {
		t.Fatalf("fsck of a clean store: %+v", clean)
	}
	e0 := ts.entryOf(t, team, files[0].blocks[0])
	e3 := ts.entryOf(t, team, files[0].blocks[3])
	flip(t, ts, e0, 1, headerSize+5)
	flip(t, ts, e3, 2, 20)
	flip(t, ts, e3, 8, headerSize+4000)

	for range 2 { // without repair, nothing changes
		rep := ts.fsck(t, false)
		if rep.OK() || rep.Bad != 3 || rep.Repaired != 0 || rep.Unrecoverable != 0 || rep.Blocks != 7 {
			t.Fatalf("fsck without repair: %+v, OK %v", rep, rep.OK())
		}
		if rep.Torn != 2 { // the flipped header no longer parses
			t.Fatalf("torn records %d, want 2", rep.Torn)
		}
	}
	if ts.repairs.Load() != 0 {
		t.Fatal("fsck without repair repaired")
	}
	rep := ts.fsck(t, true)
	if !rep.OK() || rep.Bad != 3 || rep.Repaired != 3 {
		t.Fatalf("fsck --repair: %+v, OK %v", rep, rep.OK())
	}
	if ts.repairs.Load() != 3 {
		t.Fatalf("repair counter %d, want 3", ts.repairs.Load())
	}
	again := ts.fsck(t, false)
	if !again.OK() || again.Bad != 0 || again.Blocks != 7 || again.Orphans != 0 {
		t.Fatalf("fsck after repair: %+v", again)
	}
	ts.checkFiles(t, files)

	// Damage beyond parity stays: fsck --repair cannot make it OK.
	for _, i := range []int{0, 5, 9} {
		flip(t, ts, ts.entryOf(t, team, files[1].blocks[0]), i, headerSize+1)
	}
	rep = ts.fsck(t, true)
	if rep.OK() || rep.Unrecoverable != 1 || len(rep.Damaged) != 1 || rep.Damaged[0] != files[1].blocks[0].Hash.Short() {
		t.Fatalf("fsck --repair with a lost block: %+v", rep)
	}
}

func TestFsckCountsOrphans(t *testing.T) {
	ts := openTestStore(t)
	team := chunktest.Team("A")
	putFile(t, ts, team, 33, 3*testBlockSize, testBlockSize)
	// An ingest never committed leaves records no index entry points at.
	in, err := ts.Ingest(context.Background(), team, 0, bytes.NewReader(chunktest.Data(34, 2*testBlockSize+10)))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Blocks) != 3 {
		t.Fatalf("%d blocks ingested", len(in.Blocks))
	}
	rep := ts.fsck(t, false)
	want := int64(3 * 10)
	wantBytes := 2*10*recordSize(int(shardLen(testBlockSize, 8))) + 10*recordSize(int(shardLen(10, 8)))
	if !rep.OK() || rep.Orphans != want || rep.OrphanBytes != wantBytes || rep.Records != 60 || rep.Blocks != 3 {
		t.Fatalf("report %+v: want %d orphans of %d bytes (and OK: orphans are not damage)", rep, want, wantBytes)
	}
}

func TestRebuildIndex(t *testing.T) {
	ts := openTestStore(t)
	ctx := context.Background()
	a, b := chunktest.Team("A"), chunktest.Team("B")
	rep := chunktest.Data(35, testBlockSize)
	files := []testFile{
		putFile(t, ts, a, 36, 4*testBlockSize+77, 3*testBlockSize/2),
		putFile(t, ts, a, 37, 1, 1),
		putFile(t, ts, b, 36, 4*testBlockSize+77, 3*testBlockSize/2), // same bytes, another team
		{a, slices.Concat(rep, rep, rep), nil},                       // one block three times
	}
	files[3].blocks = chunktest.Put(t, ts.env(), a, files[3].data, len(files[3].data))
	files = append(files, testFile{a, files[0].data, chunktest.Put(t, ts.env(), a, files[0].data, testBlockSize)}) // dedups
	lost := putFile(t, ts, a, 38, 100, 100)
	// A block whose records are all gone and one that lost too many.
	gone := putFile(t, ts, b, 39, 200, 200)
	// A shard damaged (the rebuilt entry lacks it) and a shard repaired
	// by a read (the new record must win over the damaged old one).
	flip(t, ts, ts.entryOf(t, a, files[0].blocks[1]), 4, headerSize+9)
	flip(t, ts, ts.entryOf(t, b, files[2].blocks[0]), 7, headerSize+9)
	ts.checkFiles(t, files[2:3])
	for _, i := range []int{0, 1, 2} {
		flip(t, ts, ts.entryOf(t, a, lost.blocks[0]), i, headerSize)
	}
	ge := ts.entryOf(t, b, gone.blocks[0])
	for i := range ge.Shards {
		flip(t, ts, ge, i, 0)
	}
	// An ingest never committed: indexed again, unreferenced.
	loose, err := ts.Ingest(ctx, a, 0, bytes.NewReader(chunktest.Data(40, testBlockSize+1)))
	if err != nil {
		t.Fatal(err)
	}
	// An ingest never committed that lost too many shards: dropped.
	wreck, err := ts.Ingest(ctx, b, 0, bytes.NewReader(chunktest.Data(41, 300)))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{3, 4, 5} {
		flip(t, ts, wreck.New[0], i, headerSize)
	}

	before := map[blockID]int64{}
	for _, l := range ts.indexed(t) {
		before[blockID{l.team, l.hash}] = l.e.Refs
	}
	refs := func(yield func(string, core.Hash)) error {
		for _, f := range append(slices.Clone(files), lost, gone) {
			for _, bl := range f.blocks {
				yield(f.team.TeamID, bl.Hash)
			}
		}
		return nil
	}
	cfg := ts.cfg
	if _, err := RebuildIndex(ctx, cfg, RebuildMeta{Store: ts.meta, Refs: refs}); !core.Is(err, core.Invalid) {
		t.Fatalf("rebuild over a live index: %v, want Invalid", err)
	}
	ts.Close()
	if err := ts.meta.DropBlockIndex(); err != nil {
		t.Fatal(err)
	}
	if n := len(ts.indexed(t)); n != 0 {
		t.Fatalf("%d entries left after dropping the index", n)
	}
	got, err := RebuildIndex(ctx, cfg, RebuildMeta{Store: ts.meta, Refs: refs})
	if err != nil {
		t.Fatal(err)
	}
	var nrefs int64
	for _, f := range append(slices.Clone(files), lost, gone) {
		nrefs += int64(len(f.blocks))
	}
	wantBlocks := int64(len(before)) - 1 /* gone */ + int64(len(loose.Blocks)) /* wreck dropped */
	if got.Blocks != wantBlocks || got.Unreferenced != int64(len(loose.Blocks)) || got.Dropped != 1 ||
		got.Unrecoverable != 1 || got.Damaged[0] != lost.blocks[0].Hash.Short() ||
		got.Missing != 1 || got.MissingBlocks[0] != gone.blocks[0].Hash.Short() ||
		got.Degraded != 1 || got.References != nrefs {
		t.Fatalf("rebuild report %+v; want %d blocks", got, wantBlocks)
	}
	if err := ts.reopenWith(t, func(*Config) {}); err != nil {
		t.Fatal(err)
	}
	after := map[blockID]int64{}
	for _, l := range ts.indexed(t) {
		after[blockID{l.team, l.hash}] = l.e.Refs
	}
	for k, n := range before {
		if k.hash == gone.blocks[0].Hash {
			continue
		}
		if m, ok := after[k]; !ok || m != n {
			t.Errorf("block %s: %d references after the rebuild (present %v), %d before", k.hash.Short(), m, ok, n)
		}
	}
	for _, bl := range loose.Blocks {
		if n, ok := after[blockID{a.TeamID, bl.Hash}]; !ok || n != 0 {
			t.Errorf("uncommitted block: present %v with %d references, want indexed at 0", ok, n)
		}
	}
	ts.checkFiles(t, files)
	// The degraded block was repaired by the read; fsck --repair finds the
	// lost block and nothing else, and no orphans but the wreck's records
	// and those superseded by repairs.
	fr := ts.fsck(t, true)
	if fr.Unrecoverable != 1 || fr.Bad != 3 || fr.Repaired != 0 {
		t.Fatalf("fsck after the rebuild: %+v", fr)
	}
}

func TestFsckRefillsReplacedDir(t *testing.T) {
	ts := openTestStore(t, func(c *Config) {
		c.Dirs = []string{t.TempDir(), t.TempDir(), t.TempDir()}
		c.DataShards, c.ParityShards = 2, 1
	})
	team := chunktest.Team("A")
	files := []testFile{putFile(t, ts, team, 42, 7*testBlockSize+5, 2*testBlockSize), putFile(t, ts, chunktest.Team("B"), 43, 3000, 3000)}
	nblocks := int64(len(ts.indexed(t)))
	ts.Close()
	lost := ts.cfg.Dirs[1]
	if err := os.RemoveAll(lost); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(lost, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := ts.reopenWith(t, func(*Config) {}); !core.Is(err, core.Unavailable) {
		t.Fatalf("open with an empty directory: %v, want Unavailable", err)
	}
	if err := ts.reopenWith(t, func(c *Config) { c.AllowReplaced = true }); err != nil {
		t.Fatal(err)
	}
	if ts.Store.dirs[1] != lost {
		t.Fatalf("the replacement took index of %v", ts.Store.dirs)
	}
	rep := ts.fsck(t, false)
	if rep.OK() || rep.Bad != nblocks || rep.Unrecoverable != 0 || !slices.Equal(rep.Replaced, []string{lost}) {
		t.Fatalf("fsck of a replaced directory: %+v", rep)
	}
	rep = ts.fsck(t, true)
	if !rep.OK() || rep.Repaired != nblocks {
		t.Fatalf("fsck --repair: %+v", rep)
	}
	if len(segFilesIn(lost)) == 0 {
		t.Fatal("fsck --repair wrote nothing into the replaced directory")
	}
	if again := ts.fsck(t, false); !again.OK() || again.Bad != 0 || again.Misplaced != 0 || again.Orphans != 0 {
		t.Fatalf("fsck after the refill: %+v", again)
	}
	// Full redundancy again: another directory, holding data shards, may
	// go.
	ts.Close()
	other := ts.cfg.Dirs[0]
	if err := os.RemoveAll(other); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(other, 0o700)
	if err := ts.reopenWith(t, func(c *Config) { c.AllowReplaced = true }); err != nil {
		t.Fatal(err)
	}
	ts.checkFiles(t, files)
}

func TestFsckMovesMisplacedShards(t *testing.T) {
	ts := openTestStore(t, func(c *Config) {
		c.Dirs = []string{t.TempDir(), t.TempDir(), t.TempDir()}
		c.DataShards, c.ParityShards = 2, 1
	})
	team := chunktest.Team("A")
	files := []testFile{putFile(t, ts, team, 44, 5*testBlockSize, 5*testBlockSize)}
	nblocks := int64(len(files[0].blocks))
	// A disk holding data shards dies under a running store: reads
	// rebuild its shards into the other directories.
	dead := ts.cfg.Dirs[1]
	if err := os.RemoveAll(dead); err != nil {
		t.Fatal(err)
	}
	ts.checkFiles(t, files)
	if ts.repairs.Load() != nblocks {
		t.Fatalf("%d repairs, want %d", ts.repairs.Load(), nblocks)
	}
	rep := ts.fsck(t, false)
	if rep.OK() || rep.Bad != 0 || rep.Misplaced != nblocks {
		t.Fatalf("fsck with shards crowded into two directories: %+v", rep)
	}
	// The disk is replaced; fsck --repair spreads the shards again.
	ts.Close()
	os.Mkdir(dead, 0o700)
	if err := ts.reopenWith(t, func(c *Config) { c.AllowReplaced = true }); err != nil {
		t.Fatal(err)
	}
	rep = ts.fsck(t, true)
	if !rep.OK() || rep.Misplaced != nblocks || rep.Moved != nblocks {
		t.Fatalf("fsck --repair: %+v", rep)
	}
	again := ts.fsck(t, false)
	if !again.OK() || again.Misplaced != 0 || again.Orphans != nblocks {
		t.Fatalf("fsck after moving: %+v (the moved shards' old copies are orphans)", again)
	}
	// A rebuilt index picks the moved copies, in their shards' natural
	// directory, over the old ones.
	ts.Close()
	if err := ts.meta.DropBlockIndex(); err != nil {
		t.Fatal(err)
	}
	refs := func(yield func(string, core.Hash)) error {
		for _, bl := range files[0].blocks {
			yield(team.TeamID, bl.Hash)
		}
		return nil
	}
	rr, err := RebuildIndex(context.Background(), ts.cfg, RebuildMeta{Store: ts.meta, Refs: refs})
	if err != nil || rr.Blocks != nblocks || rr.Degraded != 0 || rr.Unreferenced != 0 || rr.References != nblocks || rr.Records != 4*nblocks {
		t.Fatalf("rebuild: %+v, %v", rr, err)
	}
	if err := ts.reopenWith(t, func(*Config) {}); err != nil {
		t.Fatal(err)
	}
	if again := ts.fsck(t, false); !again.OK() || again.Misplaced != 0 || again.Orphans != nblocks {
		t.Fatalf("fsck after rebuilding the index: %+v", again)
	}
	ts.Close()
	if err := os.RemoveAll(ts.cfg.Dirs[0]); err != nil {
		t.Fatal(err)
	}
	if err := ts.reopenWith(t, func(c *Config) { c.AllowReplaced = true }); err != nil {
		t.Fatal(err)
	}
	ts.checkFiles(t, files)
}

func TestRebuildIndexAfterGeometryChange(t *testing.T) {
	ts := openTestStore(t)
	ctx := context.Background()
	team := chunktest.Team("A")
	data := chunktest.Data(45, 2*testBlockSize)
	// Stored at 8+2 but never committed, then again at 4+2.
	if _, err := ts.Ingest(ctx, team, 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := ts.reopenWith(t, func(c *Config) { c.DataShards, c.ParityShards = 4, 2 }); err != nil {
		t.Fatal(err)
	}
	files := []testFile{{team, data, chunktest.Put(t, ts.env(), team, data, len(data))}}
	ts.Close()
	if err := ts.meta.DropBlockIndex(); err != nil {
		t.Fatal(err)
	}
	refs := func(yield func(string, core.Hash)) error {
		for _, bl := range files[0].blocks {
			yield(team.TeamID, bl.Hash)
		}
		return nil
	}
	rr, err := RebuildIndex(ctx, ts.cfg, RebuildMeta{Store: ts.meta, Refs: refs})
	if err != nil || rr.Blocks != 2 || rr.Records != 2*(10+6) || rr.Unreferenced != 0 || rr.Degraded != 0 {
		t.Fatalf("rebuild: %+v, %v", rr, err)
	}
	if err := ts.reopenWith(t, func(*Config) {}); err != nil {
		t.Fatal(err)
	}
	for _, l := range ts.indexed(t) {
		if l.e.Data != 4 || l.e.Parity != 2 || l.e.Refs != 1 {
			t.Fatalf("rebuilt entry %d+%d with %d references, want the current 4+2 and 1", l.e.Data, l.e.Parity, l.e.Refs)
		}
	}
	ts.checkFiles(t, files)
	if rep := ts.fsck(t, false); !rep.OK() || rep.Orphans != 2*10 {
		t.Fatalf("fsck: %+v", rep)
	}
}
