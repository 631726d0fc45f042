package meta

import (
	"slices"

	"haul/core"
)

func (t *tx) Link(id string) (*core.Link, error) {
	return get[core.Link](t, "meta.Link", "link", key("link", id))
}

func (t *tx) PutLink(l *core.Link) error {
	const op = "meta.PutLink"
	if err := checkID(op, "id", l.ID); err != nil {
		return err
	}
	if err := checkID(op, "package_id", l.PackageID); err != nil {
		return err
	}
	old, err := prev[core.Link](t, op, key("link", l.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("link", l.ID), l, l.ID, linkEntries(old), linkEntries(l))
}

func (t *tx) PackageLinks(packageID string) ([]*core.Link, error) {
	ids := t.listed(prefix("link_pkg", packageID))
	return records[core.Link](t, "meta.PackageLinks", "link", "link", ids)
}

func linkEntries(l *core.Link) []entry {
	if l == nil {
		return nil
	}
	return []entry{{key: key("link_pkg", l.PackageID, l.ID)}}
}

func (t *tx) Activity(id string) (*core.Activity, error) {
	return get[core.Activity](t, "meta.Activity", "activity", key("act", id))
}

func (t *tx) PutActivity(a *core.Activity) error {
	const op = "meta.PutActivity"
	if err := checkID(op, "id", a.ID); err != nil {
		return err
	}
	if err := checkID(op, "team_id", a.TeamID); err != nil {
		return err
	}
	old, err := prev[core.Activity](t, op, key("act", a.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("act", a.ID), a, a.ID, activityEntries(old), activityEntries(a))
}

func activityEntries(a *core.Activity) []entry {
	if a == nil {
		return nil
	}
	return []entry{{key: key("act_team", a.TeamID, a.ID)}}
}

// Activities scans the team's activity list (ids are ULIDs: key order is
// creation order) from the newest, loading each record to filter it.
func (t *tx) Activities(q core.ActivityQuery) ([]*core.Activity, int, error) {
	const op = "meta.Activities"
	if err := checkID(op, "team_id", q.TeamID); err != nil {
		return nil, 0, err
	}
	if q.Offset < 0 || q.Limit < 0 {
		return nil, 0, core.Invalidf(op, "page", "offset and limit must not be negative")
	}
	ids := t.listed(prefix("act_team", q.TeamID))
	if !q.OldestFirst {
		slices.Reverse(ids)
	}
	var (
		page  []*core.Activity
		total int
	)
	for _, id := range ids {
		a, err := get[core.Activity](t, op, "activity", key("act", id))
		if err != nil {
			return nil, 0, err
		}
		if !q.Match(a) {
			continue
		}
		total++
		if total <= q.Offset || (q.Limit > 0 && len(page) == q.Limit) {
			continue
		}
		page = append(page, a)
	}
	return page, total, nil
}

func (t *tx) AddDownloadRecord(d *core.DownloadRecord) error {
	const op = "meta.AddDownloadRecord"
	if err := checkID(op, "id", d.ID); err != nil {
		return err
	}
	if err := checkID(op, "activity_id", d.ActivityID); err != nil {
		return err
	}
	return t.put(op, key("dl", d.ActivityID, d.ID), d, d.ID, nil, nil)
}

func (t *tx) DownloadRecords(activityID string) ([]*core.DownloadRecord, error) {
	var out []*core.DownloadRecord
	err := each(t, "meta.DownloadRecords", prefix("dl", activityID), func(d *core.DownloadRecord) bool {
		out = append(out, d)
		return true
	})
	return out, err
}
