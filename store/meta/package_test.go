package meta

import (
	"fmt"
	"testing"

	"haul/core"
)

func TestPackageFilePart(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	team := core.NewID()
	p1 := &core.Package{ID: core.NewID(), TeamID: team, Name: "a", State: core.PackageNew, Recipients: []string{"x@y.example"}, CreatedAt: when, UpdatedAt: when, Expiry: when}
	p2 := &core.Package{ID: core.NewID(), TeamID: team, Name: "b", State: core.PackageNew, CreatedAt: when, UpdatedAt: when, Expiry: when}
	f1 := &core.File{ID: core.NewID(), PackageID: p1.ID, TeamID: team, Kind: "file", Name: "x", Size: -1, ChunkSize: 5 << 20, State: core.FileNew, UploadID: core.NewID(), CreatedAt: when}
	f2 := &core.File{ID: core.NewID(), PackageID: p1.ID, TeamID: team, Kind: "file", Name: "y", Size: 3, State: core.FileFinalized,
		Blocks: []core.Block{{Hash: core.SHA256("y"), Off: 0, Len: 3}}, Digest: core.SHA256("digest"), CreatedAt: when}
	update(t, db, func(tx core.Tx) error {
		for _, p := range []*core.Package{p1, p2} {
			if err := tx.PutPackage(p); err != nil {
				return err
			}
		}
		for _, f := range []*core.File{f1, f2} {
			if err := tx.PutFile(f); err != nil {
				return err
			}
		}
		// Parts out of order, with numbers whose text order differs from
		// their numeric order without padding.
		for _, n := range []int{10, 2, 10000, 1} {
			pt := &core.Part{UploadID: f1.UploadID, FileID: f1.ID, PartNumber: n, Size: int64(n), ETag: fmt.Sprint(n),
				Blocks: []core.Block{{Hash: core.SHA256(fmt.Sprint(n)), Len: int64(n)}}, CreatedAt: when}
			if err := tx.PutPart(pt); err != nil {
				return err
			}
		}
		// Another upload's part must not show in f1's list.
		return tx.PutPart(&core.Part{UploadID: core.NewID(), PartNumber: 1, CreatedAt: when})
	})
	view(t, db, func(tx core.Tx) error {
		got, err := tx.Package(p1.ID)
		if err != nil {
			return err
		}
		wantEqual(t, got, p1)
		ps, err := tx.TeamPackages(team)
		if err != nil {
			return err
		}
		wantEqual(t, ps, []*core.Package{p1, p2})
		fs, err := tx.PackageFiles(p1.ID)
		if err != nil {
			return err
		}
		wantEqual(t, fs, []*core.File{f1, f2})
		parts, err := tx.UploadParts(f1.UploadID)
		if err != nil {
			return err
		}
		var nums []int
		for _, p := range parts {
			nums = append(nums, p.PartNumber)
		}
		if fmt.Sprint(nums) != "[1 2 10 10000]" {
			t.Errorf("UploadParts order = %v", nums)
		}
		pt, err := tx.Part(f1.UploadID, 10)
		if err != nil || pt.ETag != "10" {
			t.Errorf("Part 10 = %+v, %v", pt, err)
		}
		_, err = tx.Part(f1.UploadID, 3)
		wantKind(t, err, core.NotFound)
		_, err = tx.Part(f1.UploadID, 0)
		wantKind(t, err, core.Invalid)
		return nil
	})
	update(t, db, func(tx core.Tx) error { return tx.DeletePart(f1.UploadID, 2) })
	view(t, db, func(tx core.Tx) error {
		parts, err := tx.UploadParts(f1.UploadID)
		if err != nil || len(parts) != 3 {
			t.Errorf("after delete: %d parts, %v", len(parts), err)
		}
		_, err = tx.Package(core.NewID())
		wantKind(t, err, core.NotFound)
		_, err = tx.File(core.NewID())
		wantKind(t, err, core.NotFound)
		return nil
	})
}
