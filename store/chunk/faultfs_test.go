package chunk

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// faultFS is a file layer for tests that injects the faults a disk and a
// power cut produce, over real files in temporary directories (through
// OSFS semantics; O_DIRECT is ignored and reported as not used).
//
// Durability model (stricter than any real file system, so that the
// store's fsync discipline is what keeps data):
//   - a write or truncate is durable only once a Sync of that file
//     completes after it; until then its pre-image is kept so that crash
//     can put the file back to its last synced content and size;
//   - a Sync that fails (injected EIO/ENOSPC) loses the writes it should
//     have made durable for good, as Linux does after a writeback error:
//     they stay visible to reads until the crash, and a later Sync that
//     succeeds does not bring them back (only writes made after it);
//   - a file created, renamed or removed is so only once SyncDir of its
//     directory completes; crash undoes entries never dir-synced (a file
//     whose creation was not dir-synced disappears, whatever its content).
//
// Faults: arm makes the Nth mutating operation (write, sync or create
// class) fail with a chosen error, optionally as a torn write (a prefix
// reaches the file), optionally sticky (every later matching operation
// fails too: a full disk), or be a crash point: from there on every
// operation fails (the process is dead) until crash is called, which
// reverts everything not durable, disarms, and lets a new "process" in.
type faultFS struct {
	stash string // where removed or replaced files wait for their SyncDir

	mu      sync.Mutex
	nodes   map[string]*fnode // known files by current path
	journal []*dirOp          // directory changes not yet dir-synced
	handles map[*faultFile]struct{}
	gen     int // bumped by crash: handles of an older generation are dead
	dead    bool
	seq     int

	arm   *fault
	seen  int64 // matching operations since arming
	fired int64 // how many times the armed fault fired
	// What the last crash undid: files whose content or size went back,
	// directory changes reverted.
	revertedFiles, undoneEntries int
	firedOp                      faultOp // the class of the operation it last fired on
	count                        [3]int64
}

// faultOp classifies mutating operations.
type faultOp uint8

const (
	opWrite  faultOp = 1 << iota // File.WriteAt, File.Truncate, O_TRUNC
	opSync                       // File.Sync, SyncDir
	opCreate                     // creating OpenFile, Rename, Remove
	opAny    = opWrite | opSync | opCreate
)

func (o faultOp) String() string {
	switch o {
	case opWrite:
		return "write"
	case opSync:
		return "sync"
	case opCreate:
		return "create"
	case opAny:
		return "any op"
	}
	return fmt.Sprintf("ops(%d)", uint8(o))
}

func (o faultOp) index() int {
	switch o {
	case opWrite:
		return 0
	case opSync:
		return 1
	}
	return 2
}

// fault is what to inject.
type fault struct {
	ops    faultOp // which operations count (opAny when zero)
	at     int64   // the at-th matching operation after arming fails (1 = the next)
	err    error   // returned error; errCrashed for crashes when nil
	torn   bool    // a failing write writes a prefix first
	tornN  int     // prefix length (len/2 when zero); clipped to len-1
	sticky bool    // once fired, every later matching operation fails too
	crash  bool    // the process dies at this operation
	after  bool    // with crash: the operation completes, then the process dies
}

var errCrashed = errors.New("faultfs: the process has crashed (simulated power cut)")

// fnode is the durability state of one file (an inode).
type fnode struct {
	path       string // current path (a stash path once removed)
	syncedSize int64
	undo       []undoRec // pre-images of changes not durable, oldest first
}

// undoRec restores bytes [off, off+n): old, then zeros (bytes that did not
// exist before the change read as zeros if the size comes back).
type undoRec struct {
	off  int64
	n    int64
	old  []byte
	lost bool // a failed sync dropped it: no later Sync makes it durable
}

type dirOpKind int

const (
	dirCreate dirOpKind = iota
	dirRename
	dirRemove
)

// dirOp is one directory change not yet made durable by SyncDir.
type dirOp struct {
	kind         dirOpKind
	from, to     string // paths (create: to; remove: from)
	node         *fnode
	stash        string // remove: where the file waits; rename: the replaced file
	replaced     *fnode
	fromOK, toOK bool // which directories were synced since
}

