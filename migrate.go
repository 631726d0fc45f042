package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"haul/core"
	"haul/core/config"
	"haul/store/chunk"
	"haul/store/meta"
	"haul/store/s3chunk"
)

// migrateStore copies every block from one backend to the other (toS3:
// from the local chunk store into the S3 store that [storage.s3] names;
// else back), checks each one's bytes against its address (the team's
// keyed BLAKE3) before and after, and repoints its index entry; blocks
// already moved are skipped, so an interrupted run is resumed by running
// it again. The server must be stopped, and started with the new
// storage.backend once the command has finished.
func migrateStore(ctx context.Context, cfg config.Config, toS3 bool, stdout io.Writer, log *slog.Logger) error {
	s3c := cfg.Storage.S3
	if s3c.Bucket == "" || s3c.Region == "" {
		return fmt.Errorf("haul admin migrate-store: set [storage.s3] bucket and region (and endpoint, access_key, secret_key) in the configuration first")
	}
	db, err := meta.Open(filepath.Join(cfg.Server.DataDir, "meta"), log)
	if err != nil {
		return fmt.Errorf("%w (haul admin migrate-store needs the server stopped)", err)
	}
	defer db.Close()
	chunks, err := chunk.Open(chunkConfig(cfg, false, log), db)
	if err != nil {
		return err
	}
	defer chunks.Close()
	objects, err := s3chunk.Open(ctx, s3chunk.Config{Endpoint: s3c.Endpoint, Region: s3c.Region, Bucket: s3c.Bucket, Prefix: s3c.Prefix,
		AccessKey: s3c.AccessKey, SecretKey: s3c.SecretKey, PathStyle: s3c.PathStyle, InsecureSkipVerify: s3c.InsecureSkipVerify,
		BlockSize: chunks.BlockSize(), DataShards: cfg.Storage.DataShards, ParityShards: s3c.ParityShards, Logger: log}, db)
	if err != nil {
		return err
	}
	if objects.BlockSize() != chunks.BlockSize() {
		return fmt.Errorf("the bucket holds a store of %d-byte blocks, this one has %d: use another bucket or prefix", objects.BlockSize(), chunks.BlockSize())
	}
	type item struct {
		team string
		h    core.Hash
		n    int64
	}
	var todo []item
	done := 0
	keys := map[string]core.TeamKey{}
	err = db.View(ctx, func(tx core.Tx) error {
		return tx.Blocks(func(team string, h core.Hash, e *core.BlockEntry) bool {
			if s3chunk.IsObject(e) == toS3 {
				done++
				return true
			}
			todo = append(todo, item{team, h, e.Len})
			return true
		})
	})
	if err != nil {
		return err
	}
	err = db.View(ctx, func(tx core.Tx) error {
		for _, it := range todo {
			if _, ok := keys[it.team]; ok {
				continue
			}
			t, err := tx.Team(it.team)
			if err != nil {
				return fmt.Errorf("team %s of a stored block: %w", it.team, err)
			}
			keys[it.team] = core.TeamKeyOf(t)
		}
		return nil
	})
	if err != nil {
		return err
	}
	where := "to bucket " + s3c.Bucket
	if !toS3 {
		where = fmt.Sprintf("from bucket %s to %v", s3c.Bucket, cfg.ChunkDirs())
	}
	fmt.Fprintf(stdout, "Moving %d blocks %s (%d already there).\n", len(todo), where, done)
	start := time.Now()
	var moved, bytesMoved atomic.Int64
	var firstErr error
	var mu sync.Mutex
	jobs := make(chan item)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for it := range jobs {
				move := migrateBlock
				if !toS3 {
					move = migrateBack
				}
				if err := move(ctx, db, chunks, objects, keys[it.team], it.h, it.n, &buf); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				if m := moved.Add(1); m%1000 == 0 {
					fmt.Fprintf(stdout, "  %d of %d blocks moved\n", m, len(todo))
				}
				bytesMoved.Add(it.n)
			}
		}()
	}
	for _, it := range todo {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		jobs <- it
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("%w (%d blocks moved; run the same command again to continue)", firstErr, moved.Load())
	}
	fmt.Fprintf(stdout, "Moved %d blocks (%s) in %s; every one verified against its address.\n", moved.Load(), humanBytes(bytesMoved.Load()), time.Since(start).Round(time.Second))
	if toS3 {
		fmt.Fprintf(stdout, "Now set storage.backend = \"s3\" and start haul. The segment files under %v are no longer read: delete them once haul runs from S3.\n", cfg.ChunkDirs())
	} else {
		fmt.Fprintf(stdout, "Now set storage.backend = \"local\" and start haul. The objects in bucket %s are no longer read: delete them once haul runs from its disks.\n", s3c.Bucket)
	}
	return nil
}

