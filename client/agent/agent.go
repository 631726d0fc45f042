// Package agent is haul's agent: the subcommands of the haul binary that
// move files from scripts, render nodes and ingest stations (login,
// upload, download, watch folders, transfers, rate limits). It is built
// on package client, so it speaks only the public API.
//
// State lives under the agent's home (HAUL_AGENT_HOME, else
// <user config dir>/haul): login.json (0600), limits.json, and one JSON
// file per transfer under transfers/ (written atomically), which a re-run
// of the same command, or `haul transfers resume`, continues from.
package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/term"
)

// App is one run of the agent.
type App struct {
	Stdout, Stderr io.Writer
	// Home holds the agent's login, limits and transfer state.
	Home string
	// Getenv reads the environment (os.Getenv unless set).
	Getenv func(string) string
	// TTY: stdout is a terminal (progress bars instead of lines).
	TTY bool

	// pinned, when set, are the files an upload sends (a watch folder's
	// batch) instead of its path arguments.
	pinned []localFile

	// BeforeVerify, when set (a fault-injection hook for tests), runs on a downloaded file's
	// partial copy just before its digest is checked.
	BeforeVerify func(path string)
}

// command is one subcommand: its usage line and summary are shown the
// same by `haul help` and `haul <cmd> --help`.
type command struct {
	name     string
	synopsis string
	summary  string
	run      func(a *App, ctx context.Context, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"login", "haul login --url URL (--api-key KEY | --email EMAIL) [--ca FILE] [--team ID]",
			"store the server and a credential for the other commands (file mode 0600)", (*App).login},
		{"logout", "haul logout", "forget the stored server and credential", (*App).logout},
		{"upload", "haul upload PATH... (--to EMAILS | --link | --portal SUBDOMAIN --sender EMAIL) [flags]",
			"send files and folders (structure kept) to recipients, as a link, or to a portal; re-running the same command resumes", (*App).upload},
		{"download", "haul download URL [--dest DIR] [--password PW] [--connections N] [--files GLOB]",
			"download a link's files with parallel ranges, resuming and verifying each file's BLAKE3", (*App).download},
		{"watch", "haul watch upload DIR (--portal SUBDOMAIN --sender EMAIL | --to EMAILS) | haul watch download (--portal SUBDOMAIN | --all) --dest DIR",
			"send files that appear in a folder, or fetch every new package received through portals", (*App).watch},
		{"transfers", "haul transfers [list | pause ID | resume ID | cancel ID | forget ID]",
			"list the agent's transfers; pause, resume or cancel one", (*App).transfers},
		{"limits", "haul limits [--upload RATE] [--download RATE] [--schedule \"mon-fri 09:00-18:00\" | --schedule off]",
			"show or set the agent's rate limits, optionally only within a weekly schedule", (*App).limits},
	}
}

// IsCommand says whether name is an agent subcommand.
func IsCommand(name string) bool {
	for _, c := range commands {
		if c.name == name {
			return true
		}
	}
	return false
}

// Usage is the agent's part of `haul help`.
func Usage() string {
	var b strings.Builder
	b.WriteString("Agent commands (built on the public API; run `haul <command> --help` for flags):\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %s\n      %s\n", c.synopsis, c.summary)
	}
	b.WriteString("\nExit codes:\n")
	codes := make([]int, 0, len(exitNames))
	for c := range exitNames {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		fmt.Fprintf(&b, "  %d  %s\n", c, exitNames[c])
	}
	return b.String()
}

// Main runs an agent subcommand and returns the process's exit code,
// having printed what went wrong (and what to do) on stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &App{Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}
	if f, ok := stdout.(*os.File); ok {
		// Bars need a terminal that knows its width; else progress lines.
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			a.TTY = true
		}
	}
	err := a.Run(ctx, args)
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	f := classify(err)
	fmt.Fprintln(stderr, "haul:", f.Error())
	return f.Code
}

// Run runs one subcommand.
func (a *App) Run(ctx context.Context, args []string) error {
	if a.Getenv == nil {
		a.Getenv = os.Getenv
	}
	if a.Home == "" {
		a.Home = a.Getenv("HAUL_AGENT_HOME")
	}
	if a.Home == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return usageErr("no home for the agent's state: set HAUL_AGENT_HOME (%v)", err)
		}
		a.Home = filepath.Join(dir, "haul")
	}
	if len(args) == 0 {
		return usageErr("no command; run haul help")
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(a, ctx, args[1:])
		}
	}
	return usageErr("unknown command %q; run haul help", args[0])
}

// flags returns a flag set for a command whose --help shows the same
// synopsis and summary as `haul help`.
func (a *App) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.Stderr)
	for _, c := range commands {
		if c.name == name {
			fs.Usage = func() {
				fmt.Fprintf(a.Stderr, "Usage:\n  %s\n\n%s.\n\nFlags:\n", c.synopsis, strings.ToUpper(c.summary[:1])+c.summary[1:])
				fs.PrintDefaults()
			}
		}
	}
	return fs
}

// parse parses flags anywhere among the arguments (Go's flag package
// stops at the first non-flag) and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &Failure{Code: ExitUsage, Msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// multi is a repeatable flag (--form k=v --form k2=v2, --files a --files b).
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
