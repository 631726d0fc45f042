package core

import (
	"context"
	"slices"
	"time"
)

// Activity types and states, MASV's literal values (§2.3 of the API
// reference).
const (
	ActivityUpload   = "package_upload_to_masv"
	ActivityDownload = "package_download_from_masv"
	ActivityLink     = "link_generation"

	StatePending   = "pending"
	StateStarted   = "started"
	StateComplete  = "complete"
	StateCancelled = "cancelled"
	StateError     = "error"
)

// Activity is one transfer as MASV's activities show it: a package's
// upload (pending at creation, started at its first file, complete at
// finalize, cancelled when deleted), a link (pending when added, started
// when opened, complete when a download through it completes) or a
// download (one per download token: pending when the link is opened,
// started at its first file or zip URL, complete when a client reports it
// finished and every file was served whole).
type Activity struct {
	ID          string `json:"id"`
	TeamID      string `json:"team_id"`
	Type        string `json:"type"`
	State       string `json:"state"`
	PackageID   string `json:"package_id"`
	LinkID      string `json:"link_id,omitempty"`
	TeamspaceID string `json:"teamspace_id,omitempty"`
	PortalID    string `json:"portal_id,omitempty"`
	// Email is whom the activity is about: the sender of an upload, the
	// recipient of a link or download (empty for direct links).
	Email    string `json:"email,omitempty"`
	ClientIP string `json:"client_ip,omitempty"`
	// Counted is set on a download once it was charged to its link's
	// access limit.
	Counted     bool                 `json:"counted,omitempty"`
	Extras      map[string]string    `json:"extras,omitempty"`
	Transitions []ActivityTransition `json:"transitions"`
	CreatedAt   time.Time            `json:"created_at"`
	UpdatedAt   time.Time            `json:"updated_at"`
}

// ActivityTransition is one change of an activity's state (MASV's
// activity events).
type ActivityTransition struct {
	State string    `json:"state"`
	At    time.Time `json:"at"`
}

// DownloadRecord is one file (or zip) request of a download: what was
// asked, what was sent, and to which address. Records are only ever
// added (each under its own key, so parallel ranges never conflict); what
// a download served is computed from them.
type DownloadRecord struct {
	ID         string    `json:"id"`
	ActivityID string    `json:"activity_id"`
	TeamID     string    `json:"team_id"`
	PackageID  string    `json:"package_id"`
	FileID     string    `json:"file_id"` // ZipID for the archive
	Name       string    `json:"name"`
	Offset     int64     `json:"offset"`
	Length     int64     `json:"length"`
	Bytes      int64     `json:"bytes"`
	Complete   bool      `json:"complete"` // every byte asked was sent
	ClientIP   string    `json:"client_ip"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"`
}

// ActivityQuery selects a team's activities (MASV's filters), newest
// first unless OldestFirst.
type ActivityQuery struct {
	TeamID         string
	Types          []string
	States         []string
	PackageID      string
	Teamspaces     []string
	Portals        []string
	CreatedAtStart time.Time
	CreatedAtEnd   time.Time
	Offset, Limit  int
	OldestFirst    bool
}

// Match reports whether a passes q's filters.
func (q *ActivityQuery) Match(a *Activity) bool {
	switch {
	case len(q.Types) > 0 && !slices.Contains(q.Types, a.Type),
		len(q.States) > 0 && !slices.Contains(q.States, a.State),
		q.PackageID != "" && a.PackageID != q.PackageID,
		len(q.Teamspaces) > 0 && !slices.Contains(q.Teamspaces, a.TeamspaceID),
		len(q.Portals) > 0 && !slices.Contains(q.Portals, a.PortalID),
		!q.CreatedAtStart.IsZero() && a.CreatedAt.Before(q.CreatedAtStart),
		!q.CreatedAtEnd.IsZero() && a.CreatedAt.After(q.CreatedAtEnd):
		return false
	}
	return true
}

// ActivityTx stores activities and the download records of downloads.
type ActivityTx interface {
	Activity(id string) (*Activity, error)
	PutActivity(a *Activity) error
	// Activities returns one page of the team's matching activities and
	// the number of matches.
	Activities(q ActivityQuery) ([]*Activity, int, error)
	AddDownloadRecord(d *DownloadRecord) error
	// DownloadRecords lists a download's records, oldest first.
	DownloadRecords(activityID string) ([]*DownloadRecord, error)
}

// transition moves a (new or stored) activity to state, recording when.
func (s *Service) transition(a *Activity, state string) {
	now := s.now()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	a.State, a.UpdatedAt = state, now
	a.Transitions = append(a.Transitions, ActivityTransition{State: state, At: now})
}

