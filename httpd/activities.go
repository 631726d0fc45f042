package httpd

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// ActivityResponse is MASV's activity object (§2.3), with haul's counters.
type ActivityResponse struct {
	ID          string            `json:"id"`
	TeamID      string            `json:"team_id"`
	Type        string            `json:"activity_type"`
	State       string            `json:"activity_state"`
	PackageID   string            `json:"package_id"`
	LinkID      string            `json:"link_id,omitempty"`
	TeamspaceID string            `json:"teamspace_id,omitempty"`
	PortalID    string            `json:"portal_id,omitempty"`
	Email       string            `json:"email,omitempty"`
	ClientIP    string            `json:"client_ip,omitempty"`
	Extras      map[string]string `json:"extras"`
	CreatedAt   Time              `json:"created_at"`
	UpdatedAt   Time              `json:"updated_at"`
}

// ActivityEventResponse is one state change of an activity.
type ActivityEventResponse struct {
	State     string `json:"activity_state"`
	CreatedAt Time   `json:"created_at"`
}

// DownloadRecordResponse is one file (or zip) request of a download.
type DownloadRecordResponse struct {
	ID        string `json:"id"`
	FileID    string `json:"file_id"`
	Name      string `json:"name"`
	Offset    int64  `json:"offset"`
	Length    int64  `json:"length"`
	Bytes     int64  `json:"bytes"`
	Complete  bool   `json:"complete"`
	ClientIP  string `json:"client_ip"`
	StartedAt Time   `json:"started_at"`
	EndedAt   Time   `json:"ended_at"`
}

func activityView(a *core.Activity) ActivityResponse {
	out := ActivityResponse{ID: a.ID, TeamID: a.TeamID, Type: a.Type, State: a.State, PackageID: a.PackageID, LinkID: a.LinkID,
		TeamspaceID: a.TeamspaceID, PortalID: a.PortalID, Email: a.Email, ClientIP: a.ClientIP, Extras: a.Extras,
		CreatedAt: Time(a.CreatedAt), UpdatedAt: Time(a.UpdatedAt)}
	if out.Extras == nil {
		out.Extras = map[string]string{}
	}
	return out
}

// listActivities is MASV's GET /v1.1/teams/{id}/activities with its
// filters: activity_states[], activity_types[], portals[], teamspaces[],
// package_id, created_at_start, created_at_end; sort=created_at for
// oldest first.
func (s *Server) listActivities(c *fiber.Ctx, p *core.Principal) error {
	const op = "activity.list"
	pg, page, err := listQuery(c, op)
	if err != nil {
		return err
	}
	q := core.ActivityQuery{TeamID: param(c, "team_id"), Types: queryList(c, "activity_types"), States: queryList(c, "activity_states"),
		Portals: queryList(c, "portals"), Teamspaces: queryList(c, "teamspaces"), PackageID: c.Query("package_id"),
		Offset: pg.Offset, Limit: pg.Limit, OldestFirst: pg.Sort == "created_at"}
	switch pg.Sort {
	case "", "created_at", "-created_at":
	default:
		return core.Invalidf(op, "sort", "activities sort by created_at (oldest first) or -created_at (newest first, the default); got %q", pg.Sort)
	}
	for _, v := range q.Types {
		switch v {
		case core.ActivityUpload, core.ActivityDownload, core.ActivityLink, "package_transfer_masv_to_cloud":
		default:
			return core.Invalidf(op, "activity_types", "unknown activity type %q: use package_upload_to_masv, package_download_from_masv or link_generation", v)
		}
	}
	for _, v := range q.States {
		switch v {
		case core.StatePending, core.StateStarted, core.StateComplete, core.StateCancelled, core.StateError:
		default:
			return core.Invalidf(op, "activity_states", "unknown activity state %q: use pending, started, complete, cancelled or error", v)
		}
	}
	for _, tf := range []struct {
		name string
		dst  *time.Time
	}{{"created_at_start", &q.CreatedAtStart}, {"created_at_end", &q.CreatedAtEnd}} {
		if v := c.Query(tf.name); v != "" {
			t, err := parseTime(v)
			if err != nil {
				return core.Invalidf(op, tf.name, "%s: %v", tf.name, err)
			}
			*tf.dst = t
		}
	}
	as, total, err := s.svc.ListActivities(c.UserContext(), p, q)
	if err != nil {
		return err
	}
	out := make([]ActivityResponse, 0, len(as))
	for _, a := range as {
		out = append(out, activityView(a))
	}
	return c.JSON(list(out, total, page, pg.Limit))
}

// ActivityDetailResponse is one activity with its download records and
// the distinct bytes they served.
type ActivityDetailResponse struct {
	ActivityResponse
	BytesServed int64                    `json:"bytes_served"`
	Downloads   []DownloadRecordResponse `json:"downloads"`
}

func (s *Server) getActivity(c *fiber.Ctx, p *core.Principal) error {
	d, err := s.svc.GetActivity(c.UserContext(), p, param(c, "team_id"), param(c, "activity_id"))
	if err != nil {
		return err
	}
	out := ActivityDetailResponse{ActivityResponse: activityView(d.Activity), BytesServed: core.BytesServed(d.Downloads),
		Downloads: []DownloadRecordResponse{}}
	for _, r := range d.Downloads {
		out.Downloads = append(out.Downloads, DownloadRecordResponse{ID: r.ID, FileID: r.FileID, Name: r.Name, Offset: r.Offset,
			Length: r.Length, Bytes: r.Bytes, Complete: r.Complete, ClientIP: r.ClientIP, StartedAt: Time(r.StartedAt), EndedAt: Time(r.EndedAt)})
	}
	return c.JSON(out)
}

// activityEvents is MASV's GET /v1/teams/{id}/activities/{aid}/events:
// the activity's state changes, oldest first.
func (s *Server) activityEvents(c *fiber.Ctx, p *core.Principal) error {
	d, err := s.svc.GetActivity(c.UserContext(), p, param(c, "team_id"), param(c, "activity_id"))
	if err != nil {
		return err
	}
	out := make([]ActivityEventResponse, 0, len(d.Activity.Transitions))
	for _, t := range d.Activity.Transitions {
		out = append(out, ActivityEventResponse{State: t.State, CreatedAt: Time(t.At)})
	}
	return c.JSON(out)
}
