package dashboard

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/state"
)

//go:embed static
var staticFiles embed.FS

// Dashboard serves the read-only web dashboard of one manager.
type Dashboard struct {
	src Source
	cfg Config
	log *slog.Logger
	ln  net.Listener
	srv *http.Server

	mu      sync.Mutex
	recent  []feedEvent   // ring of the last cfg.EventHistory events, oldest first
	raft    []byte        // the last Raft view, JSON
	raftNew chan struct{} // closed and replaced when raft changes

	streams chan struct{} // holds a token per stream served, up to MaxStreams

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// New checks cfg and opens its address, so that a busy or invalid address
// fails the manager's start rather than later. Call Run to serve.
func New(src Source, cfg Config) (*Dashboard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: listening on --ui-addr: %w", err)
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	d := &Dashboard{
		src: src, cfg: cfg, log: cfg.Logger.With("component", "dashboard"), ln: ln,
		raftNew: make(chan struct{}), streams: make(chan struct{}, cfg.MaxStreams), stop: make(chan struct{}), done: make(chan struct{}),
	}
	d.srv = &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	return d, nil
}

// Addr is the address the dashboard serves on.
func (d *Dashboard) Addr() net.Addr { return d.ln.Addr() }

// URL is the dashboard's address as a browser opens it.
func (d *Dashboard) URL() string {
	scheme := "http"
	if d.cfg.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + d.ln.Addr().String() + "/"
}

// Run serves until ctx ends or Stop is called. It keeps the recent events
// and refreshes the Raft view for the pages it serves.
func (d *Dashboard) Run(ctx context.Context) error {
	defer close(d.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-d.stop:
		}
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		defer scancel()
		_ = d.srv.Shutdown(sctx)
		_ = d.srv.Close()
	}()
	d.srv.BaseContext = func(net.Listener) context.Context { return ctx }
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.keepRecent(ctx) }()
	go func() { defer wg.Done(); d.refreshRaft(ctx) }()
	d.log.Info("dashboard serving", "url", d.URL())
	err := d.srv.Serve(d.ln)
	cancel()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("dashboard: %w", err)
}

// Stop stops Run and waits for it to return.
func (d *Dashboard) Stop() {
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.done
}

