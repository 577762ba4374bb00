package robustness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"syscall"
	"time"
)

// httpNet carries the in-process cluster's HTTP traffic, the clients' API
// calls and the writes and read indexes managers forward to the leader,
// with the failures of a real network and of real processes:
//
//   - a stopped (killed) member refuses connections: a dial error, which
//     callers rightly take as "not sent";
//   - killing a member resets the connections it is serving: callers get a
//     read error and cannot know whether their request took effect;
//   - a cut link between two managers refuses their forwarded requests;
//   - a paused member's requests, in and out, wait until it resumes (or
//     the caller gives up), as with a process under SIGSTOP.
//
// Every member has one httptest server serving both its API and its
// /raft/v1/ forwarding endpoints; URLs name members by address, and the
// transport routes them.
type httpNet struct {
	mu    sync.Mutex
	eps   map[string]*endpoint
	cut   map[[2]string]bool
	inner http.RoundTripper
	// held counts the requests a paused member has held.
	held int
}

type endpoint struct {
	srv *httptest.Server
	// inflight holds the requests its handlers are serving, with when
	// each started: a handler that outlives its member is stuck.
	inflight map[*http.Request]time.Time
	down     bool
	killed   chan struct{} // closed when the member is killed
	paused   chan struct{} // non-nil while paused; closed on resume
}

func newHTTPNet() *httpNet {
	return &httpNet{eps: map[string]*endpoint{}, cut: map[[2]string]bool{},
		inner: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
}

// serve registers the server of the member at addr; it starts down.
func (n *httpNet) serve(addr string, h http.Handler) {
	ep := &endpoint{down: true, killed: make(chan struct{}), inflight: map[*http.Request]time.Time{}}
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		ep.inflight[r] = time.Now()
		n.mu.Unlock()
		defer func() {
			n.mu.Lock()
			delete(ep.inflight, r)
			n.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	}))
	n.mu.Lock()
	defer n.mu.Unlock()
	n.eps[addr] = ep
}

// heldCount returns how many requests paused members have held so far.
func (n *httpNet) heldCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.held
}

// stuck describes the requests that have been served for longer than d.
func (n *httpNet) stuck(d time.Duration) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for addr, ep := range n.eps {
		for r, start := range ep.inflight {
			if since := time.Since(start); since > d {
				out = append(out, fmt.Sprintf("%s %s on %s has been running for %v", r.Method, r.URL.Path, addr, since.Round(time.Second)))
			}
		}
	}
	sort.Strings(out)
	return out
}

// close closes the servers. A server whose handlers are stuck is left
// behind rather than waited for.
func (n *httpNet) close() {
	n.mu.Lock()
	eps := n.eps
	n.mu.Unlock()
	for _, ep := range eps {
		ep.srv.CloseClientConnections()
		within(5*time.Second, ep.srv.Close)
	}
	if t, ok := n.inner.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// within runs fn and tells whether it returned within d; if not, fn goes
// on in the background.
func within(d time.Duration, fn func()) bool {
	done := make(chan struct{})
	go func() {
		fn()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// up makes the member at addr reachable.
func (n *httpNet) up(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ep := n.eps[addr]
	ep.down = false
	ep.killed = make(chan struct{})
}

// kill makes the member at addr unreachable and resets the requests it
// is serving.
func (n *httpNet) kill(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ep := n.eps[addr]
	if !ep.down {
		ep.down = true
		close(ep.killed)
	}
}

func (n *httpNet) pause(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ep := n.eps[addr]; ep.paused == nil {
		ep.paused = make(chan struct{})
	}
}

func (n *httpNet) resume(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ep := n.eps[addr]; ep.paused != nil {
		close(ep.paused)
		ep.paused = nil
	}
}

func (n *httpNet) setCut(a, b string, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if cut {
		n.cut[pairOf(a, b)] = true
	} else {
		delete(n.cut, pairOf(a, b))
	}
}

func (n *httpNet) healAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = map[[2]string]bool{}
}

func pairOf(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// client returns an HTTP client whose requests come from the member at
// from ("" for an outside client, which reaches every live member).
func (n *httpNet) client(from string) *http.Client {
	return &http.Client{Transport: &netTransport{n: n, from: from}}
}

type netTransport struct {
	n    *httpNet
	from string
}

func refused(addr string) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: fakeAddr(addr), Err: syscall.ECONNREFUSED}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

func (t *netTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	to := req.URL.Host
	// A paused sender or receiver holds the request.
	for {
		t.n.mu.Lock()
		var wait chan struct{}
		if ep := t.n.eps[to]; ep != nil && ep.paused != nil {
			wait = ep.paused
		} else if ep := t.n.eps[t.from]; ep != nil && ep.paused != nil {
			wait = ep.paused
		}
		if wait != nil {
			t.n.held++
		}
		t.n.mu.Unlock()
		if wait == nil {
			break
		}
		select {
		case <-wait:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	t.n.mu.Lock()
	ep := t.n.eps[to]
	if ep == nil || ep.down || (t.from != "" && t.n.cut[pairOf(t.from, to)]) {
		t.n.mu.Unlock()
		return nil, refused(to)
	}
	if src := t.n.eps[t.from]; t.from != "" && (src == nil || src.down) {
		t.n.mu.Unlock()
		return nil, refused(to)
	}
	killed, srvURL := ep.killed, ep.srv.URL
	t.n.mu.Unlock()

	ctx, cancel := context.WithCancel(req.Context())
	out := req.Clone(ctx)
	u := *req.URL
	u.Scheme, u.Host = "http", srvURL[len("http://"):]
	out.URL = &u
	out.Host = to
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := t.n.inner.RoundTrip(out)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			cancel()
			return nil, r.err
		}
		r.resp.Body = &cancelBody{ReadCloser: r.resp.Body, cancel: cancel}
		return r.resp, nil
	case <-killed:
		cancel()
		return nil, &net.OpError{Op: "read", Net: "tcp", Addr: fakeAddr(to), Err: syscall.ECONNRESET}
	}
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
