package chunk

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
	"unsafe"
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
			return f, true, nil
		}
		if !errors.Is(err, syscall.EINVAL) {
			return nil, false, err
		}
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, false, err
	}
	return f, false, nil
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
