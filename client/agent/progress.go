package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// reporter shows a transfer's progress: bars on a terminal, a line every
// few seconds otherwise, or JSON events (--json), one object a line.
type reporter interface {
	begin(total int64, files int)
	fileStart(name string, size, already int64)
	add(name string, n int64)
	part(name string, part int, size int64, sent bool)
	fileDone(name, digest string)
	note(format string, args ...any)
	finish(summary map[string]any)
}

// newReporter picks the reporter for the output.
func (a *App) newReporter(jsonOut bool, verb string) reporter {
	switch {
	case jsonOut:
		return &jsonReporter{w: a.Stdout}
	case a.TTY:
		return newBarReporter(a.Stdout, verb)
	}
	return &lineReporter{w: a.Stdout, verb: verb, every: 5 * time.Second}
}

// human formats bytes in SI units (as disks are sold).
func human(n int64) string {
	f := float64(n)
	units := []string{"B", "KB", "MB", "GB", "TB", "PB"}
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// jsonReporter writes one JSON event a line: begin, file, progress (at
// most once a second), part, file_done, note, done.
type jsonReporter struct {
	mu    sync.Mutex
	w     io.Writer
	total int64
	done  atomic.Int64
	last  time.Time
}

func (r *jsonReporter) emit(ev map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(ev)
	r.w.Write(append(b, '\n'))
}

func (r *jsonReporter) begin(total int64, files int) {
	r.total = total
	r.emit(map[string]any{"event": "begin", "bytes": total, "files": files})
}

func (r *jsonReporter) fileStart(name string, size, already int64) {
	r.emit(map[string]any{"event": "file", "name": name, "size": size, "already": already})
}

func (r *jsonReporter) add(name string, n int64) {
	d := r.done.Add(n)
	r.mu.Lock()
	due := time.Since(r.last) >= time.Second
	if due {
		r.last = time.Now()
	}
	r.mu.Unlock()
	if due {
		r.emit(map[string]any{"event": "progress", "done": d, "bytes": r.total})
	}
}

func (r *jsonReporter) part(name string, part int, size int64, sent bool) {
	r.emit(map[string]any{"event": "part", "name": name, "part": part, "size": size, "sent": sent})
}

func (r *jsonReporter) fileDone(name, digest string) {
	r.emit(map[string]any{"event": "file_done", "name": name, "digest": digest})
}

func (r *jsonReporter) note(format string, args ...any) {
	r.emit(map[string]any{"event": "note", "message": fmt.Sprintf(format, args...)})
}

func (r *jsonReporter) finish(summary map[string]any) {
	summary["event"] = "done"
	r.emit(summary)
}

// lineReporter prints a progress line every few seconds and a line per
// finished file: for logs and pipes.
type lineReporter struct {
	mu      sync.Mutex
	w       io.Writer
	verb    string
	every   time.Duration
	total   int64
	done    int64
	files   int
	nDone   int
	start   time.Time
	last    time.Time
	samples []sample
}

type sample struct {
	at   time.Time
	done int64
}

func (r *lineReporter) begin(total int64, files int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total, r.files, r.start, r.last = total, files, time.Now(), time.Now()
	fmt.Fprintf(r.w, "%s %d file(s), %s\n", r.verb, files, human(total))
}

func (r *lineReporter) fileStart(string, int64, int64) {}

func (r *lineReporter) add(_ string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done += n
	now := time.Now()
	r.samples = append(r.samples, sample{now, r.done})
	for len(r.samples) > 2 && now.Sub(r.samples[0].at) > 20*time.Second {
		r.samples = r.samples[1:]
	}
	if now.Sub(r.last) < r.every {
		return
	}
	r.last = now
	fmt.Fprintln(r.w, r.line(now))
}

// line is "12.3 GB of 50.0 GB (24 %) · 310.0 MB/s · 2 min left · 3 of 120 files".
func (r *lineReporter) line(now time.Time) string {
	pct := int64(100)
	if r.total > 0 {
		pct = r.done * 100 / r.total
	}
	s := fmt.Sprintf("%s of %s (%d %%)", human(r.done), human(r.total), pct)
	if len(r.samples) > 1 {
		first := r.samples[0]
		if dt := now.Sub(first.at).Seconds(); dt > 0 {
			speed := float64(r.done-first.done) / dt
			s += fmt.Sprintf(" · %s/s", human(int64(speed)))
			if speed > 0 && r.total > r.done {
				s += " · " + left(time.Duration(float64(r.total-r.done)/speed*float64(time.Second)))
			}
		}
	}
	return s + fmt.Sprintf(" · %d of %d files", r.nDone, r.files)
}

func left(d time.Duration) string {
	switch {
	case d < 90*time.Second:
		return fmt.Sprintf("about %d s left", int(d.Seconds())+1)
	case d < 90*time.Minute:
		return fmt.Sprintf("about %d min left", int(d.Minutes()+0.5))
	}
	return fmt.Sprintf("about %.1f h left", d.Hours())
}

func (r *lineReporter) part(string, int, int64, bool) {}

func (r *lineReporter) fileDone(name, digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nDone++
	fmt.Fprintf(r.w, "done %s  %s\n", name, digest)
}

func (r *lineReporter) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, format+"\n", args...)
}

func (r *lineReporter) finish(summary map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, "%s in %s\n", human(r.done), time.Since(r.start).Round(time.Second))
}

// barReporter draws one bar per active file and a total with speed and
// time left (mpb), for a terminal.
type barReporter struct {
	mu    sync.Mutex
	p     *mpb.Progress
	total *mpb.Bar
	bars  map[string]*mpb.Bar
	verb  string
	w     io.Writer
}

func newBarReporter(w io.Writer, verb string) *barReporter {
	return &barReporter{p: mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(200*time.Millisecond)), bars: map[string]*mpb.Bar{}, verb: verb, w: w}
}

func (r *barReporter) begin(total int64, files int) {
	r.total = r.p.AddBar(total, mpb.BarPriority(1<<30),
		mpb.PrependDecorators(decor.Name(fmt.Sprintf("%s %d file(s) ", r.verb, files)), decor.Counters(decor.SizeB1000(0), "% .1f / % .1f")),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1000(0), " % .1f", decor.WCSyncSpace), decor.Name(" "), decor.AverageETA(decor.ET_STYLE_GO)))
}

func (r *barReporter) fileStart(name string, size, already int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.p.AddBar(size, mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Percentage()))
	b.SetCurrent(already)
	r.bars[name] = b
}

func (r *barReporter) add(name string, n int64) {
	r.mu.Lock()
	b := r.bars[name]
	r.mu.Unlock()
	for _, x := range []*mpb.Bar{b, r.total} {
		switch {
		case x == nil:
		case n < 0: // a failed try, sent again
			x.SetCurrent(x.Current() + n)
		default:
			x.IncrInt64(n)
		}
	}
}

func (r *barReporter) part(string, int, int64, bool) {}

func (r *barReporter) fileDone(name, _ string) {
	r.mu.Lock()
	b := r.bars[name]
	delete(r.bars, name)
	r.mu.Unlock()
	if b != nil {
		b.SetTotal(-1, true)
	}
}

func (r *barReporter) note(format string, args ...any) {
	fmt.Fprintf(r.p, format+"\n", args...)
}

func (r *barReporter) finish(map[string]any) {
	if r.total != nil {
		r.total.SetTotal(-1, true)
	}
	r.p.Wait()
}
