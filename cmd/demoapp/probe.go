package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// Probes let a test look inside a container that has no shell: from the
// container's network namespace and filesystem, resolve a name, fetch a
// URL, or describe a file. They are served at /probe/{resolve,fetch,file}
// and run as `demoapp probe resolve|fetch|file ARG` (through `docker exec`,
// which needs no network path from the test to the container). Each
// answers one JSON object, with Err set on failure.
//
// The load probe (`demoapp probe load URL`, under docker exec with stdin
// attached) sends requests to URL until its stdin closes, as a client of a
// service would during a rolling update or a host's loss, and answers how
// many were sent, retried and lost.

// ProbeResult is a probe's answer.
type ProbeResult struct {
	// Addrs are the addresses a name resolved to.
	Addrs []string `json:"addrs,omitempty"`
	// Status and Body are a fetch's answer (the body's first 64 KiB).
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	// Mode (permission bits, octal), UID, GID and Content describe a file.
	Mode    string `json:"mode,omitempty"`
	UID     int    `json:"uid"`
	GID     int    `json:"gid"`
	Content string `json:"content,omitempty"`
	// P50Micros and P99Micros are a latency probe's round trips; MBps a
	// throughput probe's rate (10^6 bytes per second).
	P50Micros int64   `json:"p50_us,omitempty"`
	P99Micros int64   `json:"p99_us,omitempty"`
	MBps      float64 `json:"mbps,omitempty"`
	// RPS is a rate probe's requests per second (its P50Micros and
	// P99Micros are those of one request, connection included).
	RPS float64 `json:"rps,omitempty"`
	// Requests, Retried and Failed are a load probe's counts: requests
	// sent, those whose first attempt failed, and those whose retry
	// failed too. Reached counts the answers per task ID (what GET /
	// of a demoapp names); Errors are the first failed attempts, each
	// with its time.
	Requests int            `json:"requests,omitempty"`
	Retried  int            `json:"retried,omitempty"`
	Failed   int            `json:"failed,omitempty"`
	Reached  map[string]int `json:"reached,omitempty"`
	Errors   []string       `json:"errors,omitempty"`
	Err      string         `json:"err,omitempty"`
}

// probeTimeout bounds a resolve or a fetch: a peer that does not answer
// (no route, an internal network) fails within it. Latency and
// throughput probes get benchTimeout.
const (
	probeTimeout = 3 * time.Second
	benchTimeout = 60 * time.Second
)

// The load probe: it runs at most loadTimeout; each attempt gets
// loadAttemptTimeout (a backend that is gone without a reset, such as a
// dead host's, fails within it); loadPause between two requests keeps a
// probe at a few hundred requests a second, a client's load rather than
// a benchmark's on a shared 2-core machine; loadErrors failed attempts
// are kept, with their time, for the test to show.
const (
	loadTimeout        = 5 * time.Minute
	loadAttemptTimeout = 2 * time.Second
	loadPause          = 2 * time.Millisecond
	loadErrors         = 20
)

// Sizes of the benchmark probes: latencyRequests round trips on one
// connection; rateRequests requests on a new connection each;
// throughputBytes fetched from the peer's /bytes.
const (
	latencyRequests = 1000
	rateRequests    = 2000
	throughputBytes = 256 << 20
)