func newFaultFS(t testing.TB) *faultFS {
	return &faultFS{stash: t.TempDir(), nodes: map[string]*fnode{}, handles: map[*faultFile]struct{}{}}
}

var _ FS = (*faultFS)(nil)

// setFault arms f (replacing any armed fault); nil disarms.
func (ffs *faultFS) setFault(f *fault) {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	if f != nil && f.ops == 0 {
		f.ops = opAny
	}
	ffs.arm, ffs.seen, ffs.fired = f, 0, 0
}

// firedCount reports how often the armed fault fired.
func (ffs *faultFS) firedCount() int64 {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	return ffs.fired
}

// isDead reports whether a crash point has been reached.
func (ffs *faultFS) isDead() bool {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	return ffs.dead
}

// ops reports how many mutating operations of the class were attempted.
func (ffs *faultFS) ops(o faultOp) int64 {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	var n int64
	for _, c := range []faultOp{opWrite, opSync, opCreate} {
		if o&c != 0 {
			n += ffs.count[c.index()]
		}
	}
	return n
}

// check is called with mu held at the start of every operation: it fails
// everything once dead.
func (ffs *faultFS) check() error {
	if ffs.dead {
		return errCrashed
	}
	return nil
}

// decide is called with mu held before a mutating operation: it counts
// the operation and says whether (and how) the armed fault fires.
func (ffs *faultFS) decide(o faultOp) (*fault, error) {
	if ffs.dead {
		return nil, errCrashed
	}
	ffs.count[o.index()]++
	f := ffs.arm
	if f == nil || f.ops&o == 0 {
		return nil, nil
	}
	ffs.seen++
	if ffs.seen < f.at || (ffs.seen > f.at && !f.sticky) {
		return nil, nil
	}
	ffs.fired++
	ffs.firedOp = o
	if f.crash {
		ffs.dead = true
	}
	return f, nil
}

func (f *fault) error() error {
	if f.err != nil {
		return f.err
	}
	return errCrashed
}

// node returns the state of the file at path, creating it for a file the
// layer has not seen (taken as durable as it is).
func (ffs *faultFS) node(path string, size int64) *fnode {
	n := ffs.nodes[path]
	if n == nil {
		n = &fnode{path: path, syncedSize: size}
		ffs.nodes[path] = n
	}
	return n
}

func (ffs *faultFS) stashPath() string {
	ffs.seq++
	return filepath.Join(ffs.stash, fmt.Sprintf("stash-%06d", ffs.seq))
}

// OpenFile implements FS. Creating a file counts as a create operation,
// O_TRUNC of an existing file as a write.
func (ffs *faultFS) OpenFile(name string, flag int, perm fs.FileMode, direct bool) (File, bool, error) {
	name = filepath.Clean(name)
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	if err := ffs.check(); err != nil {
		return nil, false, err
	}
	_, statErr := os.Lstat(name)
	creating := flag&os.O_CREATE != 0 && errors.Is(statErr, fs.ErrNotExist)
	if creating {
		f, err := ffs.decide(opCreate)
		if err != nil {
			return nil, false, err
		}
		if f != nil && !(f.crash && f.after) {
			return nil, false, &fs.PathError{Op: "open", Path: name, Err: f.error()}
		}
	}
	of, err := os.OpenFile(name, flag&^os.O_TRUNC, perm)
	if err != nil {
		return nil, false, err
	}
	st, err := of.Stat()
	if err != nil {
		of.Close()
		return nil, false, err
	}
	var n *fnode
	if creating {
		n = &fnode{path: name}
		ffs.nodes[name] = n
		ffs.journal = append(ffs.journal, &dirOp{kind: dirCreate, to: name, node: n})
	} else {
		n = ffs.node(name, st.Size())
	}
	h := &faultFile{ffs: ffs, f: of, node: n, gen: ffs.gen}
	ffs.handles[h] = struct{}{}
	if flag&os.O_TRUNC != 0 && flag&(os.O_WRONLY|os.O_RDWR) != 0 && st.Size() > 0 {
		if err := h.truncateLocked(0); err != nil {
			delete(ffs.handles, h)
			of.Close()
			return nil, false, err
		}
	}
	return h, false, nil
}

