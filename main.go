// Command haul is a self-hosted appliance for sending and receiving very
// large files. One binary: the server (haul serve), its operator's tools
// (haul admin), and the agent (login, upload, download, watch, transfers,
// limits; package client/agent).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // time zone names work on hosts without tzdata

	"haul/client/agent"
	"haul/core"
	"haul/core/config"
	"haul/core/notify"
	"haul/httpd"
	"haul/store/chunk"
	"haul/store/meta"
	"haul/store/s3chunk"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `haul: send and receive very large files.

Usage:
  haul serve   [--config FILE] [--listen ADDR] [--data DIR]   run the appliance
  haul admin   <command> [--config FILE] [--data DIR] ...      operate on a stopped server's data
  haul fsck    [--repair] [--rebuild-index] [--data DIR]      verify every stored block (server stopped)
  haul tls ca  [--data DIR]                                    print the local CA's certificate (tls.mode = "self_signed") for clients to trust
  haul version                                                 print the version

Admin commands (run them while the server is stopped):
  haul admin reset-password --email EMAIL [--password PW]      set a user's password (generated if omitted)
  haul admin create-team --name NAME --owner-email EMAIL [--owner-password PW]
  haul admin list-users                                        list users and their teams
  haul admin rotate-keys                                       new signing key; old signatures stay valid until they expire
  haul admin backup FILE|DIR                                   metadata backup (online through the running server, or offline)
  haul admin restore FILE                                      load a backup into a data directory without metadata
  haul admin migrate-store [--to s3|local]                     move the blocks between the local disks and the S3 bucket of [storage.s3] (resumable, every block verified)

Configuration: a TOML file (see config.example.toml); every key can also be
set as HAUL_<SECTION>_<KEY>, e.g. HAUL_SERVER_LISTEN=:9000.
`

func main() {
	if len(os.Args) > 1 && agent.IsCommand(os.Args[1]) {
		// The agent has exit codes of its own (haul help lists them).
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := agent.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "haul:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage+"\n"+agent.Usage())
		return nil
	}
	if agent.IsCommand(args[0]) {
		if code := agent.Main(context.Background(), args, stdout, stderr); code != 0 {
			return fmt.Errorf("%s failed (exit code %d)", args[0], code)
		}
		return nil
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "admin":
		return admin(args[1:], stdout, stderr)
	case "fsck":
		return fsck(args[1:], stdout, stderr)
	case "tls":
		return tlsCommand(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "haul", version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage+"\n"+agent.Usage())
		return nil
	}
	return fmt.Errorf("unknown command %q; run haul with no arguments for usage", args[0])
}

// dataFlags are the flags every command on a data directory takes.
type dataFlags struct {
	config, listen, data string
}

func (d *dataFlags) register(fs *flag.FlagSet, withListen bool) {
	fs.StringVar(&d.config, "config", "", "configuration file (TOML)")
	fs.StringVar(&d.data, "data", "", "data directory (overrides server.data_dir)")
	if withListen {
		fs.StringVar(&d.listen, "listen", "", "listen address (overrides server.listen)")
	}
}

func (d *dataFlags) load() (config.Config, error) {
	cfg, err := config.Load(d.config, os.Environ())
	if err != nil {
		return cfg, err
	}
	if d.data != "" {
		cfg.Server.DataDir = d.data
	}
	if d.listen != "" {
		cfg.Server.Listen = d.listen
	}
	return cfg, cfg.Validate()
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(httpd.LogHandler(h))
}

// appliance is the opened data directory and the service over it.
type appliance struct {
	db      *meta.DB
	chunks  *chunk.Store   // storage.backend = "local"
	objects *s3chunk.Store // storage.backend = "s3"
	svc     *core.Service
}

