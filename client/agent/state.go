package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"haul/client"
)

// Transfer states.
const (
	StateRunning   = "running"
	StatePaused    = "paused"
	StateDone      = "done"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// Transfer is one upload or download as the agent remembers it: enough to
// resume after a crash, a kill or a pause.
type Transfer struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"` // upload or download
	Name    string    `json:"name"`
	Args    []string  `json:"args"`           // the command line, to resume it
	Dir     string    `json:"dir"`            // its working directory
	Dest    string    `json:"dest,omitempty"` // a download's folder
	State   string    `json:"state"`
	PID     int       `json:"pid"`
	Error   string    `json:"error,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`

	Server       string   `json:"server"`
	PackageID    string   `json:"package_id,omitempty"`
	PackageToken string   `json:"package_token,omitempty"`
	Links        []string `json:"links,omitempty"`
	Total        int64    `json:"total"`
	Done         int64    `json:"done"`

	Files map[string]*FileState `json:"files"`
}

// FileState is one file of a transfer.
type FileState struct {
	Size int64 `json:"size"`
	// ModTime is an upload's source modification time: a file changed
	// since it was (partly) sent is never resumed with old parts.
	ModTime time.Time `json:"mod_time,omitzero"`
	// Upload is the multipart upload of a file being sent.
	Upload *client.Upload `json:"upload,omitempty"`
	// Segments are a download's ranges already written (Segment bytes
	// each).
	Segments []bool `json:"segments,omitempty"`
	Complete bool   `json:"complete"`
	Digest   string `json:"digest,omitempty"`
}

func (a *App) transfersDir() string { return filepath.Join(a.Home, "transfers") }

// transferID names the transfer of a command by what it moves and where,
// so running the same command again finds it.
func transferID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:8])
}

func (a *App) loadTransfer(id string) (*Transfer, error) {
	b, err := os.ReadFile(filepath.Join(a.transfersDir(), id+".json"))
	if err != nil {
		return nil, err
	}
	var t Transfer
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("the state of transfer %s is damaged (%v): haul transfers forget %s, then start again", id, err, id)
	}
	if t.Files == nil {
		t.Files = map[string]*FileState{}
	}
	return &t, nil
}