func (ffs *faultFS) MkdirAll(name string, perm fs.FileMode) error {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	if err := ffs.check(); err != nil {
		return err
	}
	return os.MkdirAll(name, perm)
}

func (ffs *faultFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	if err := ffs.check(); err != nil {
		return nil, err
	}
	return os.ReadDir(name)
}

func (ffs *faultFS) Stat(name string) (fs.FileInfo, error) {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	if err := ffs.check(); err != nil {
		return nil, err
	}
	return os.Stat(name)
}

func (ffs *faultFS) Space(name string) (free, total int64, err error) {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	if err := ffs.check(); err != nil {
		return 0, 0, err
	}
	return OSFS{}.Space(name)
}

// Remove implements FS: the file waits in the stash until its directory
// is synced, so that a crash before can bring it back.
func (ffs *faultFS) Remove(name string) error {
	name = filepath.Clean(name)
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	var f *fault
	var err error
	if a := ffs.arm; a != nil && !a.crash && errors.Is(a.err, syscall.ENOSPC) {
		// Removing a file never needs space: a full disk lets it be.
		err = ffs.check()
		ffs.count[opCreate.index()]++
	} else {
		f, err = ffs.decide(opCreate)
	}
	if err != nil {
		return err
	}
	if f != nil && !(f.crash && f.after) {
		return &fs.PathError{Op: "remove", Path: name, Err: f.error()}
	}
	st, err := os.Lstat(name)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return os.Remove(name)
	}
	n := ffs.node(name, st.Size())
	sp := ffs.stashPath()
	if err := os.Link(name, sp); err != nil {
		return err
	}
	if err := os.Remove(name); err != nil {
		os.Remove(sp)
		return err
	}
	delete(ffs.nodes, name)
	n.path = sp
	ffs.journal = append(ffs.journal, &dirOp{kind: dirRemove, from: name, node: n, stash: sp})
	return nil
}

// Rename implements FS; a replaced target waits in the stash.
func (ffs *faultFS) Rename(from, to string) error {
	from, to = filepath.Clean(from), filepath.Clean(to)
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	f, err := ffs.decide(opCreate)
	if err != nil {
		return err
	}
	if f != nil && !(f.crash && f.after) {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: f.error()}
	}
	st, err := os.Lstat(from)
	if err != nil {
		return err
	}
	op := &dirOp{kind: dirRename, from: from, to: to, node: ffs.node(from, st.Size())}
	if tst, err := os.Lstat(to); err == nil && tst.Mode().IsRegular() {
		op.replaced = ffs.node(to, tst.Size())
		op.stash = ffs.stashPath()
		if err := os.Link(to, op.stash); err != nil {
			return err
		}
	}
	if err := os.Rename(from, to); err != nil {
		if op.stash != "" {
			os.Remove(op.stash)
		}
		return err
	}
	delete(ffs.nodes, from)
	op.node.path = to
	ffs.nodes[to] = op.node
	if op.replaced != nil {
		op.replaced.path = op.stash
	}
	ffs.journal = append(ffs.journal, op)
	return nil
}

// SyncDir implements FS: it makes the directory's entries durable.
func (ffs *faultFS) SyncDir(name string) error {
	name = filepath.Clean(name)
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	f, err := ffs.decide(opSync)
	if err != nil {
		return err
	}
	if f != nil && !(f.crash && f.after) {
		return &fs.PathError{Op: "fsync", Path: name, Err: f.error()}
	}
	if _, err := os.Stat(name); err != nil {
		return err
	}
	keep := ffs.journal[:0]
	for _, op := range ffs.journal {
		switch op.kind {
		case dirCreate:
			op.toOK = op.toOK || filepath.Dir(op.to) == name
			op.fromOK = true
		case dirRemove:
			op.fromOK = op.fromOK || filepath.Dir(op.from) == name
			op.toOK = true
		case dirRename:
			op.fromOK = op.fromOK || filepath.Dir(op.from) == name
			op.toOK = op.toOK || filepath.Dir(op.to) == name
		}
		if !op.fromOK || !op.toOK {
			keep = append(keep, op)
			continue
		}
		// Durable: a removed or replaced file is gone for good.
		if op.stash != "" {
			os.Remove(op.stash)
		}
	}
	clear(ffs.journal[len(keep):])
	ffs.journal = keep
	return nil
}