// close closes the chunk store, then the metadata store.
func (a *appliance) close() error {
	var err error
	if a.chunks != nil {
		err = a.chunks.Close()
	}
	if a.objects != nil {
		err = a.objects.Close()
	}
	if cerr := a.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// chunkConfig is the chunk store's configuration.
func chunkConfig(cfg config.Config, allowReplaced bool, log *slog.Logger) chunk.Config {
	return chunk.Config{
		Dirs: cfg.ChunkDirs(), BlockSize: int64(cfg.Storage.BlockSize),
		DataShards: cfg.Storage.DataShards, ParityShards: cfg.Storage.ParityShards,
		AllowReplaced: allowReplaced, Logger: log,
		MetaDir: filepath.Join(cfg.Server.DataDir, "meta"),
	}
}

// openOptions vary how a command opens the data directory.
type openOptions struct {
	// allowReplaced accepts empty replacement data directories (fsck --repair).
	allowReplaced bool
}

func open(ctx context.Context, cfg config.Config, log *slog.Logger, opts openOptions) (*appliance, error) {
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	db, err := meta.Open(filepath.Join(cfg.Server.DataDir, "meta"), log)
	if err != nil {
		return nil, err
	}
	keys, err := core.LoadKeyring(ctx, db, time.Now())
	if err != nil {
		db.Close()
		return nil, err
	}
	app := &appliance{db: db}
	var chunks interface {
		core.ChunkStore
		Close() error
	}
	if cfg.Storage.Backend == "s3" {
		if local, err := s3chunk.LocalBlocks(ctx, db); err != nil || local {
			db.Close()
			if err == nil {
				err = fmt.Errorf("storage.backend is s3 but the block index lists blocks on local disks: finish haul admin migrate-store --to s3 first (or set storage.backend = \"local\")")
			}
			return nil, err
		}
		if cfg.Storage.S3.ParityShards > 0 {
			log.Info("storage.backend is s3: each block is kept as data and parity objects", "data_shards", cfg.Storage.DataShards, "parity_shards", cfg.Storage.S3.ParityShards)
		} else {
			log.Info("storage.backend is s3: blocks are kept whole, one object each, without parity (the object store provides redundancy)")
		}
		s3c := cfg.Storage.S3
		app.objects, err = s3chunk.Open(ctx, s3chunk.Config{Endpoint: s3c.Endpoint, Region: s3c.Region, Bucket: s3c.Bucket, Prefix: s3c.Prefix,
			AccessKey: s3c.AccessKey, SecretKey: s3c.SecretKey, PathStyle: s3c.PathStyle, InsecureSkipVerify: s3c.InsecureSkipVerify,
			BlockSize: int64(cfg.Storage.BlockSize), DataShards: cfg.Storage.DataShards, ParityShards: s3c.ParityShards, Logger: log}, db)
		chunks = app.objects
	} else {
		app.chunks, err = chunk.Open(chunkConfig(cfg, opts.allowReplaced, log), db)
		chunks = app.chunks
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	a := cfg.Auth
	hasher := core.NewHasher(core.HashParams{MemoryKiB: uint32(a.Argon2MemoryKiB), Time: uint32(a.Argon2Time), Threads: uint8(a.Argon2Threads)}, a.MaxConcurrentHashes)
	hasher.SetMaxWait(a.HashMaxWait.Duration)
	var mailer core.Mailer
	if m := cfg.Mail; m.SMTPHost != "" {
		sender, err := notify.NewSender(notify.SMTP{Host: m.SMTPHost, Port: m.SMTPPort, TLS: m.SMTPTLS, Username: m.Username, Password: m.Password, From: m.From})
		if err != nil {
			chunks.Close()
			db.Close()
			return nil, fmt.Errorf("[mail]: %w", err)
		}
		mailer = sender
	}
	svc := core.NewService(core.Deps{
		Mailer: mailer, ReminderBefore: time.Duration(cfg.Mail.ReminderHours) * time.Hour, PortalDomain: cfg.Server.PortalDomain,
		Store: db, Chunks: chunks, Keys: keys, Hasher: hasher, Logger: log, PublicURL: cfg.Server.PublicURL, DownloadURL: cfg.DownloadURL(),
		Uploads: core.UploadConfig{DefaultExpiryDays: cfg.Retention.DefaultExpiryDays},
		Auth: core.AuthConfig{
			TokenTTL: a.TokenTTL.Duration, SessionTTL: a.SessionTTL.Duration, InviteTTL: a.InviteTTL.Duration,
			LoginIPBurst: a.LoginIPBurst, LoginIPPerMinute: float64(a.LoginIPPerMinute),
			LoginAccountBurst: a.LoginAccountBurst, LoginAccountPerMinute: float64(a.LoginAccountPerMinute),
		},
	})
	app.svc = svc
	return app, nil
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var df dataFlags
	df.register(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := df.load()
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	app, err := open(ctx, cfg, log, openOptions{})
	if err != nil {
		return err
	}
	defer func() {
		if err := app.close(); err != nil {
			log.Error("closing the stores", "err", err)
		}
	}()
	boot, err := app.svc.Bootstrap(ctx, core.BootstrapRequest{
		TeamName: cfg.Bootstrap.TeamName, OwnerEmail: cfg.Bootstrap.OwnerEmail, OwnerPassword: cfg.Bootstrap.OwnerPassword,
	})
	if err != nil {
		return fmt.Errorf("first start: %w", err)
	}
	// Space reservations of unfinished uploads, recomputed from the store.
	if err := app.svc.LoadReservations(ctx); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (is another haul running? change server.listen or --listen)", cfg.Server.Listen, err)
	}
	if cfg.TLS.Mode != httpd.TLSOff {
		tlsLn, stopTLS, err := serveTLS(ctx, cfg, app.svc, ln, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopTLS()
		ln = tlsLn
	}
	srv := httpd.New(httpd.Deps{
		Service: app.svc, Logger: log,
		Ready: func(ctx context.Context) error { return app.db.View(ctx, func(core.Tx) error { return nil }) },
		Config: httpd.Config{
			PublicURL: cfg.Server.PublicURL, PortalDomain: cfg.Server.PortalDomain, TrustedProxies: cfg.TrustedProxyNets(), MetricsToken: cfg.Metrics.Token,
			HSTS:        cfg.TLS.Mode != httpd.TLSOff && cfg.TLS.HSTS,
			ReadTimeout: cfg.Server.ReadHeaderTimeout.Duration, IdleTimeout: cfg.Server.IdleTimeout.Duration, Version: version,
		},
	})
	// Background work stops, and is waited for, before the stores close.
	stopLoops := runLoops(ctx,
		func(ctx context.Context) { app.svc.RunSessionSweeper(ctx, sessionSweepEvery) },
		func(ctx context.Context) { app.svc.RunExpiry(ctx, expiryEvery) },
		func(ctx context.Context) {
			app.svc.RunAbandonedUploads(ctx, abandonedEvery, time.Duration(cfg.Retention.AbandonedUploadHours)*time.Hour)
		},
		func(ctx context.Context) {
			if app.chunks != nil {
				app.chunks.RunScrub(ctx, int64(cfg.Storage.ScrubRate), scrubEvery)
			}
		},
		func(ctx context.Context) {
			if app.chunks != nil {
				app.chunks.RunGC(ctx, gcThreshold, gcEvery)
			} else {
				app.objects.RunSweep(ctx, gcEvery, sweepGrace)
			}
		},
		func(ctx context.Context) { app.db.RunSnapshots(ctx, cfg.ChunkDirs(), snapshotEvery, 2) },
		func(ctx context.Context) { serveAdminSocket(ctx, cfg.Server.DataDir, app.db, log) },
		func(ctx context.Context) { app.svc.RunOutbox(ctx, outboxEvery) },
	)
	if app.svc.MailOff() {
		log.Info("mail is off: set [mail] smtp_host to send links, notifications and invitations by email")
	}
	defer stopLoops()

	log.Info("storage", "layout", cfg.StorageSummary())
	log.Info("haul started", "version", version, "listen", ln.Addr().String(), "data_dir", cfg.Server.DataDir, "public_url", cfg.Server.PublicURL)
	printLogin(stdout, cfg, boot)
	err = srv.Serve(ctx, ln, cfg.Server.ShutdownTimeout.Duration)
	log.Info("haul stopped")
	return err
}

// How often serve's background work runs.
const (
	sessionSweepEvery = time.Hour        // delete expired sessions
	scrubEvery        = 6 * time.Hour    // pause between scrub passes (each paced by storage.scrub_rate)
	gcEvery           = 10 * time.Minute // compaction passes
	gcThreshold       = 0.5              // compact segments less than half live
	sweepGrace        = time.Hour        // S3: an object no index entry names is deleted after this
	snapshotEvery     = 6 * time.Hour    // metadata snapshots into every data directory
	expiryEvery       = 10 * time.Minute // packages past their expiry turn expired, their data released
	abandonedEvery    = 30 * time.Minute // uploads idle for retention.abandoned_upload_hours are dropped
	outboxEvery       = 15 * time.Second // mails due for a retry
)

// runLoops starts each Run-style function in its own goroutine with a
// context derived from ctx; the returned function cancels them and waits
// until every one has returned.
func runLoops(ctx context.Context, loops ...func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, f := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	return func() { cancel(); wg.Wait() }
}

// printLogin tells the operator how to log in. A generated password is
// shown this once.
func printLogin(w io.Writer, cfg config.Config, boot *core.BootstrapResult) {
	url := cfg.Server.PublicURL
	if !boot.Created {
		fmt.Fprintf(w, "\nhaul is running at %s\nLog in with your account. Lost the password? Stop haul and run:\n  haul admin reset-password --data %s --email YOU@EXAMPLE.COM\n\n", url, cfg.Server.DataDir)
		return
	}
	line := strings.Repeat("=", 68)
	fmt.Fprintf(w, "\n%s\n haul is running. First start: created team %q and its owner.\n\n", line, boot.TeamName)
	fmt.Fprintf(w, "   Open:      %s\n   Email:     %s\n", url, boot.Email)
	if boot.Password != "" {
		fmt.Fprintf(w, "   Password:  %s\n\n This password is shown only once; you will be asked to change it.\n", boot.Password)
	} else {
		fmt.Fprintf(w, "   Password:  the one set in bootstrap.owner_password\n")
	}
	fmt.Fprintf(w, " API: POST %s/v1/auth with {\"email\",\"password\"} returns a user token.\n%s\n\n", url, line)
}

func admin(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return errors.New("haul admin needs a command")
	}
	cmd := args[0]
	fs := flag.NewFlagSet("admin "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var df dataFlags
	df.register(fs, false)
	email := fs.String("email", "", "user email")
	password := fs.String("password", "", "new password (generated if empty)")
	name := fs.String("name", "", "team name")
	ownerEmail := fs.String("owner-email", "", "owner's email")
	ownerPassword := fs.String("owner-password", "", "owner's password (generated if empty and the user is new)")
	to := fs.String("to", "s3", "migrate-store: where the blocks go, s3 or local")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	cfg, err := df.load()
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	ctx := context.Background()
	switch cmd {
	case "backup":
		return adminBackup(ctx, cfg, pos, stdout, log)
	case "restore":
		return adminRestore(cfg, pos, stdout, log)
	case "migrate-store":
		switch *to {
		case "s3", "local":
		default:
			return fmt.Errorf("haul admin migrate-store --to s3 | --to local")
		}
		if cfg.Storage.Backend == *to {
			return fmt.Errorf("haul admin migrate-store --to %s: storage.backend is %q already; keep the old backend configured until the move has finished", *to, cfg.Storage.Backend)
		}
		return migrateStore(ctx, cfg, *to == "s3", stdout, log)
	}
	app, err := open(ctx, cfg, log, openOptions{})
	if err != nil {
		return fmt.Errorf("%w (haul admin works on a stopped server's data directory)", err)
	}
	defer app.close()
	switch cmd {
	case "reset-password":
		pw, err := app.svc.ResetPassword(ctx, *email, *password)
		if err != nil {
			return err
		}
		if pw != "" {
			fmt.Fprintf(stdout, "New password for %s: %s\nThey will be asked to change it at next login.\n", *email, pw)
		} else {
			fmt.Fprintf(stdout, "Password for %s changed; their sessions were ended.\n", *email)
		}
	case "create-team":
		res, err := app.svc.CreateTeam(ctx, core.BootstrapRequest{TeamName: *name, OwnerEmail: *ownerEmail, OwnerPassword: *ownerPassword})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Created team %q (%s) owned by %s.\n", res.TeamName, res.TeamID, res.Email)
		if res.Password != "" {
			fmt.Fprintf(stdout, "Owner's password (shown once): %s\n", res.Password)
		}
	case "list-users":
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tTEAMS")
		err := app.svc.ListUsers(ctx, func(u core.UserSummary) error {
			_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.User.ID, u.User.Email, u.User.Name, strings.Join(u.Teams, ", "))
			return err
		})
		if err != nil {
			return err
		}
		return tw.Flush()
	case "rotate-keys":
		id, err := core.RotateKeys(ctx, app.db, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "New signing key %s; tokens and URLs signed before stay valid until they expire. Restart haul to use it.\n", id)
	default:
		return fmt.Errorf("unknown admin command %q; run haul with no arguments for usage", cmd)
	}
	return nil
}

// parseInterspersed parses fs from args allowing flags after positional
// arguments (haul admin backup FILE --data DIR, as the usage and the
// restore hint print it; the flag package alone stops at FILE), and
// returns the positional arguments. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// adminSocket is the Unix socket a running server answers operator
// requests on (haul admin backup), inside the data directory so only the
// account that owns the data can reach it.
func adminSocket(dataDir string) string { return filepath.Join(dataDir, "admin.sock") }

// serveAdminSocket serves GET /backup on the admin socket until ctx ends.
func serveAdminSocket(ctx context.Context, dataDir string, db *meta.DB, log *slog.Logger) {
	path := adminSocket(dataDir)
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		log.Warn("admin socket unavailable; haul admin backup will need the server stopped", "path", path, "err", err)
		return
	}
	os.Chmod(path, 0o600)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if err := db.Backup(w); err != nil {
			log.Error("online backup failed", "err", err)
		}
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); hs.Close() }()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("admin socket", "err", err)
	}
	os.Remove(path)
}

