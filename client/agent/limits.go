package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the agent's standing rate limits (limits.json): bytes a
// second, 0 for none; with a Schedule they apply only within it (MASV's
// rate-limit schedule: say, office hours), and transfers run free outside.
type Limits struct {
	Upload   int64     `json:"upload_bps"`
	Download int64     `json:"download_bps"`
	Schedule *Schedule `json:"schedule,omitempty"`
}

// Schedule is a weekly window: the days it covers and a start and end
// time of day (local time; End before Start spans midnight).
type Schedule struct {
	Days  [7]bool `json:"days"` // Sunday first, as time.Weekday
	Start int     `json:"start_minute"`
	End   int     `json:"end_minute"`
	Text  string  `json:"text"`
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// parseSchedule reads "mon-fri 09:00-18:00" or "sat,sun 00:00-24:00".
func parseSchedule(s string) (*Schedule, error) {
	days, hours, ok := strings.Cut(strings.TrimSpace(strings.ToLower(s)), " ")
	if !ok {
		return nil, usageErr("a schedule is DAYS HH:MM-HH:MM, e.g. \"mon-fri 09:00-18:00\" (got %q)", s)
	}
	sc := &Schedule{Text: s}
	day := func(name string) (int, error) {
		for i, d := range dayNames {
			if strings.HasPrefix(name, d) {
				return i, nil
			}
		}
		return 0, usageErr("unknown day %q in schedule %q (mon, tue, …, sun)", name, s)
	}
	for _, part := range strings.Split(days, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, err := day(from)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = day(to); err != nil {
				return nil, err
			}
		}
		for i := a; ; i = (i + 1) % 7 {
			sc.Days[i] = true
			if i == b {
				break
			}
		}
	}
	start, end, ok := strings.Cut(strings.TrimSpace(hours), "-")
	if !ok {
		return nil, usageErr("a schedule's hours are HH:MM-HH:MM (got %q)", hours)
	}
	var err error
	if sc.Start, err = minuteOf(start); err != nil {
		return nil, err
	}
	if sc.End, err = minuteOf(end); err != nil {
		return nil, err
	}
	return sc, nil
}

func minuteOf(hm string) (int, error) {
	h, m, ok := strings.Cut(hm, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || hh*60+mm > 24*60 {
		return 0, usageErr("%q is not a time of day HH:MM", hm)
	}
	return hh*60 + mm, nil
}

// active says whether t falls in the schedule.
func (s *Schedule) active(t time.Time) bool {
	if s == nil {
		return true
	}
	m := t.Hour()*60 + t.Minute()
	if s.Start <= s.End {
		return s.Days[t.Weekday()] && m >= s.Start && m < s.End
	}
	// Spans midnight: the evening belongs to its day, the morning to the day before.
	if m >= s.Start {
		return s.Days[t.Weekday()]
	}
	return m < s.End && s.Days[(t.Weekday()+6)%7]
}

// parseRate reads "50M" (bytes a second, SI: k, M, G; "MB" and "/s"
// allowed), "0" or "off" for none.
func parseRate(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(s), "/s"), "B")
	if t == "" || t == "0" || t == "off" || t == "none" {
		return 0, nil
	}
	mult := int64(1)
	switch t[len(t)-1] {
	case 'k', 'K':
		mult = 1e3
	case 'm', 'M':
		mult = 1e6
	case 'g', 'G':
		mult = 1e9
	}
	if mult > 1 {
		t = t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, usageErr("%q is not a rate: say 50M for 50 MB a second, or 0 for none", s)
	}
	return int64(f * float64(mult)), nil
}

func (a *App) limitsPath() string { return filepath.Join(a.Home, "limits.json") }

func (a *App) loadLimits() (Limits, error) {
	var l Limits
	b, err := os.ReadFile(a.limitsPath())
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, err
	}
	return l, json.Unmarshal(b, &l)
}

func (a *App) limits(_ context.Context, args []string) error {
	fs := a.flags("limits")
	up := fs.String("upload", "", "upload rate limit (50M: 50 MB a second; 0: none)")
	down := fs.String("download", "", "download rate limit")
	sched := fs.String("schedule", "", `apply the limits only within "DAYS HH:MM-HH:MM" (local time), or "off" for always`)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	l, err := a.loadLimits()
	if err != nil {
		return err
	}
	changed := false
	if *up != "" {
		if l.Upload, err = parseRate(*up); err != nil {
			return err
		}
		changed = true
	}
	if *down != "" {
		if l.Download, err = parseRate(*down); err != nil {
			return err
		}
		changed = true
	}
	switch *sched {
	case "":
	case "off", "always":
		l.Schedule, changed = nil, true
	default:
		if l.Schedule, err = parseSchedule(*sched); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		if err := writeFileAtomic(a.limitsPath(), mustJSON(l), 0o600); err != nil {
			return err
		}
	}
	show := func(bps int64) string {
		if bps == 0 {
			return "none"
		}
		return human(bps) + "/s"
	}
	when := "always"
	if l.Schedule != nil {
		when = "only " + l.Schedule.Text
	}
	fmt.Fprintf(a.Stdout, "Upload limit: %s\nDownload limit: %s\nApplies: %s\n", show(l.Upload), show(l.Download), when)
	return nil
}

// limiter is a rate limit shared by every connection of a transfer.
type limiter struct {
	rl    *rate.Limiter
	sched *Schedule
	now   func() time.Time
}

// newLimiter returns a limiter of bps bytes a second (nil: no limit).
func newLimiter(bps int64, sched *Schedule) *limiter {
	if bps <= 0 {
		return nil
	}
	burst := int(max(bps/10, 256<<10))
	return &limiter{rl: rate.NewLimiter(rate.Limit(bps), burst), sched: sched, now: time.Now}
}

// limiterFor is the limit of a transfer: the command's --limit-rate, else
// the standing limit of its direction.
func (a *App) limiterFor(flagRate string, upload bool) (*limiter, error) {
	if flagRate != "" {
		bps, err := parseRate(flagRate)
		return newLimiter(bps, nil), err
	}
	l, err := a.loadLimits()
	if err != nil {
		return nil, err
	}
	if upload {
		return newLimiter(l.Upload, l.Schedule), nil
	}
	return newLimiter(l.Download, l.Schedule), nil
}

// wait blocks until n bytes may pass.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil || !l.sched.active(l.now()) {
		return nil
	}
	for n > 0 {
		step := min(n, l.rl.Burst())
		if err := l.rl.WaitN(ctx, step); err != nil {
			return err
		}
		n -= step
	}
	return nil
}