// crash simulates the power cut at the crash point (or now, if none was
// reached): every file goes back to its durable state, directory changes
// never dir-synced are undone, open files die, the fault is disarmed and
// a new process may use the layer.
func (ffs *faultFS) crash() error {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	for h := range ffs.handles {
		h.f.Close()
	}
	clear(ffs.handles)
	var errs []error
	ffs.revertedFiles, ffs.undoneEntries = 0, len(ffs.journal)
	seen := map[*fnode]bool{}
	revert := func(n *fnode) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		changed, err := n.revert()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		if changed {
			ffs.revertedFiles++
		}
	}
	for _, n := range ffs.nodes {
		revert(n)
	}
	for _, op := range ffs.journal {
		revert(op.node)
		revert(op.replaced)
	}
	for i := len(ffs.journal) - 1; i >= 0; i-- {
		op := ffs.journal[i]
		var err error
		switch op.kind {
		case dirCreate:
			if err = os.Remove(op.to); errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		case dirRemove:
			err = os.Rename(op.stash, op.from)
		case dirRename:
			err = os.Rename(op.to, op.from)
			if err == nil && op.stash != "" {
				err = os.Rename(op.stash, op.to)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("faultfs: undoing a directory change: %w", err))
		}
	}
	ffs.journal = nil
	ffs.nodes = map[string]*fnode{}
	ffs.gen++
	ffs.dead = false
	ffs.arm, ffs.seen, ffs.fired = nil, 0, 0
	return errors.Join(errs...)
}