// adminBackup writes a consistent backup of the metadata (users, teams,
// keys, signing keys, file records, block index) to the file named in
// args: from the running server through its admin socket, or from the
// data directory when the server is stopped.
func adminBackup(ctx context.Context, cfg config.Config, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) != 1 {
		return errors.New("usage: haul admin backup [--data DIR] FILE|DIR")
	}
	out := args[0]
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		out = filepath.Join(out, "haul-meta-"+time.Now().UTC().Format("20060102T150405Z")+".bak")
	}
	tmp := out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	how, err := writeBackup(ctx, cfg, f, log)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Backup of the metadata written to %s (%s).\nFile data stays in the data directories; restore with: haul admin restore %s --data NEW_DIR\n", out, how, out)
	return nil
}

func writeBackup(ctx context.Context, cfg config.Config, w io.Writer, log *slog.Logger) (string, error) {
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", adminSocket(cfg.Server.DataDir))
	}}}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://haul/backup", nil)
	if res, err := client.Do(req); err == nil {
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return "", fmt.Errorf("the running server answered %s", res.Status)
		}
		_, err := io.Copy(w, res.Body)
		return "online, from the running server", err
	}
	dir := filepath.Join(cfg.Server.DataDir, "meta")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("no metadata store at %s: check --data (or server.data_dir)", dir)
	}
	db, err := meta.Open(dir, log)
	if err != nil {
		return "", fmt.Errorf("%w (is the server running without its admin socket?)", err)
	}
	defer db.Close()
	return "offline, server stopped", db.Backup(w)
}