// moveActivity moves the stored activity id to state unless it is there
// already or past it (states only move forward: pending, started, then
// complete, cancelled or error). A missing id (records made before
// activities existed) is ignored.
func (s *Service) moveActivity(tx Tx, id, state string) error {
	if id == "" {
		return nil
	}
	a, err := tx.Activity(id)
	if Is(err, NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if stateRank(state) <= stateRank(a.State) {
		return nil
	}
	s.transition(a, state)
	return tx.PutActivity(a)
}

func stateRank(state string) int {
	switch state {
	case StatePending:
		return 1
	case StateStarted:
		return 2
	case StateComplete, StateCancelled, StateError:
		return 3
	}
	return 0
}

// ListActivities lists a team's activities (owner and admins).
func (s *Service) ListActivities(ctx context.Context, p *Principal, q ActivityQuery) ([]*Activity, int, error) {
	const op = "activity.list"
	var (
		out   []*Activity
		total int
	)
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := s.authorize(tx, op, p, q.TeamID, ActActivityList); err != nil {
			return err
		}
		var err error
		out, total, err = tx.Activities(q)
		return err
	})
	return out, total, Wrap(op, err)
}

// ActivityDetail is one activity with its download records.
type ActivityDetail struct {
	Activity  *Activity
	Downloads []*DownloadRecord
}

// GetActivity returns one activity of the team with its transitions and,
// for a download, its per-file records (owner and admins).
func (s *Service) GetActivity(ctx context.Context, p *Principal, teamID, id string) (*ActivityDetail, error) {
	const op = "activity.get"
	var out ActivityDetail
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := s.authorize(tx, op, p, teamID, ActActivityList); err != nil {
			return err
		}
		a, err := tx.Activity(id)
		if Is(err, NotFound) || (err == nil && a.TeamID != teamID) {
			return E(op, NotFound, "activity %s not found", id)
		}
		if err != nil {
			return err
		}
		out.Activity = a
		out.Downloads, err = tx.DownloadRecords(a.ID)
		return err
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &out, nil
}

// Span is the byte range [Off, End) of a file.
type Span struct {
	Off int64 `json:"o"`
	End int64 `json:"e"`
}

// maxSpans bounds the spans kept per file: beyond it the two closest are
// joined (the gap between them counts as unserved no longer, an
// approximation only a pathological client reaches).
const maxSpans = 256

// addSpan merges [off, end) into sorted, disjoint spans.
func addSpan(spans []Span, off, end int64) []Span {
	if end <= off {
		return spans
	}
	out := make([]Span, 0, len(spans)+1)
	in := Span{off, end}
	placed := false
	for _, sp := range spans {
		switch {
		case sp.End < in.Off:
			out = append(out, sp)
		case in.End < sp.Off:
			if !placed {
				out, placed = append(out, in), true
			}
			out = append(out, sp)
		default: // overlapping or touching
			in = Span{min(in.Off, sp.Off), max(in.End, sp.End)}
		}
	}
	if !placed {
		out = append(out, in)
	}
	for len(out) > maxSpans {
		best := 0
		for i := 1; i < len(out)-1; i++ {
			if out[i+1].Off-out[i].End < out[best+1].Off-out[best].End {
				best = i
			}
		}
		out[best].End = out[best+1].End
		out = append(out[:best+1], out[best+2:]...)
	}
	return out
}

// servedWhole reports whether spans cover [0, size).
func servedWhole(spans []Span, size int64) bool {
	return size == 0 && spans != nil || len(spans) > 0 && spans[0].Off == 0 && spans[0].End >= size
}

// servedBytes sums the spans' lengths.
func servedBytes(spans []Span) int64 {
	var n int64
	for _, sp := range spans {
		n += sp.End - sp.Off
	}
	return n
}

// servedSpans merges a download's records into the byte ranges served
// per file id (ZipID for the archive): a file is served whole when one
// span covers it, however many ranges, retries and resumptions it took.
// An empty file's request leaves an empty, non-nil list.
func servedSpans(recs []*DownloadRecord) map[string][]Span {
	out := map[string][]Span{}
	for _, r := range recs {
		out[r.FileID] = addSpan(append([]Span{}, out[r.FileID]...), r.Offset, r.Offset+r.Bytes)
	}
	return out
}

// BytesServed is how many distinct bytes a download's records served.
func BytesServed(recs []*DownloadRecord) int64 {
	var n int64
	for _, spans := range servedSpans(recs) {
		n += servedBytes(spans)
	}
	return n
}
