package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"

	"haul/client"
)

// Exit codes (documented in README.md and `haul help`).
const (
	ExitOK        = 0
	ExitFailure   = 1 // anything not below
	ExitUsage     = 2 // bad flags or arguments
	ExitAuth      = 3 // not logged in, wrong credential or password, not allowed
	ExitGone      = 4 // link, package or portal not found, expired or disabled
	ExitNetwork   = 5 // server unreachable, or its certificate not trusted
	ExitVerify    = 6 // a file's BLAKE3 did not match, even fetched again
	ExitLocal     = 7 // local files: no space, no permission, a path refused
	ExitCancelled = 8 // cancelled (Ctrl-C, haul transfers cancel)
)

var exitNames = map[int]string{
	ExitOK:        "done",
	ExitFailure:   "failed (the message says why)",
	ExitUsage:     "bad command line",
	ExitAuth:      "not logged in, wrong credential or password, or not allowed",
	ExitGone:      "link, package or portal not found, expired or disabled",
	ExitNetwork:   "server unreachable, or its TLS certificate not trusted",
	ExitVerify:    "a file's BLAKE3 digest did not match, even after fetching it again",
	ExitLocal:     "local disk: no space, no permission, or a path refused",
	ExitCancelled: "cancelled (run the same command again to resume)",
}

// Failure is an error with its exit code and a message that says what to
// do.
type Failure struct {
	Code int
	Msg  string
	Err  error
}

func (f *Failure) Error() string {
	if f.Err != nil && f.Msg == "" {
		return f.Err.Error()
	}
	return f.Msg
}

func (f *Failure) Unwrap() error { return f.Err }

func usageErr(format string, args ...any) error {
	return &Failure{Code: ExitUsage, Msg: fmt.Sprintf(format, args...)}
}

func fail(code int, err error, format string, args ...any) error {
	return &Failure{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

// classify turns any error into a Failure with an exit code and a message
// a person at 2 a.m. can act on.
func classify(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.Canceled):
		return &Failure{Code: ExitCancelled, Msg: "cancelled: run the same command again to resume", Err: err}
	case errors.As(err, &he):
		return &Failure{Code: ExitNetwork, Err: err, Msg: "the server's TLS certificate is for another name (" + err.Error() + "): use the URL of the name it was issued for"}
	case errors.As(err, &ue), errors.As(err, &ce):
		return &Failure{Code: ExitNetwork, Err: err, Msg: "the server's TLS certificate is not trusted (" + err.Error() + "): for a LAN appliance with a self-signed CA, run `haul tls ca` on the server and log in with --ca FILE (or set HAUL_AGENT_CA)"}
	case errors.Is(err, syscall.ENOSPC):
		return &Failure{Code: ExitLocal, Err: err, Msg: "no space left on the destination disk (" + err.Error() + "): free some space and run the same command again; what was fetched is kept"}
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EROFS):
		return &Failure{Code: ExitLocal, Err: err, Msg: "no permission: " + err.Error()}
	}
	var ae *client.Error
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusUnauthorized:
			return &Failure{Code: ExitAuth, Err: err, Msg: ae.Msg + " (run haul login again, or check HAUL_AGENT_API_KEY)"}
		case http.StatusForbidden:
			return &Failure{Code: ExitAuth, Err: err, Msg: ae.Msg}
		case http.StatusNotFound, http.StatusGone:
			return &Failure{Code: ExitGone, Err: err, Msg: ae.Msg}
		}
		if ae.Status >= 500 {
			return &Failure{Code: ExitNetwork, Err: err, Msg: "the server failed: " + ae.Msg + " (run the same command again to resume)"}
		}
		return &Failure{Code: ExitFailure, Err: err, Msg: ae.Msg}
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) {
		return &Failure{Code: ExitNetwork, Err: err, Msg: "the server cannot be reached (" + err.Error() + "): check the URL and the network, then run the same command again to resume"}
	}
	return &Failure{Code: ExitFailure, Err: err, Msg: err.Error()}
}