func probe(ctx context.Context, kind, arg string) ProbeResult {
	timeout := probeTimeout
	switch kind {
	case "latency", "rate", "throughput":
		timeout = benchTimeout
	case "load":
		timeout = loadTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var r ProbeResult
	var err error
	switch kind {
	case "resolve":
		r.Addrs, err = net.DefaultResolver.LookupHost(ctx, arg)
	case "fetch":
		r.Status, r.Body, err = fetch(ctx, arg)
	case "file":
		err = describeFile(arg, &r)
	case "latency":
		err = latency(ctx, arg, &r)
	case "throughput":
		err = throughput(ctx, arg, &r)
	case "rate":
		err = rate(ctx, arg, &r)
	case "load":
		err = load(ctx, arg, &r, nil)
	default:
		err = fmt.Errorf("unknown probe %q (resolve, fetch, file, latency, rate, throughput, load)", kind)
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

func fetch(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), err
}

// latency measures HTTP round trips to url (a demoapp's /health) on one
// kept-alive connection: the network's latency plus a small constant.
func latency(ctx context.Context, url string, r *ProbeResult) error {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	rtts := make([]time.Duration, 0, latencyRequests)
	for range latencyRequests {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	r.P50Micros = rtts[len(rtts)/2].Microseconds()
	r.P99Micros = rtts[len(rtts)*99/100].Microseconds()
	return nil
}

// rate sends rateRequests GET requests to url one after another, each on a
// new connection (what a VIP or the routing mesh balances), and measures
// the requests per second and one request's p50 and p99, connection
// included.
func rate(ctx context.Context, url string, r *ProbeResult) error {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	rtts := make([]time.Duration, 0, rateRequests)
	start := time.Now()
	for range rateRequests {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		t := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		rtts = append(rtts, time.Since(t))
	}
	r.Requests = rateRequests
	r.RPS = float64(rateRequests) / time.Since(start).Seconds()
	slices.Sort(rtts)
	r.P50Micros = rtts[len(rtts)/2].Microseconds()
	r.P99Micros = rtts[len(rtts)*99/100].Microseconds()
	return nil
}

// throughput fetches throughputBytes from url (a demoapp's /bytes).
func throughput(ctx context.Context, url string, r *ProbeResult) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s?n=%d", url, throughputBytes), nil)
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if n != throughputBytes {
		return fmt.Errorf("got %d of %d bytes", n, throughputBytes)
	}
	r.MBps = float64(n) / time.Since(start).Seconds() / 1e6
	return nil
}

// load sends GET url until ctx ends, one request after another, each on a
// new connection (so that each is balanced anew, as a VIP balances
// connections), and retries a failed one once, at once. A request fails
// when it gets no answer within loadAttemptTimeout or an answer other
// than 200. The end of ctx ends the load, not the request in flight.
// answered, if not nil, is called once, at the first answer.
func load(ctx context.Context, url string, r *ProbeResult, answered func()) error {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: loadAttemptTimeout}
	r.Reached = map[string]int{}
	attempt := func() error {
		req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		var id struct {
			TaskID string `json:"task_id"`
		}
		if json.Unmarshal(body, &id) == nil {
			r.Reached[id.TaskID]++
		}
		if answered != nil {
			answered()
			answered = nil
		}
		return nil
	}
	fail := func(what string, err error) {
		if len(r.Errors) < loadErrors {
			r.Errors = append(r.Errors, fmt.Sprintf("%s request %d, %s: %v",
				time.Now().UTC().Format("15:04:05.000"), r.Requests, what, err))
		}
	}
	for ctx.Err() == nil {
		r.Requests++
		if err := attempt(); err != nil {
			fail("first attempt", err)
			r.Retried++
			if err := attempt(); err != nil {
				fail("retry", err)
				r.Failed++
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(loadPause):
		}
	}
	if r.Requests == 0 {
		return errors.New("no request sent: the load ended at once (stdin not attached?)")
	}
	return nil
}

// bytesHandler serves GET /bytes?n=N: N zero bytes, for throughput probes.
func bytesHandler(w http.ResponseWriter, req *http.Request) {
	n, err := strconv.ParseInt(req.URL.Query().Get("n"), 10, 64)
	if err != nil || n < 0 || n > 1<<32 {
		http.Error(w, "n: a byte count up to 4 GiB", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := w.Write(buf[:k]); err != nil {
			return
		}
		n -= k
	}
}

func describeFile(path string, r *ProbeResult) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	r.Mode = fmt.Sprintf("%04o", fi.Mode().Perm())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		r.UID, r.GID = int(st.Uid), int(st.Gid)
	}
	if fi.Mode().IsRegular() {
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrPermission) {
			return err
		}
		r.Content = string(b)
	}
	return nil
}

// LoadAnswered is the line a load probe run as a command writes to
// stderr at its first answer: the caller knows the load is under way.
const LoadAnswered = "load: answered"

// runProbe is `demoapp probe KIND ARG`: exit 0 when the probe worked. A
// load probe runs until stdin closes.
func runProbe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: demoapp probe resolve NAME | fetch URL | file PATH | latency URL | rate URL | throughput URL | load URL")
		return 2
	}
	var r ProbeResult
	if args[0] == "load" {
		r = runLoad(ctx, args[1], stdin, stderr)
	} else {
		r = probe(ctx, args[0], args[1])
	}
	_ = json.NewEncoder(stdout).Encode(r)
	if r.Err != "" {
		return 1
	}
	return 0
}

// runLoad is the load probe as a command: it ends when stdin closes, or
// at loadTimeout.
func runLoad(ctx context.Context, url string, stdin io.Reader, stderr io.Writer) ProbeResult {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, stdin) // until EOF or an error: either ends the load
		cancel()
	}()
	var r ProbeResult
	if err := load(ctx, url, &r, func() { fmt.Fprintln(stderr, LoadAnswered) }); err != nil {
		r.Err = err.Error()
	}
	return r
}

// probeHandler serves GET /probe/{kind}?arg=ARG. A load probe runs until
// the client goes away, so its answer is lost: run it with docker exec.
func probeHandler(w http.ResponseWriter, req *http.Request) {
	r := probe(req.Context(), req.PathValue("kind"), req.URL.Query().Get("arg"))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(r) // a failed write means the client went away
}
