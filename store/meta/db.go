package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"haul/core"
)

var (
	_ core.Store = (*DB)(nil)
	_ core.Tx    = (*tx)(nil)
)

// maxAttempts bounds how many times Update runs its function when commits
// keep conflicting; past it the caller gets core.Conflict. Pauses between
// attempts are random, up to a ceiling that starts at minPause and doubles
// up to maxPause, so writers that collided spread out.
const (
	maxAttempts = 10
	minPause    = time.Millisecond
	maxPause    = 64 * time.Millisecond
)

// DB is the metadata store of one data directory. It is safe for concurrent
// use.
type DB struct {
	bdb *badger.DB
	dir string
	log *slog.Logger
}

// Open opens the metadata store in dir, creating the directory if missing,
// and brings its schema up to SchemaVersion. A nil logger discards logs.
func Open(dir string, logger *slog.Logger) (*DB, error) {
	return open(dir, logger, migrations[:])
}

// open is Open with the list of migrations as a parameter, so tests can
// run their own lists without changing package state.
func open(dir string, logger *slog.Logger, ms []migration) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("meta: create data directory: %w", err)
	}
	// Memory: Badger's defaults (64 MiB memtables ×5, a 256 MiB block
	// cache) would alone exceed the appliance's budget; metadata is small,
	// so these keep its resident share to a few tens of MiB.
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithMemTableSize(16 << 20).
		WithNumMemtables(3).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithValueLogFileSize(128 << 20).
		WithLogger(badgerLogger{logger.With("component", "badger")}).
		WithLoggingLevel(badger.WARNING)
	bdb, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("meta: open %s: %w", dir, err)
	}
	db := &DB{bdb: bdb, dir: dir, log: logger}
	if err := db.migrate(ms); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	return db, nil
}

// Close flushes and closes the store. No View or Update may run after it.
func (db *DB) Close() error {
	return core.Wrap("meta.Close", db.bdb.Close())
}

// View runs fn in a read-only snapshot. The Tx is valid only inside fn. An
// error returned by fn is returned unchanged.
func (db *DB) View(ctx context.Context, fn func(core.Tx) error) error {
	const op = "meta.View"
	if err := ctx.Err(); err != nil {
		return core.Wrap(op, err)
	}
	var fnErr error
	err := db.bdb.View(func(txn *badger.Txn) error {
		fnErr = fn(&tx{txn: txn})
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return core.Wrap(op, err)
}

// Update runs fn in a read-write transaction and commits it, synced, if fn
// returns nil. On a conflict it runs fn again in a fresh transaction (see
// retry). The Tx is valid only inside fn. An error returned by fn discards
// the transaction and is returned unchanged.
func (db *DB) Update(ctx context.Context, fn func(core.Tx) error) error {
	const op = "meta.Update"
	var fnErr error
	err := retry(ctx, op, func() error {
		return db.bdb.Update(func(txn *badger.Txn) error {
			fnErr = fn(&tx{txn: txn})
			return fnErr
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return core.Wrap(op, err)
}

// retry calls attempt until it returns something other than
// badger.ErrConflict, at most maxAttempts times, pausing between attempts
// (see maxAttempts). Writers that conflicted all read the same snapshot, so
// without the pauses they would collide again in lockstep. It checks ctx
// before every attempt. It returns the last error of attempt unchanged,
// a cancelled ctx as it is, or core.Conflict when the attempts run out.
func retry(ctx context.Context, op string, attempt func() error) error {
	for i := 1; ; i++ {
		if err := ctx.Err(); err != nil {
			return core.Wrap(op, err)
		}
		err := attempt()
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
		if i == maxAttempts {
			return &core.Error{Op: op, Kind: core.Conflict,
				Msg: "the metadata store is busy; try again", Err: err}
		}
		pause := time.NewTimer(rand.N(min(minPause<<(i-1), maxPause)))
		select {
		case <-ctx.Done():
			pause.Stop()
			return core.Wrap(op, ctx.Err())
		case <-pause.C:
		}
	}
}

// badgerLogger routes Badger's warnings and errors to slog and drops the
// rest, which is chatter about compactions and value log files.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(format string, args ...any) {
	l.log.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l badgerLogger) Warningf(format string, args ...any) {
	l.log.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
