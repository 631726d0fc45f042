package meta

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

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