// Handler serves the page, its files and its event stream. Every method
// but GET and HEAD is refused: nothing on the dashboard changes the
// cluster.
func (d *Dashboard) Handler() http.Handler {
	static, _ := fs.Sub(staticFiles, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/stream", d.serveStream)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the dashboard is read-only", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

// keepRecent records the recent events from the store's change feed.
func (d *Dashboard) keepRecent(ctx context.Context) {
	if d.cfg.EventHistory == 0 {
		return
	}
	store := d.src.Store()
	w := store.Watch()
	defer func() { w.Close() }()
	for {
		batches, err := w.Next(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// Overflowed or replaced by a snapshot: the history has a
			// gap, which the feed can live with.
			w.Close()
			w = store.Watch()
			continue
		}
		now := time.Now().UTC()
		d.mu.Lock()
		for _, b := range batches {
			for _, e := range b.Events {
				if fe, ok := describe(e, b.Index, now); ok {
					d.recent = append(d.recent, fe)
				}
			}
		}
		if over := len(d.recent) - d.cfg.EventHistory; over > 0 {
			d.recent = append(d.recent[:0:0], d.recent[over:]...)
		}
		d.mu.Unlock()
	}
}

// recentUpTo returns the recent events up to store index idx.
func (d *Dashboard) recentUpTo(idx uint64) []feedEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []feedEvent{}
	for _, e := range d.recent {
		if e.Index <= idx {
			out = append(out, e)
		}
	}
	return out
}

// refreshRaft refreshes the Raft view every RaftInterval.
func (d *Dashboard) refreshRaft(ctx context.Context) {
	t := time.NewTicker(d.cfg.RaftInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, d.cfg.PeerTimeout)
		v := d.src.RaftView(rctx)
		cancel()
		v.finish(d.cfg.StaleAfter, time.Now().UTC())
		b, err := json.Marshal(v)
		if err != nil {
			d.log.Error("encoding the Raft view", "err", err)
		} else {
			d.mu.Lock()
			d.raft = b
			close(d.raftNew)
			d.raftNew = make(chan struct{})
			d.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Dashboard) lastRaft() ([]byte, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.raft, d.raftNew
}

// serveStream is the page's server-sent event stream: a snapshot, then
// deltas coalesced over Config.Coalesce, and the Raft view whenever it is
// refreshed. The browser's EventSource reconnects by itself (after the
// retry below) and gets a new snapshot.
func (d *Dashboard) serveStream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	select {
	case d.streams <- struct{}{}:
		defer func() { <-d.streams }()
	default:
		w.Header().Set("Retry-After", "5")
		http.Error(w, fmt.Sprintf("this manager already serves %d dashboards", d.cfg.MaxStreams), http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	ctx := r.Context()
	st := &stream{w: w, fl: fl}
	st.raw("retry: 1000\n\n")

	// The watch starts first, then the snapshot is read, outside the
	// store's writer lock (ViewAndWatch would hold it while 10,000 tasks
	// are copied, stalling Raft's applies): batches the snapshot already
	// holds (index <= its index) are skipped, so nothing is missed or
	// applied twice.
	var seen uint64
	watch := func() (*state.Watcher, error) {
		store := d.src.Store()
		wt := store.Watch()
		var snap *snapshot
		err := store.View(func(tx state.ReadTx) error {
			var err error
			snap, err = takeSnapshot(tx)
			return err
		})
		if err != nil {
			wt.Close()
			return nil, err
		}
		seen = snap.Index
		snap.Events = d.recentUpTo(snap.Index)
		st.send("snapshot", snap)
		return wt, nil
	}
	wt, err := watch()
	if err != nil {
		d.log.Error("reading the store for a page", "err", err)
		return
	}
	defer func() { wt.Close() }()
	raft, raftNew := d.lastRaft()
	if raft != nil {
		st.sendRaw("raft", raft)
	}
	co := newCoalescer()
	var flushC <-chan time.Time
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for st.err == nil {
		select {
		case <-ctx.Done():
			return
		case <-wt.Ready():
			batches, err := wt.Drain()
			if err != nil {
				wt.Close()
				co = newCoalescer()
				flushC = nil
				if wt, err = watch(); err != nil {
					d.log.Error("reading the store for a page", "err", err)
					return
				}
				continue
			}
			now := time.Now().UTC()
			for _, b := range batches {
				if b.Index > seen {
					co.add(b, now)
				}
			}
			if flushC == nil && !co.empty() {
				flushC = time.After(d.cfg.Coalesce)
			}
		case <-flushC:
			flushC = nil
			st.send("delta", co.flush())
		case <-raftNew:
			raft, raftNew = d.lastRaft()
			st.sendRaw("raft", raft)
		case <-keepalive.C:
			st.raw(": keepalive\n\n")
		}
	}
}

// stream writes server-sent events; the first error ends it.
type stream struct {
	w   http.ResponseWriter
	fl  http.Flusher
	err error
}

func (s *stream) raw(text string) {
	if s.err == nil {
		_, s.err = s.w.Write([]byte(text))
		s.fl.Flush()
	}
}

func (s *stream) send(event string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.err = err
		return
	}
	s.sendRaw(event, b)
}

// sendRaw writes one event; b is JSON, which holds no newline.
func (s *stream) sendRaw(event string, b []byte) {
	if s.err != nil {
		return
	}
	if _, s.err = fmt.Fprintf(s.w, "event: %s\ndata: ", event); s.err != nil {
		return
	}
	if _, s.err = s.w.Write(b); s.err != nil {
		return
	}
	_, s.err = s.w.Write([]byte("\n\n"))
	s.fl.Flush()
}
