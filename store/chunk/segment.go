package chunk

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"haul/core"
)

// segName is the file name of segment seg of shard stream shard.
func segName(shard int, seg uint32) string { return fmt.Sprintf("s%03d-%08d.seg", shard, seg) }

// parseSegName reverses segName.
func parseSegName(name string) (shard int, seg uint32, ok bool) {
	if len(name) != len("s000-00000000.seg") || name[0] != 's' || name[4] != '-' || !strings.HasSuffix(name, ".seg") {
		return 0, 0, false
	}
	sh, err1 := strconv.Atoi(name[1:4])
	sg, err2 := strconv.ParseUint(name[5:13], 10, 32)
	if err1 != nil || err2 != nil || sh < 0 || sh > 255 {
		return 0, 0, false
	}
	return sh, uint32(sg), true
}

// stream is the append-only sequence of segments that holds shard index
// shard of the blocks placed in one data directory. Appends are serialised
// by mu; different streams are written in parallel.
type stream struct {
	fs      FS
	dir     string
	dirIdx  uint8
	shard   int
	maxSize int64
	direct  bool

	mu     sync.Mutex
	seg    uint32
	f      File
	off    int64 // where the next record goes
	dirty  bool  // written since the last sync
	isDir  bool  // f was opened with O_DIRECT
	synced uint64
	// failed is the error of an fsync that failed. The failed writeback
	// may have dropped any record appended before it, other ingests'
	// included, and the kernel reports the error once: a later fsync that
	// succeeds proves nothing for them. So the stream refuses every later
	// append and sync, and Store.stream replaces it with a fresh one.
	failed error
}

// openStream finds the newest segment of the stream and continues it at
// its end rounded up to the record alignment (a torn record at the tail,
// never acknowledged, is simply left behind).
func openStream(fsys FS, dir string, dirIdx uint8, shard int, maxSize int64, direct bool) (*stream, error) {
	s := &stream{fs: fsys, dir: dir, dirIdx: dirIdx, shard: shard, maxSize: maxSize, direct: direct}
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var last uint32
	found := false
	for _, e := range ents {
		if sh, sg, ok := parseSegName(e.Name()); ok && sh == shard && (!found || sg > last) {
			last, found = sg, true
		}
	}
	if !found {
		last = 1
	}
	return s, s.open(last)
}

func (s *stream) open(seg uint32) error {
	// A directory whose marker vanished is a disk unmounted under us: its
	// mount point is an empty directory on the root file system, which
	// must never be filled silently. Checked whenever a segment is opened
	// (start, rollover), which is rare.
	if _, err := s.fs.Stat(filepath.Join(s.dir, markerName)); err != nil {
		return fmt.Errorf("%w: %s has no %s marker (is its disk unmounted?)", errDirGone, s.dir, markerName)
	}
	f, isDirect, err := s.fs.OpenFile(filepath.Join(s.dir, segName(s.shard, seg)), os.O_RDWR|os.O_CREATE, 0o600, s.direct)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	// The directory entry of a new segment must be durable before any
	// record in it is acknowledged.
	if err := s.fs.SyncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.seg, s.off, s.isDir = f, seg, roundUp(st.Size()), isDirect
	return nil
}

// append writes one record (len a multiple of align, memory aligned) and
// returns where it went. It rolls over to a new segment when this one is
// full, syncing the old one first.
func (s *stream) append(rec []byte) (core.ShardLoc, error) {
	one := [1][]byte{rec}
	return s.appendV(one[:])
}

// appendV is append of a record given in pieces (a header page and the
// shard data, each aligned): one vector write where the file supports it.
// The caller keeps pieces alive and unchanged until appendV returns.
func (s *stream) appendV(pieces [][]byte) (core.ShardLoc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return core.ShardLoc{}, s.failed
	}
	if s.f == nil {
		return core.ShardLoc{}, errStreamClosed
	}
	size := 0
	for _, p := range pieces {
		size += len(p)
	}
	if s.off > 0 && s.off+int64(size) > s.maxSize {
		if err := s.syncLocked(); err != nil {
			return core.ShardLoc{}, err
		}
		if err := s.open(s.seg + 1); err != nil {
			return core.ShardLoc{}, err
		}
	}
	loc := core.ShardLoc{Dir: s.dirIdx, Seg: s.seg, Off: s.off}
	var err error
	switch vw, ok := s.f.(vectorWriter); {
	case len(pieces) == 1:
		_, err = s.f.WriteAt(pieces[0], s.off)
	case ok:
		_, err = vw.WriteVAt(pieces, s.off)
	default:
		_, err = s.f.WriteAt(bytes.Join(pieces, nil), s.off)
	}
	if err != nil {
		// Whatever part of the record reached the file is garbage: skip
		// past it so the next record starts on fresh, aligned space.
		s.off += int64(size)
		return core.ShardLoc{}, err
	}
	s.off += int64(size)
	s.dirty = true
	return loc, nil
}

// sync makes everything appended so far durable.
func (s *stream) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncLocked()
}

func (s *stream) syncLocked() error {
	if s.failed != nil {
		return s.failed
	}
	if s.f == nil {
		if s.dirty {
			return errStreamClosed
		}
		return nil
	}
	if !s.dirty {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		s.failed = err
		return err
	}
	s.dirty = false
	s.synced++
	// A segment removed from under us (by hand, or a disk swapped) would
	// swallow writes into an unlinked file: refuse to acknowledge them and
	// continue in a new segment.
	if err := s.ensureLinkedLocked(); err != nil {
		return err
	}
	return nil
}

// errDirGone reports a data directory that lost its marker while in use.
var errDirGone = errors.New("data directory unavailable")

// errStreamClosed reports a write or sync after the store was closed (haul
// stopping while a request was still writing): nothing is acknowledged.
var errStreamClosed = errors.New("the chunk store was closed")

// errSegmentGone reports writes that went to a segment file removed
// meanwhile.
var errSegmentGone = errors.New("segment file was removed while in use")

// ensureLinked rolls over to a new segment if the current file is gone.
func (s *stream) ensureLinked() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.ensureLinkedLocked()
	if errors.Is(err, errSegmentGone) {
		return nil // rolled over; nothing unacknowledged was lost
	}
	return err
}

func (s *stream) ensureLinkedLocked() error {
	if _, err := s.fs.Stat(filepath.Join(s.dir, segName(s.shard, s.seg))); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := s.open(s.seg + 1); err != nil {
		return err
	}
	return errSegmentGone
}

// isFailed reports whether an fsync of the stream failed.
func (s *stream) isFailed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed != nil
}

func (s *stream) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.syncLocked()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	return err
}

// segments lists the segment files of a directory, sorted by name.
func segments(fsys FS, dir string) ([]fs.DirEntry, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := ents[:0]
	for _, e := range ents {
		if _, _, ok := parseSegName(e.Name()); ok {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// ioError classifies an error of the file layer.
func ioError(op, dir string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, errDirGone) {
		return &core.Error{Op: op, Kind: core.Unavailable, Err: err,
			Msg: "a data directory of the appliance is unavailable (its disk may be unmounted); the operator must remount it, then retry"}
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &core.Error{Op: op, Kind: core.NoSpace, Err: err,
			Msg: "insufficient storage: the appliance's disk is full; the operator must free space or add a data directory, then retry"}
	}
	return &core.Error{Op: op, Kind: core.Internal, Err: err}
}
