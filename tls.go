package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"haul/core"
	"haul/core/config"
	"haul/httpd"
)

// serveTLS sets up HTTPS on ln for tls.mode: the certificates, the
// plain-HTTP listener (ACME challenges and redirects), portal certificate
// eviction, and SIGHUP reloading files mode. It returns the TLS listener
// and a function that stops the rest.
func serveTLS(ctx context.Context, cfg config.Config, svc *core.Service, ln net.Listener, log *slog.Logger) (net.Listener, func(), error) {
	opt := httpd.CertOptions{Mode: cfg.TLS.Mode, DataDir: cfg.Server.DataDir, PortalDomain: cfg.Server.PortalDomain,
		Allow: svc.PortalHostAllowed, Email: cfg.TLS.Email, CAURL: cfg.TLS.CAURL, Agreed: cfg.TLS.Agreed,
		CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, Logger: log, TLSPort: portOf(ln.Addr().String())}
	for _, u := range []string{cfg.Server.PublicURL, cfg.DownloadURL()} {
		if pu, err := url.Parse(u); err == nil && pu.Hostname() != "" && net.ParseIP(pu.Hostname()) == nil {
			opt.Hosts = appendNew(opt.Hosts, pu.Hostname())
		}
	}
	if cfg.TLS.CARoot != "" {
		pem, err := os.ReadFile(cfg.TLS.CARoot)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.ca_root: %w", err)
		}
		opt.TrustedRoots = x509.NewCertPool()
		if !opt.TrustedRoots.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("tls.ca_root: %s holds no PEM certificate", cfg.TLS.CARoot)
		}
	}
	var httpLn net.Listener
	if cfg.TLS.HTTPListen != "" {
		var err error
		if httpLn, err = net.Listen("tcp", cfg.TLS.HTTPListen); err != nil {
			return nil, nil, fmt.Errorf("listening on %s for ACME challenges and redirects: %w (set tls.http_listen, or give haul the right to bind it: setcap cap_net_bind_service=+ep)", cfg.TLS.HTTPListen, err)
		}
		opt.HTTPPort = portOf(httpLn.Addr().String())
	}
	certs, err := httpd.NewCerts(ctx, opt)
	if err != nil {
		if httpLn != nil {
			httpLn.Close()
		}
		return nil, nil, err
	}
	svc.OnPortalHostGone(certs.EvictPortal)
	var hs *http.Server
	if httpLn != nil {
		hs = &http.Server{Handler: certs.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		go func() {
			if err := hs.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("the plain-HTTP listener stopped", "err", err)
			}
		}()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if err := certs.Reload(); err != nil {
					log.Error("reloading the certificate", "err", err)
				} else {
					log.Info("certificate reloaded")
				}
			case <-done:
				return
			}
		}
	}()
	log.Info("https", "mode", cfg.TLS.Mode, "hosts", opt.Hosts, "portal_domain", opt.PortalDomain, "http_listen", cfg.TLS.HTTPListen)
	stop := func() {
		signal.Stop(hup)
		close(done)
		if hs != nil {
			hs.Close()
		}
		certs.Stop()
	}
	return tls.NewListener(ln, certs.TLSConfig()), stop, nil
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// tlsCommand is haul tls ca: the local CA's certificate, for clients to
// trust in self_signed mode.
func tlsCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "ca" {
		return errors.New("usage: haul tls ca [--config FILE] [--data DIR]")
	}
	fs := flag.NewFlagSet("tls ca", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var df dataFlags
	df.register(fs, false)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := df.load()
	if err != nil {
		return err
	}
	pem, err := httpd.ReadCA(cfg.Server.DataDir)
	if err != nil {
		return fmt.Errorf("no local CA in %s (it is created when haul first starts with tls.mode = \"self_signed\"): %w", cfg.Server.DataDir, err)
	}
	_, err = stdout.Write(pem)
	return err
}
