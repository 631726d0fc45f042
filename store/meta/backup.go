package meta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"haul/core"
)

// Backup writes a consistent snapshot of the whole metadata store (users,
// teams, keys, the signing keyring, file records and the block index) to w,
// in Badger's backup format. It runs while the store is in use.
func (db *DB) Backup(w io.Writer) error {
	_, err := db.bdb.Backup(w, 0)
	return core.Wrap("meta.backup", err)
}

// Restore loads a backup made by Backup into dir, which must not hold a
// metadata store yet, and returns the store opened.
func Restore(dir string, r io.Reader, logger *slog.Logger) (*DB, error) {
	const op = "meta.restore"
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, core.E(op, core.Exists, "%s is not empty: restore into a new, empty directory", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, core.Wrap(op, err)
	}
	db, err := open(dir, logger, nil)
	if err != nil {
		return nil, err
	}
	if err := db.bdb.Load(r, 256); err != nil {
		db.Close()
		return nil, &core.Error{Op: op, Kind: core.Invalid, Err: err, Msg: fmt.Sprintf("the backup could not be loaded: %v", err)}
	}
	if err := db.migrate(migrations[:]); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// SnapshotDir is where RunSnapshots writes into each data directory.
const SnapshotDir = "meta-snapshots"

// Snapshot writes a backup into dir/meta-snapshots/meta-<time>.bak
// (temporary file, fsync, rename, fsync of the directory) and keeps the
// keep newest snapshots there.
func (db *DB) Snapshot(dir string, keep int, now time.Time) (string, error) {
	const op = "meta.snapshot"
	sd := filepath.Join(dir, SnapshotDir)
	if err := os.MkdirAll(sd, 0o700); err != nil {
		return "", core.Wrap(op, err)
	}
	name := filepath.Join(sd, "meta-"+now.UTC().Format("20060102T150405.000Z")+".bak")
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", core.Wrap(op, err)
	}
	err = db.Backup(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return "", core.Wrap(op, err)
	}
	if d, err := os.Open(sd); err == nil {
		d.Sync()
		d.Close()
	}
	old, _ := filepath.Glob(filepath.Join(sd, "meta-*.bak"))
	sort.Strings(old)
	for len(old) > keep {
		os.Remove(old[0])
		old = old[1:]
	}
	return name, nil
}

// RunSnapshots writes a snapshot into every directory of dirs at start
// and then every interval, until ctx is done, so that losing the disk of
// the metadata store loses nothing but the changes since the last one.
func (db *DB) RunSnapshots(ctx context.Context, dirs []string, every time.Duration, keep int) {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, d := range dirs {
			if name, err := db.Snapshot(d, keep, time.Now()); err != nil {
				db.log.Error("metadata snapshot failed", "dir", d, "err", err)
			} else {
				db.log.Info("metadata snapshot written", "file", name)
			}
		}
		t.Reset(every)
	}
}
