package meta

import (
	"fmt"

	"haul/core"
)

func (t *tx) Package(id string) (*core.Package, error) {
	return get[core.Package](t, "meta.Package", "package", key("pkg", id))
}

func (t *tx) PutPackage(p *core.Package) error {
	const op = "meta.PutPackage"
	if err := checkID(op, "id", p.ID); err != nil {
		return err
	}
	if err := checkID(op, "team_id", p.TeamID); err != nil {
		return err
	}
	old, err := prev[core.Package](t, op, key("pkg", p.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("pkg", p.ID), p, p.ID, packageEntries(old), packageEntries(p))
}

func (t *tx) TeamPackages(teamID string) ([]*core.Package, error) {
	ids := t.listed(prefix("pkg_team", teamID))
	return records[core.Package](t, "meta.TeamPackages", "package", "pkg", ids)
}

func packageEntries(p *core.Package) []entry {
	if p == nil {
		return nil
	}
	return []entry{{key: key("pkg_team", p.TeamID, p.ID)}}
}

func (t *tx) File(id string) (*core.File, error) {
	return get[core.File](t, "meta.File", "file", key("file", id))
}

func (t *tx) PutFile(f *core.File) error {
	const op = "meta.PutFile"
	if err := checkID(op, "id", f.ID); err != nil {
		return err
	}
	if err := checkID(op, "package_id", f.PackageID); err != nil {
		return err
	}
	old, err := prev[core.File](t, op, key("file", f.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("file", f.ID), f, f.ID, fileEntries(old), fileEntries(f))
}

func (t *tx) DeleteFile(id string) error {
	const op = "meta.DeleteFile"
	f, err := get[core.File](t, op, "file", key("file", id))
	if err != nil {
		return err
	}
	return t.remove(op, key("file", id), fileEntries(f))
}

func (t *tx) PackageFiles(packageID string) ([]*core.File, error) {
	ids := t.listed(prefix("file_pkg", packageID))
	return records[core.File](t, "meta.PackageFiles", "file", "file", ids)
}

func fileEntries(f *core.File) []entry {
	if f == nil {
		return nil
	}
	return []entry{{key: key("file_pkg", f.PackageID, f.ID)}}
}

// partKey orders an upload's parts by number: five digits cover S3's
// 10,000 parts.
func partKey(uploadID string, n int) []byte {
	return key("part", uploadID, fmt.Sprintf("%05d", n))
}

func checkPartNumber(op string, n int) error {
	if n < 1 || n > 99999 {
		return core.Invalidf(op, "part_number", "part number %d is out of range", n)
	}
	return nil
}

func (t *tx) Part(uploadID string, n int) (*core.Part, error) {
	const op = "meta.Part"
	if err := checkPartNumber(op, n); err != nil {
		return nil, err
	}
	return get[core.Part](t, op, "part", partKey(uploadID, n))
}

func (t *tx) PutPart(p *core.Part) error {
	const op = "meta.PutPart"
	if err := checkID(op, "upload_id", p.UploadID); err != nil {
		return err
	}
	if err := checkPartNumber(op, p.PartNumber); err != nil {
		return err
	}
	return t.put(op, partKey(p.UploadID, p.PartNumber), p, "", nil, nil)
}

func (t *tx) DeletePart(uploadID string, n int) error {
	const op = "meta.DeletePart"
	if err := checkPartNumber(op, n); err != nil {
		return err
	}
	return t.remove(op, partKey(uploadID, n), nil)
}

func (t *tx) UploadParts(uploadID string) ([]*core.Part, error) {
	const op = "meta.UploadParts"
	if err := checkID(op, "upload_id", uploadID); err != nil {
		return nil, err
	}
	var out []*core.Part
	err := each(t, op, prefix("part", uploadID), func(p *core.Part) bool {
		out = append(out, p)
		return true
	})
	return out, err
}