// revert puts the file back to its durable content and size, and reports
// whether that changed anything.
func (n *fnode) revert() (bool, error) {
	f, err := os.OpenFile(n.path, os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	changed := len(n.undo) > 0 || st.Size() != n.syncedSize
	for i := len(n.undo) - 1; i >= 0; i-- {
		u := n.undo[i]
		b := make([]byte, u.n)
		copy(b, u.old)
		if _, err := f.WriteAt(b, u.off); err != nil {
			return changed, err
		}
	}
	n.undo = nil
	return changed, f.Truncate(n.syncedSize)
}

// synced records a completed Sync: pending changes are durable, and the
// regions they cover are no longer subject to lost writes' pre-images.
func (n *fnode) synced(size int64) {
	var lost []undoRec
	var pending []undoRec
	for _, u := range n.undo {
		if u.lost {
			lost = append(lost, u)
		} else {
			pending = append(pending, u)
		}
	}
	for _, p := range pending {
		var next []undoRec
		for _, u := range lost {
			next = append(next, u.minus(p.off, p.off+p.n)...)
		}
		lost = next
	}
	n.undo = lost
	n.syncedSize = size
}

// minus returns what is left of u outside [a, b).
func (u undoRec) minus(a, b int64) []undoRec {
	end := u.off + u.n
	if b <= u.off || a >= end {
		return []undoRec{u}
	}
	var out []undoRec
	part := func(lo, hi int64) {
		if lo >= hi {
			return
		}
		r := undoRec{off: lo, n: hi - lo, lost: u.lost}
		i, j := lo-u.off, hi-u.off
		if i < int64(len(u.old)) {
			r.old = u.old[i:min(j, int64(len(u.old)))]
		}
		out = append(out, r)
	}
	part(u.off, min(a, end))
	part(max(b, u.off), end)
	return out
}

// faultFile is an open file of a faultFS.
type faultFile struct {
	ffs  *faultFS
	f    *os.File
	node *fnode
	gen  int
}

func (h *faultFile) live() error {
	if h.ffs.dead || h.gen != h.ffs.gen {
		return errCrashed
	}
	return nil
}

func (h *faultFile) ReadAt(p []byte, off int64) (int, error) {
	h.ffs.mu.Lock()
	defer h.ffs.mu.Unlock()
	if err := h.live(); err != nil {
		return 0, err
	}
	return h.f.ReadAt(p, off)
}

func (h *faultFile) Stat() (fs.FileInfo, error) {
	h.ffs.mu.Lock()
	defer h.ffs.mu.Unlock()
	if err := h.live(); err != nil {
		return nil, err
	}
	return h.f.Stat()
}

// preImage records the bytes [off, off+n) hold now.
func (h *faultFile) preImage(off, n int64) error {
	st, err := h.f.Stat()
	if err != nil {
		return err
	}
	u := undoRec{off: off, n: n}
	if have := min(st.Size(), off+n) - off; have > 0 {
		u.old = make([]byte, have)
		if _, err := h.f.ReadAt(u.old, off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	h.node.undo = append(h.node.undo, u)
	return nil
}

func (h *faultFile) WriteAt(p []byte, off int64) (int, error) {
	h.ffs.mu.Lock()
	defer h.ffs.mu.Unlock()
	if err := h.live(); err != nil {
		return 0, err
	}
	f, err := h.ffs.decide(opWrite)
	if err != nil {
		return 0, err
	}
	if f != nil && !(f.crash && f.after) {
		n := 0
		if f.torn && len(p) > 1 {
			n = f.tornN
			if n <= 0 {
				n = len(p) / 2
			}
			n = min(n, len(p)-1)
			if err := h.preImage(off, int64(n)); err != nil {
				return 0, err
			}
			if n, err = h.f.WriteAt(p[:n], off); err != nil {
				return n, err
			}
		}
		return n, &fs.PathError{Op: "write", Path: h.node.path, Err: f.error()}
	}
	if err := h.preImage(off, int64(len(p))); err != nil {
		return 0, err
	}
	return h.f.WriteAt(p, off)
}

func (h *faultFile) Truncate(size int64) error {
	h.ffs.mu.Lock()
	defer h.ffs.mu.Unlock()
	if err := h.live(); err != nil {
		return err
	}
	f, err := h.ffs.decide(opWrite)
	if err != nil {
		return err
	}
	if f != nil && !(f.crash && f.after) {
		return &fs.PathError{Op: "truncate", Path: h.node.path, Err: f.error()}
	}
	return h.truncateLocked(size)
}

func (h *faultFile) truncateLocked(size int64) error {
	st, err := h.f.Stat()
	if err != nil {
		return err
	}
	lo, hi := min(size, st.Size()), max(size, st.Size())
	if err := h.preImage(lo, hi-lo); err != nil {
		return err
	}
	return h.f.Truncate(size)
}

// Sync implements File. It does not call fsync: durability is simulated.
func (h *faultFile) Sync() error {
	h.ffs.mu.Lock()
	defer h.ffs.mu.Unlock()
	if err := h.live(); err != nil {
		return err
	}
	f, err := h.ffs.decide(opSync)
	if err != nil {
		return err
	}
	if f != nil && !(f.crash && f.after) {
		if !f.crash {
			// A writeback error: what this sync should have written is
			// lost, though reads still see it until the crash.
			for i := range h.node.undo {
				h.node.undo[i].lost = true
			}
		}
		return &fs.PathError{Op: "sync", Path: h.node.path, Err: f.error()}
	}
	st, err := h.f.Stat()
	if err != nil {
		return err
	}
	h.node.synced(st.Size())
	return nil
}

// Close closes the file; it always releases the descriptor.
func (h *faultFile) Close() error {
	h.ffs.mu.Lock()
	defer h.ffs.mu.Unlock()
	if _, ok := h.ffs.handles[h]; !ok {
		return nil // closed already, or by the crash
	}
	delete(h.ffs.handles, h)
	return h.f.Close()
}

// TestFaultFS checks the layer's own model.
func TestFaultFS(t *testing.T) {
	dir := t.TempDir()
	ffs := newFaultFS(t)
	p := func(name string) string { return filepath.Join(dir, name) }
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(p(name))
		if errors.Is(err, fs.ErrNotExist) {
			return "<none>"
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	open := func(name string) File {
		t.Helper()
		f, direct, err := ffs.OpenFile(p(name), os.O_RDWR|os.O_CREATE, 0o600, true)
		must(err)
		if direct {
			t.Fatal("O_DIRECT reported as used")
		}
		return f
	}
	write := func(f File, s string, off int64) {
		t.Helper()
		_, err := f.WriteAt([]byte(s), off)
		must(err)
	}

	// Synced content and dir-synced creation survive; the rest goes.
	a := open("a")
	write(a, "hello", 0)
	must(a.Sync())
	must(ffs.SyncDir(dir))
	write(a, "HELLO world", 0)
	c := open("c")
	must(ffs.SyncDir(dir))
	write(c, "unsynced", 0)
	b := open("b") // never dir-synced
	write(b, "bee", 0)
	must(b.Sync())
	must(ffs.crash())
	if got := read("a"); got != "hello" {
		t.Fatalf("a = %q after the crash, want the synced %q", got, "hello")
	}
	if got := read("b"); got != "<none>" {
		t.Fatalf("b, created but never dir-synced, = %q after the crash", got)
	}
	if got := read("c"); got != "" {
		t.Fatalf("c, dir-synced but its data not, = %q after the crash", got)
	}
	if _, err := a.ReadAt(make([]byte, 1), 0); !errors.Is(err, errCrashed) {
		t.Fatalf("a handle from before the crash: %v", err)
	}

	// Renames and removes wait for SyncDir.
	a = open("a")
	must(ffs.Rename(p("a"), p("c")))
	must(ffs.Remove(p("c")))
	must(ffs.crash())
	if read("a") != "hello" || read("c") != "" {
		t.Fatalf("after undoing a rename over c and a removal: a=%q c=%q", read("a"), read("c"))
	}
	must(ffs.Rename(p("a"), p("d")))
	must(ffs.SyncDir(dir))
	must(ffs.crash())
	if read("a") != "<none>" || read("d") != "hello" {
		t.Fatalf("a dir-synced rename was undone: a=%q d=%q", read("a"), read("d"))
	}

	// A failed sync loses its writes for good, except what a later
	// successful sync covers; reads see them until the crash.
	d := open("d")
	write(d, "XXXXX", 0)
	ffs.setFault(&fault{ops: opSync, at: 1, err: syscall.EIO})
	if err := d.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("armed sync: %v", err)
	}
	ffs.setFault(nil)
	if read("d") != "XXXXX" {
		t.Fatal("a lost write is not visible before the crash")
	}
	write(d, "YY", 3)
	must(d.Sync())
	must(ffs.crash())
	if got := read("d"); got != "helYY" {
		t.Fatalf("d = %q, want %q (lost write reverted, later synced one kept)", got, "helYY")
	}

	// Torn writes, sticky faults, crash points.
	d = open("d")
	ffs.setFault(&fault{ops: opWrite, at: 2, err: syscall.ENOSPC, torn: true, sticky: true})
	write(d, "1", 0)
	if n, err := d.WriteAt([]byte("abcdef"), 5); n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("torn write: %d, %v", n, err)
	}
	if _, err := d.WriteAt([]byte("z"), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("sticky fault: %v", err)
	}
	if read("d") != "1elYYabc" {
		t.Fatalf("d = %q before the crash", read("d"))
	}
	ffs.setFault(&fault{ops: opSync, at: 1, crash: true})
	if err := d.Sync(); !errors.Is(err, errCrashed) {
		t.Fatalf("crash point: %v", err)
	}
	if _, err := ffs.Stat(p("d")); !errors.Is(err, errCrashed) {
		t.Fatalf("after the crash point: %v", err)
	}
	must(ffs.crash())
	if read("d") != "helYY" {
		t.Fatalf("d = %q after the crash", read("d"))
	}
	if _, err := ffs.Stat(p("d")); err != nil {
		t.Fatalf("the new process cannot use the layer: %v", err)
	}
}
