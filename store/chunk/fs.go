package chunk

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FS is the file layer under the store. The store touches files only
// through it, so tests can put a layer that injects faults (lost unsynced
// writes, ENOSPC, EIO) underneath.
type FS interface {
	// OpenFile opens a file; direct asks for O_DIRECT, which the layer may
	// ignore (then it reports false).
	OpenFile(name string, flag int, perm fs.FileMode, direct bool) (File, bool, error)
	MkdirAll(name string, perm fs.FileMode) error
	ReadDir(name string) ([]fs.DirEntry, error)
	Remove(name string) error
	Rename(from, to string) error
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes a directory's entries (new and removed files) durable.
	SyncDir(name string) error
	// Space reports the free and total bytes of the file system holding name.
	Space(name string) (free, total int64, err error)
}

// File is an open file of an FS.
type File interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Close() error
	Stat() (fs.FileInfo, error)
	Truncate(size int64) error
}

// OSFS is the real file system.
type OSFS struct{}

// OpenFile opens name, with O_DIRECT when asked and the file system
// allows it (tmpfs, for one, does not: then it opens buffered).
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode, direct bool) (File, bool, error) {
	if direct {
		f, err := os.OpenFile(name, flag|syscall.O_DIRECT, perm)
		if err == nil {
			return osFile{f}, true, nil
		}
		if !errors.Is(err, syscall.EINVAL) {
			return nil, false, err
		}
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, false, err
	}
	return osFile{f}, false, nil
}

// vectorWriter is a File that writes several buffers at an offset in one
// call (pwritev), so a record's header page and its shard, which lives in
// the block buffer, need not be copied together first.
type vectorWriter interface {
	WriteVAt(bufs [][]byte, off int64) (int, error)
}

// osFile is an *os.File with vector writes.
type osFile struct{ *os.File }

// AdviseSequential tells the kernel the file will be read in order, so it
// reads further ahead (a hint: errors are ignored).
func (f osFile) AdviseSequential() {
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
}

// WriteVAt writes bufs contiguously at off (pwritev), retrying short
// writes. Up to four pieces go out without allocating.
func (f osFile) WriteVAt(bufs [][]byte, off int64) (int, error) {
	fd := f.Fd()
	total := 0
	for len(bufs) > 0 {
		var iov [4]unix.Iovec
		n := 0
		for n < len(bufs) && n < len(iov) {
			if len(bufs[n]) > 0 {
				iov[n].Base = &bufs[n][0]
			}
			iov[n].SetLen(len(bufs[n]))
			n++
		}
		w, _, errno := unix.Syscall6(unix.SYS_PWRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(n), uintptr(off), 0, 0)
		if errno != 0 {
			return total, errno
		}
		written := int(w)
		total += written
		off += int64(written)
		for written > 0 && len(bufs) > 0 {
			if written >= len(bufs[0]) {
				written -= len(bufs[0])
				bufs = bufs[1:]
				continue
			}
			rest := make([][]byte, len(bufs))
			copy(rest, bufs)
			rest[0] = rest[0][written:]
			bufs, written = rest, 0
		}
		if w == 0 && len(bufs) > 0 {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

func (OSFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }
func (OSFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (OSFS) Remove(name string) error                     { return os.Remove(name) }
func (OSFS) Rename(from, to string) error                 { return os.Rename(from, to) }
func (OSFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }

func (OSFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (OSFS) Space(name string) (free, total int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(name, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// alignedBuf returns n bytes whose address is a multiple of align, as
// O_DIRECT needs.
func alignedBuf(n int) []byte {
	b := make([]byte, n+align)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) & (align - 1)); r != 0 {
		skip = align - r
	}
	return b[skip : skip+n : skip+n]
}