func (a *App) listTransfers() ([]*Transfer, error) {
	entries, err := os.ReadDir(a.transfersDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Transfer
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(id, ".") {
			continue
		}
		if t, err := a.loadTransfer(id); err == nil {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// tracker is a running transfer: it saves the state (at most once a
// second unless forced) and watches the control file that `haul
// transfers pause|resume|cancel` writes.
type tracker struct {
	a    *App
	mu   sync.Mutex
	t    *Transfer
	last time.Time
	lock *os.File // flock held while this process owns the transfer
}

func (a *App) lockPath(id string) string { return filepath.Join(a.transfersDir(), "."+id+".lock") }

// lockTransfer takes the transfer's lock (an flock, released by the kernel
// when the process dies, so a reused PID never blocks a transfer).
func (a *App) lockTransfer(id string) (*os.File, error) {
	if err := os.MkdirAll(a.transfersDir(), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(a.lockPath(id), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errBusy
		}
		return nil, err
	}
	return f, nil
}

var errBusy = errors.New("the transfer is running in another process")

// running says whether a live process owns the transfer.
func (a *App) running(id string) bool {
	f, err := a.lockTransfer(id)
	if err != nil {
		return errors.Is(err, errBusy)
	}
	f.Close() // releases the lock
	return false
}

// begin loads the transfer id (or starts t as new), takes its lock and
// marks it running in this process. A transfer another live process owns
// is refused.
func (a *App) begin(t *Transfer) (*tracker, bool, error) {
	lock, err := a.lockTransfer(t.ID)
	if errors.Is(err, errBusy) {
		return nil, false, &Failure{Code: ExitUsage, Msg: fmt.Sprintf("transfer %s is running in another process: haul transfers pause %s or cancel %s, or wait", t.ID, t.ID, t.ID)}
	}
	if err != nil {
		return nil, false, err
	}
	old, err := a.loadTransfer(t.ID)
	resumed := false
	switch {
	case err == nil && old.State != StateDone && old.State != StateCancelled:
		old.Args, old.Dir = t.Args, t.Dir
		t, resumed = old, true
	case err == nil || errors.Is(err, os.ErrNotExist):
		t.Created = time.Now()
		if t.Files == nil {
			t.Files = map[string]*FileState{}
		}
	default:
		lock.Close()
		return nil, false, err
	}
	t.State, t.PID, t.Error = StateRunning, os.Getpid(), ""
	os.Remove(a.controlPath(t.ID))
	tr := &tracker{a: a, t: t, lock: lock}
	return tr, resumed, tr.save(true)
}

// save writes the state; unless force, at most once a second.
func (tr *tracker) save(force bool) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if !force && time.Since(tr.last) < time.Second {
		return nil
	}
	tr.last = time.Now()
	tr.t.Updated = tr.last
	return writeFileAtomic(filepath.Join(tr.a.transfersDir(), tr.t.ID+".json"), mustJSON(tr.t), 0o600)
}

// update changes the state under the lock, then saves it.
func (tr *tracker) update(force bool, f func(t *Transfer)) error {
	tr.mu.Lock()
	f(tr.t)
	tr.mu.Unlock()
	return tr.save(force)
}

// end records how the transfer ended.
func (tr *tracker) end(err error) {
	tr.update(true, func(t *Transfer) {
		switch {
		case err == nil:
			t.State = StateDone
		case classify(err).Code == ExitCancelled && t.State == StateCancelled:
		case classify(err).Code == ExitCancelled:
			t.State, t.Error = StatePaused, "interrupted"
		default:
			t.State, t.Error = StateFailed, classify(err).Error()
		}
		t.PID = 0
	})
	if tr.lock != nil {
		tr.lock.Close()
		tr.lock = nil
	}
}

func (a *App) controlPath(id string) string {
	return filepath.Join(a.transfersDir(), "."+id+".control")
}

// control reads a pending pause, resume or cancel request.
func (tr *tracker) control() string {
	b, _ := os.ReadFile(tr.a.controlPath(tr.t.ID))
	return strings.TrimSpace(string(b))
}

// errPaused stops a run that `haul transfers pause` paused.
var errPaused = errors.New("paused")

// supervise runs the transfer's work, restarting it after a pause (the
// work resumes from the saved state) and stopping it on cancel. What was
// asked is remembered here: a control file changed meanwhile (a resume
// racing the pause) never turns a pause into a failure.
func (tr *tracker) supervise(ctx context.Context, work func(ctx context.Context) error) error {
	for {
		runCtx, cancel := context.WithCancelCause(ctx)
		done := make(chan error, 1)
		go func() { done <- work(runCtx) }()
		tick := time.NewTicker(500 * time.Millisecond)
		asked := ""
		var err error
	wait:
		for {
			select {
			case err = <-done:
				break wait
			case <-tick.C:
				if asked != "" {
					continue
				}
				switch c := tr.control(); c {
				case "pause":
					asked = c
					cancel(errPaused)
				case "cancel":
					asked = c
					cancel(context.Canceled)
				}
			}
		}
		tick.Stop()
		cancel(nil)
		if err == nil {
			// Finished: a pause or cancel that came too late cannot undo
			// a delivery.
			os.Remove(tr.a.controlPath(tr.t.ID))
			return nil
		}
		switch asked {
		case "cancel":
			return tr.cancelled(ctx)
		case "pause":
			tr.update(true, func(t *Transfer) { t.State = StatePaused })
			for {
				c := tr.control()
				if c == "cancel" {
					return tr.cancelled(ctx)
				}
				if c != "pause" {
					break
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(500 * time.Millisecond):
				}
			}
			tr.update(true, func(t *Transfer) { t.State = StateRunning })
			continue
		}
		return err
	}
}

// cancelled ends a cancelled transfer: its half-done work is discarded.
func (tr *tracker) cancelled(ctx context.Context) error {
	os.Remove(tr.a.controlPath(tr.t.ID))
	tr.update(true, func(t *Transfer) { t.State = StateCancelled })
	if err := tr.a.discard(context.WithoutCancel(ctx), tr.t); err != nil {
		return fmt.Errorf("cancelled, but %w", err)
	}
	return &Failure{Code: ExitCancelled, Msg: "cancelled (haul transfers cancel): nothing half-sent is left", Err: context.Canceled}
}

func (a *App) transfers(ctx context.Context, args []string) error {
	fs := a.flags("transfers")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	verb := "list"
	if len(pos) > 0 {
		verb = pos[0]
	}
	if verb == "list" {
		ts, err := a.listTransfers()
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(a.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tKIND\tSTATE\tDONE\tNAME\tUPDATED")
		for _, t := range ts {
			state := t.State
			if (state == StateRunning || state == StatePaused) && !a.running(t.ID) {
				state = "interrupted"
			}
			pct := "-"
			if t.Total > 0 {
				pct = fmt.Sprintf("%d %%", t.Done*100/t.Total)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, state, pct, t.Name, t.Updated.Local().Format("2006-01-02 15:04"))
		}
		return w.Flush()
	}
	if len(pos) != 2 {
		return usageErr("usage: haul transfers %s ID", verb)
	}
	t, err := a.loadTransfer(pos[1])
	if errors.Is(err, os.ErrNotExist) {
		return &Failure{Code: ExitGone, Msg: "no transfer " + pos[1] + " (haul transfers lists them)"}
	}
	if err != nil {
		return err
	}
	// A live process owns the transfer (holds its lock) while it runs or
	// sits paused.
	running := a.running(t.ID)
	switch verb {
	case "pause", "cancel":
		if running {
			if err := writeFileAtomic(a.controlPath(t.ID), []byte(verb+"\n"), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "Asked process %d to %s transfer %s.\n", t.PID, verb, t.ID)
			return nil
		}
		if verb == "cancel" {
			return a.cancelStopped(ctx, t)
		}
		fmt.Fprintf(a.Stdout, "Transfer %s is not running (%s); haul transfers resume %s continues it.\n", t.ID, t.State, t.ID)
		return nil
	case "resume":
		if running {
			os.Remove(a.controlPath(t.ID))
			fmt.Fprintf(a.Stdout, "Transfer %s resumes in process %d.\n", t.ID, t.PID)
			return nil
		}
		if t.State == StateDone {
			fmt.Fprintf(a.Stdout, "Transfer %s is done.\n", t.ID)
			return nil
		}
		// Nobody runs it: run it here, from its saved command line.
		if len(t.Args) == 0 {
			return usageErr("transfer %s belongs to a watch: start the watch again to resume it", t.ID)
		}
		if t.Dir != "" {
			if err := os.Chdir(t.Dir); err != nil {
				return err
			}
		}
		return a.Run(ctx, t.Args)
	case "forget":
		if running {
			return usageErr("transfer %s is running: cancel it first", t.ID)
		}
		os.Remove(a.controlPath(t.ID))
		os.Remove(a.lockPath(t.ID))
		return os.Remove(filepath.Join(a.transfersDir(), t.ID+".json"))
	}
	return usageErr("haul transfers: unknown verb %q (list, pause, resume, cancel, forget)", verb)
}

// cancelStopped cancels a transfer no process runs.
func (a *App) cancelStopped(ctx context.Context, t *Transfer) error {
	if err := a.discard(ctx, t); err != nil {
		return err
	}
	t.State, t.PID = StateCancelled, 0
	if err := writeFileAtomic(filepath.Join(a.transfersDir(), t.ID+".json"), mustJSON(t), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "Transfer %s cancelled.\n", t.ID)
	return nil
}

// discard undoes a cancelled transfer: an upload's package is deleted
// (nothing half-sent stays on the server), a download's partial files
// removed.
func (a *App) discard(ctx context.Context, t *Transfer) error {
	if t.Kind == "upload" && t.PackageID != "" {
		cr, _ := a.credentials()
		hc, err := httpClient(cr.CA)
		if err != nil {
			return err
		}
		c := client.New(t.Server)
		c.HTTP = hc
		if err := c.DeletePackage(ctx, t.PackageToken, t.PackageID); err != nil && client.StatusOf(err) != 404 {
			return fmt.Errorf("deleting the half-sent package: %w", err)
		}
	}
	if t.Kind == "download" {
		for rel, f := range t.Files {
			if !f.Complete {
				os.Remove(filepath.Join(t.Dest, filepath.FromSlash(rel)+partSuffix))
			}
		}
	}
	return nil
}