// migrateBlock moves one block: read from the local store (shards
// checked, repaired from parity if needed), its address checked, written
// as an object, read back and checked, then the index entry repointed.
func migrateBlock(ctx context.Context, db *meta.DB, chunks *chunk.Store, objects *s3chunk.Store, tk core.TeamKey, h core.Hash, n int64, buf *bytes.Buffer) error {
	blk := []core.Block{{Hash: h, Off: 0, Len: n}}
	buf.Reset()
	if err := chunks.ReadRange(ctx, tk, blk, 0, n, buf); err != nil {
		return fmt.Errorf("reading block %s from the local store: %w (haul fsck --repair first)", h.Short(), err)
	}
	if got := addressOf(tk, buf.Bytes()); got != h {
		return fmt.Errorf("block %s reads back as %s from the local store: run haul fsck --repair first", h.Short(), got.Short())
	}
	moved, err := objects.PutBlock(ctx, tk.TeamID, h, buf.Bytes())
	if err != nil {
		return err
	}
	back, err := objects.ReadBlock(ctx, tk.TeamID, h, moved)
	if err != nil {
		return fmt.Errorf("reading block %s back from S3: %w", h.Short(), err)
	}
	if got := addressOf(tk, back); got != h {
		return fmt.Errorf("block %s reads back from S3 as %s: check the object store", h.Short(), got.Short())
	}
	return db.Update(ctx, func(tx core.Tx) error {
		e, err := tx.Block(tk.TeamID, h)
		if err != nil {
			return err
		}
		if s3chunk.IsObject(e) {
			return nil
		}
		moved.Refs = e.Refs
		return tx.PutBlock(tk.TeamID, h, moved)
	})
}

// migrateBack moves one block from S3 to the local store: read from the
// object store (its CRC-32 checked), its address checked, written as
// fresh records, read back and checked, then the index entry repointed
// (its references kept).
func migrateBack(ctx context.Context, db *meta.DB, chunks *chunk.Store, objects *s3chunk.Store, tk core.TeamKey, h core.Hash, n int64, buf *bytes.Buffer) error {
	blk := []core.Block{{Hash: h, Off: 0, Len: n}}
	buf.Reset()
	if err := objects.ReadRange(ctx, tk, blk, 0, n, buf); err != nil {
		return fmt.Errorf("reading block %s from S3: %w", h.Short(), err)
	}
	if got := addressOf(tk, buf.Bytes()); got != h {
		return fmt.Errorf("block %s reads back from S3 as %s: the object is damaged", h.Short(), got.Short())
	}
	e, err := chunks.PutBlock(ctx, tk.TeamID, h, buf.Bytes())
	if err != nil {
		return err
	}
	// The fresh records are read back and checked against the address
	// before the index names them.
	if _, err := chunks.CheckBlock(tk, h, e); err != nil {
		return fmt.Errorf("reading block %s back from the local store: %w (check the disks, then run the same command again)", h.Short(), err)
	}
	return db.Update(ctx, func(tx core.Tx) error {
		cur, err := tx.Block(tk.TeamID, h)
		if err != nil {
			return err
		}
		if !s3chunk.IsObject(cur) {
			return nil
		}
		e.Refs = cur.Refs
		return tx.PutBlock(tk.TeamID, h, e)
	})
}

// addressOf is a block's address: the team's keyed BLAKE3 of its bytes.
func addressOf(tk core.TeamKey, b []byte) core.Hash {
	hs := chunk.KeyedHasher(tk)
	hs.Write(b)
	var h core.Hash
	hs.Sum(h[:0])
	return h
}

// humanBytes formats n in SI units.
func humanBytes(n int64) string {
	f, units := float64(n), []string{"B", "KB", "MB", "GB", "TB", "PB"}
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
