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
	"sync"
	"syscall"
	"time"
)

// defaultListen is the port the image EXPOSEs.
const defaultListen = ":8080"

// shutdownTimeout bounds the graceful HTTP shutdown after SIGTERM; it is
// well under Docker's default 10 s grace period so that a stop never ends in
// a kill.
const shutdownTimeout = 2 * time.Second

// config is the server's flags.
type config struct {
	listen            string
	exitAfter         time.Duration
	exitCode          int
	unhealthyAfter    time.Duration
	ignoreSIGTERM     bool
	sleepBeforeListen time.Duration
	tick              time.Duration
}

// identity is what GET / answers, read from the executor's environment.
type identity struct {
	TaskName    string `json:"task_name"`
	TaskID      string `json:"task_id"`
	NodeID      string `json:"node_id"`
	ServiceName string `json:"service_name"`
	ServiceID   string `json:"service_id"`
	Hostname    string `json:"hostname"`
}

func identityFromEnv(getenv func(string) string) identity {
	host, _ := os.Hostname() // an empty hostname is an acceptable answer
	return identity{
		TaskName:    getenv("SHOAL_TASK_NAME"),
		TaskID:      getenv("SHOAL_TASK_ID"),
		NodeID:      getenv("SHOAL_NODE_ID"),
		ServiceName: getenv("SHOAL_SERVICE_NAME"),
		ServiceID:   getenv("SHOAL_SERVICE_ID"),
		Hostname:    host,
	}
}

// listenDefault is the default listen address: DEMOAPP_LISTEN or :8080.
func listenDefault(getenv func(string) string) string {
	if v := getenv("DEMOAPP_LISTEN"); v != "" {
		return v
	}
	return defaultListen
}

func parseServeFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("demoapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", listenDefault(getenv), "address to serve HTTP on")
	fs.DurationVar(&cfg.exitAfter, "exit-after", 0, "exit with --exit-code after this long (0: never)")
	fs.IntVar(&cfg.exitCode, "exit-code", 0, "exit code used by --exit-after")
	fs.DurationVar(&cfg.unhealthyAfter, "unhealthy-after", 0, "answer 503 on /health after this long (0: never)")
	fs.BoolVar(&cfg.ignoreSIGTERM, "ignore-sigterm", false, "log and ignore SIGTERM (SIGINT still stops)")
	fs.DurationVar(&cfg.sleepBeforeListen, "sleep-before-listen", 0, "wait this long before listening (slow start)")
	fs.DurationVar(&cfg.tick, "tick", 0, "log a line to stdout at this interval (0: never)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return cfg, nil
}

// run is main without the process: it returns the exit code. sigs delivers
// SIGTERM and SIGINT.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, sigs <-chan os.Signal) int {
	if len(args) > 0 && args[0] == "health" {
		return runHealth(ctx, args[1:], getenv, stderr)
	}
	if len(args) > 0 && args[0] == "probe" {
		return runProbe(ctx, args[1:], os.Stdin, stdout, stderr)
	}
	cfg, err := parseServeFlags(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	stdout, stderr = &lockedWriter{w: stdout}, &lockedWriter{w: stderr}
	out := slog.New(slog.NewTextHandler(stdout, nil))
	diag := slog.New(slog.NewTextHandler(stderr, nil))
	a := &app{cfg: cfg, id: identityFromEnv(getenv), log: out, started: time.Now()}
	diag.Info("starting", "listen", cfg.listen, "task", a.id.TaskName, "node", a.id.NodeID,
		"service", a.id.ServiceName, "pid", os.Getpid())

	var exitTimer <-chan time.Time
	if cfg.exitAfter > 0 {
		exitTimer = time.After(cfg.exitAfter)
	}
	var tick <-chan time.Time
	if cfg.tick > 0 {
		t := time.NewTicker(cfg.tick)
		defer t.Stop()
		tick = t.C
	}
	// onSignal says whether a signal ends the process.
	onSignal := func(s os.Signal) bool {
		if s == syscall.SIGTERM && cfg.ignoreSIGTERM {
			diag.Warn("ignoring signal", "signal", s.String())
			return false
		}
		diag.Info("stopping", "signal", s.String())
		return true
	}

	if cfg.sleepBeforeListen > 0 {
		diag.Info("sleeping before listen", "duration", cfg.sleepBeforeListen)
		sleep := time.After(cfg.sleepBeforeListen)
	sleeping:
		for {
			select {
			case <-sleep:
				break sleeping
			case s := <-sigs:
				if onSignal(s) {
					return 0
				}
			case <-exitTimer:
				diag.Info("exiting", "after", cfg.exitAfter, "code", cfg.exitCode)
				return cfg.exitCode
			case <-ctx.Done():
				return 0
			}
		}
		// The slow start counts towards --unhealthy-after: it is measured
		// from the moment the server could first answer.
		a.started = time.Now()
	}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		diag.Error("listen failed", "listen", cfg.listen, "err", err)
		return 1
	}
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	diag.Info("listening", "addr", ln.Addr().String())

	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			diag.Warn("graceful shutdown incomplete", "err", err)
		}
	}
	for n := 1; ; {
		select {
		case s := <-sigs:
			if onSignal(s) {
				stop()
				return 0
			}
		case <-exitTimer:
			diag.Info("exiting", "after", cfg.exitAfter, "code", cfg.exitCode)
			stop()
			return cfg.exitCode
		case <-tick:
			out.Info("tick", "n", n, "task", a.id.TaskName)
			n++
		case err := <-serveErr:
			diag.Error("server failed", "err", err)
			return 1
		case <-ctx.Done():
			stop()
			return 0
		}
	}
}

// app is the HTTP side of the server.
type app struct {
	cfg     config
	id      identity
	log     *slog.Logger
	started time.Time
}

func (a *app) healthy() bool {
	return a.cfg.unhealthyAfter <= 0 || time.Since(a.started) < a.cfg.unhealthyAfter
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.id) // a failed write means the client went away
	})
	mux.HandleFunc("GET /probe/{kind}", probeHandler)
	mux.HandleFunc("GET /bytes", bytesHandler)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if !a.healthy() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return a.logRequests(mux)
}

// logRequests writes one stdout line per request.
func (a *app) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		a.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"remote", r.RemoteAddr, "duration", time.Since(start))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// lockedWriter serialises writes so that log lines never interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
