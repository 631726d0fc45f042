package meta

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"haul/core"
)

func TestBackupRestore(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	var h core.Hash
	h[3] = 7
	err := db.Update(ctx, func(tx core.Tx) error {
		if err := tx.PutTeam(&core.Team{ID: core.NewID(), Name: "Studio", Subdomain: "studio"}); err != nil {
			return err
		}
		if err := tx.PutSigningKeys([]core.SigningKey{{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}}); err != nil {
			return err
		}
		return tx.PutBlock("TEAM", h, &core.BlockEntry{Len: 5, Data: 1, Refs: 1, Shards: []core.ShardLoc{{Seg: 1}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := db.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(filepath.Join(t.TempDir(), "new"), &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	err = restored.View(ctx, func(tx core.Tx) error {
		keys, err := tx.SigningKeys()
		if err != nil || len(keys) != 1 || string(keys[0].Secret) != "0123456789abcdef0123456789abcdef" {
			t.Errorf("signing keys after restore: %+v, %v", keys, err)
		}
		if e, err := tx.Block("TEAM", h); err != nil || e.Len != 5 {
			t.Errorf("block index after restore: %+v, %v", e, err)
		}
		n := 0
		tx.Teams(func(*core.Team) bool { n++; return true })
		if n != 1 {
			t.Errorf("%d teams after restore", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := restored.SchemaVersion(); v != SchemaVersion {
		t.Errorf("schema version %d after restore, want %d", v, SchemaVersion)
	}
	if _, err := Restore(t.TempDir()+"/..", &buf, nil); !core.Is(err, core.Exists) {
		t.Errorf("restore into a non-empty dir: %v", err)
	}
}

func TestSnapshotsKeepNewest(t *testing.T) {
	db := openTest(t)
	dir := t.TempDir()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var last string
	for i := range 4 {
		name, err := db.Snapshot(dir, 2, base.Add(time.Duration(i)*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		last = name
	}
	m, _ := filepath.Glob(filepath.Join(dir, SnapshotDir, "*"))
	if len(m) != 2 || m[1] != last {
		t.Fatalf("snapshots kept: %v", m)
	}
	f, err := os.Open(last)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := Restore(filepath.Join(t.TempDir(), "r"), f, nil)
	if err != nil {
		t.Fatalf("a snapshot does not restore: %v", err)
	}
	r.Close()
}

func TestMigrationAddsTeamBlockKeys(t *testing.T) {
	dir := t.TempDir()
	old, err := open(dir, nil, migrations[:2])
	if err != nil {
		t.Fatal(err)
	}
	id := core.NewID()
	ctx := context.Background()
	if err := old.Update(ctx, func(tx core.Tx) error { return tx.PutTeam(&core.Team{ID: id, Name: "Old"}) }); err != nil {
		t.Fatal(err)
	}
	old.Close()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(ctx, func(tx core.Tx) error {
		tm, err := tx.Team(id)
		if err != nil || tm.BlockKey.IsZero() || tm.Name != "Old" {
			t.Errorf("after migration 3: %+v, %v", tm, err)
		}
		return nil
	})
}