// adminRestore loads a backup into a data directory that has no metadata
// yet. The data directories' segments must be those the backup describes
// (the same disks, or copies of them).
func adminRestore(cfg config.Config, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) != 1 {
		return errors.New("usage: haul admin restore [--data DIR] FILE")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	db, err := meta.Restore(filepath.Join(cfg.Server.DataDir, "meta"), f, log)
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Metadata restored into %s. Run haul fsck --data %s to check every block, then start haul.\n", cfg.Server.DataDir, cfg.Server.DataDir)
	return nil
}

// errDamage makes haul fsck exit non-zero while damage remains.
var errDamage = errors.New("damage remains: run haul fsck --repair")

// fsck verifies the chunk store of a stopped server: every shard of every
// block, orphans in the segments; --repair rebuilds what parity allows
// (and refills a replaced, empty data directory); --rebuild-index first
// rebuilds the block index from the segments alone.
func fsck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fsck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var df dataFlags
	df.register(fs, false)
	repair := fs.Bool("repair", false, "rebuild damaged shards from parity and refill replaced directories")
	rebuild := fs.Bool("rebuild-index", false, "rebuild the block index from the segments before checking")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := df.load()
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	ctx := context.Background()
	if *rebuild && cfg.Storage.Backend == "s3" {
		return fmt.Errorf("--rebuild-index reads local segment files; with storage.backend s3 the index is only in the metadata store (restore it from a backup: haul admin restore)")
	}
	if *rebuild {
		db, err := meta.Open(filepath.Join(cfg.Server.DataDir, "meta"), log)
		if err != nil {
			return fmt.Errorf("%w (haul fsck needs the server stopped)", err)
		}
		if err := db.DropBlockIndex(); err != nil {
			db.Close()
			return err
		}
		// Reference counts are recounted from the file and part records.
		svc := core.NewService(core.Deps{Store: db})
		refs := func(yield func(string, core.Hash)) error { return svc.BlockRefs(ctx, yield) }
		rep, err := chunk.RebuildIndex(ctx, chunkConfig(cfg, *repair, log), chunk.RebuildMeta{Store: db, Refs: refs})
		db.Close()
		if err != nil {
			return err
		}
		printJSON(stdout, "index rebuilt", rep)
	}
	app, err := open(ctx, cfg, log, openOptions{allowReplaced: *repair})
	if err != nil {
		return fmt.Errorf("%w (haul fsck needs the server stopped)", err)
	}
	defer app.close()
	if app.objects != nil {
		rep, err := app.objects.Fsck(ctx, *repair)
		if err != nil {
			return err
		}
		printJSON(stdout, "fsck (S3)", rep)
		if rep.Missing+rep.Damaged > 0 {
			return fmt.Errorf("%d blocks missing and %d damaged in the object store: the files holding them must be sent again", rep.Missing, rep.Damaged)
		}
		if rep.Degraded > 0 && !*repair {
			return fmt.Errorf("%d parity shards are missing or damaged: run haul fsck --repair to write them anew", rep.Degraded)
		}
		return nil
	}
	rep, err := app.chunks.Fsck(ctx, *repair)
	if err != nil {
		return err
	}
	printJSON(stdout, "fsck", rep)
	if !rep.OK() {
		return errDamage
	}
	fmt.Fprintln(stdout, "fsck: every block verifies")
	return nil
}

func printJSON(w io.Writer, title string, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintf(w, "%s: %s\n", title, b)
}
