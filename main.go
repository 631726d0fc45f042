// Command haul is a self-hosted appliance for sending and receiving very
// large files. One binary: the server (haul serve), its operator's tools
// (haul admin), and later the agent (upload, download, watch).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // time zone names work on hosts without tzdata

	"haul/core"
	"haul/core/config"
	"haul/httpd"
	"haul/store/meta"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `haul: send and receive very large files.

Usage:
  haul serve   [--config FILE] [--listen ADDR] [--data DIR]   run the appliance
  haul admin   <command> [--config FILE] [--data DIR] ...      operate on a stopped server's data
  haul version                                                 print the version

Admin commands (run them while the server is stopped):
  haul admin reset-password --email EMAIL [--password PW]      set a user's password (generated if omitted)
  haul admin create-team --name NAME --owner-email EMAIL [--owner-password PW]
  haul admin list-users                                        list users and their teams
  haul admin rotate-keys                                       new signing key; old signatures stay valid until they expire

Configuration: a TOML file (see config.example.toml); every key can also be
set as HAUL_<SECTION>_<KEY>, e.g. HAUL_SERVER_LISTEN=:9000.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "haul:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "admin":
		return admin(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "haul", version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
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
	db  *meta.DB
	svc *core.Service
}

func open(ctx context.Context, cfg config.Config, log *slog.Logger) (*appliance, error) {
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
	a := cfg.Auth
	hasher := core.NewHasher(core.HashParams{MemoryKiB: uint32(a.Argon2MemoryKiB), Time: uint32(a.Argon2Time), Threads: uint8(a.Argon2Threads)}, a.MaxConcurrentHashes)
	hasher.SetMaxWait(a.HashMaxWait.Duration)
	svc := core.NewService(core.Deps{
		Store: db, Keys: keys, Hasher: hasher, Logger: log, PublicURL: cfg.Server.PublicURL,
		Auth: core.AuthConfig{
			TokenTTL: a.TokenTTL.Duration, SessionTTL: a.SessionTTL.Duration, InviteTTL: a.InviteTTL.Duration,
			LoginIPBurst: a.LoginIPBurst, LoginIPPerMinute: float64(a.LoginIPPerMinute),
			LoginAccountBurst: a.LoginAccountBurst, LoginAccountPerMinute: float64(a.LoginAccountPerMinute),
		},
	})
	return &appliance{db: db, svc: svc}, nil
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

	app, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := app.db.Close(); err != nil {
			log.Error("closing the metadata store", "err", err)
		}
	}()
	boot, err := app.svc.Bootstrap(ctx, core.BootstrapRequest{
		TeamName: cfg.Bootstrap.TeamName, OwnerEmail: cfg.Bootstrap.OwnerEmail, OwnerPassword: cfg.Bootstrap.OwnerPassword,
	})
	if err != nil {
		return fmt.Errorf("first start: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (is another haul running? change server.listen or --listen)", cfg.Server.Listen, err)
	}
	srv := httpd.New(httpd.Deps{
		Service: app.svc, Logger: log,
		Ready: func(ctx context.Context) error { return app.db.View(ctx, func(core.Tx) error { return nil }) },
		Config: httpd.Config{
			PublicURL: cfg.Server.PublicURL, TrustedProxies: cfg.TrustedProxyNets(), MetricsToken: cfg.Metrics.Token,
			ReadTimeout: cfg.Server.ReadHeaderTimeout.Duration, IdleTimeout: cfg.Server.IdleTimeout.Duration, Version: version,
		},
	})
	// The session sweeper stops, and is waited for, before Badger closes.
	sweepCtx, stopSweep := context.WithCancel(ctx)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		app.svc.RunSessionSweeper(sweepCtx, sessionSweepEvery)
	}()
	defer func() { stopSweep(); <-swept }()

	log.Info("haul started", "version", version, "listen", ln.Addr().String(), "data_dir", cfg.Server.DataDir, "public_url", cfg.Server.PublicURL)
	printLogin(stdout, cfg, boot)
	err = srv.Serve(ctx, ln, cfg.Server.ShutdownTimeout.Duration)
	log.Info("haul stopped")
	return err
}

// sessionSweepEvery is how often serve deletes expired sessions.
const sessionSweepEvery = time.Hour

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
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := df.load()
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	ctx := context.Background()
	app, err := open(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("%w (haul admin works on a stopped server's data directory)", err)
	}
	defer app.db.Close()
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
