// Command gossip benchmarks the discovery package: many gossip members in
// one process on loopback, on the real UDP/TCP transport with encryption,
// measuring CPU, bytes per node and the time a membership change takes to
// reach every member.
//
//	go run ./bench/gossip -members 200 -duration 30s
//	go run ./bench/gossip -members 10 -profile wan -kills 2 -joins 1 -duration 10s
//	go run ./bench/gossip -members 20 -stalls 1s,2s,3s -kills 0 -joins 0 -duration 5s
//
// Phases: the members start and join one after the other (each through the
// first member and a random earlier one); once every member sees every
// other, steady-state CPU and traffic are measured for -duration; then
// -kills members are shut down without leaving, one at a time (time until
// the first and until every other member reports it failed), -joins members
// are started (time until every member reports the join), one member leaves
// gracefully, and each -stalls duration cuts one member off (it neither
// sends nor receives) for that long to see whether anybody declares it
// failed. All members run in this process, so CPU is that of the whole
// cluster; bytes are counted on the wire, after encryption.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/discovery"
	"github.com/shoal-dev/shoal/model"
)

func main() {
	members := flag.Int("members", 200, "members in the cluster")
	duration := flag.Duration("duration", 30*time.Second, "steady-state measurement")
	profileName := flag.String("profile", "lan", "timing profile: lan, local or wan")
	kills := flag.Int("kills", 3, "members crashed one after the other")
	joins := flag.Int("joins", 3, "members joined one after the other")
	stallList := flag.String("stalls", "", "comma-separated durations a member is cut off for, e.g. 1s,2s,3s")
	verbose := flag.Bool("v", false, "print gossip warnings and errors")
	flag.Parse()

	profile, ok := map[string]discovery.Config{
		"lan":   discovery.DefaultLANConfig(),
		"local": discovery.DefaultLocalConfig(),
		"wan":   discovery.DefaultWANConfig(),
	}[*profileName]
	if !ok {
		log.Fatalf("unknown profile %q", *profileName)
	}
	var stalls []time.Duration
	if *stallList != "" {
		for _, s := range strings.Split(*stallList, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(s))
			if err != nil {
				log.Fatalf("-stalls: %v", err)
			}
			stalls = append(stalls, d)
		}
	}

	b := newBench(profile, *verbose)
	b.header(*profileName, *members)
	if err := b.run(*members, *duration, *kills, *joins, stalls); err != nil {
		log.Fatal(err)
	}
}

// bench is a cluster of members and what it observed.
type bench struct {
	profile discovery.Config
	key     []byte
	logs    *logCounter
	out     *tabwriter.Writer

	mu        sync.Mutex
	members   []*member
	events    map[eventKey]time.Time // first time observer saw the event about subject
	failed    map[string]int         // failure events per subject, all observers
	disturbed map[string]bool        // members crashed or stalled on purpose

	joinRetries atomic.Int64
}

type eventKey struct {
	observer, subject string
	typ               discovery.EventType
}

type member struct {
	id   string
	gone bool // crashed or left
	g    *discovery.Gossip
	tr   *countingTransport
}

func newBench(profile discovery.Config, verbose bool) *bench {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	return &bench{
		profile:   profile,
		key:       key,
		logs:      &logCounter{verbose: verbose},
		out:       tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0),
		events:    make(map[eventKey]time.Time),
		failed:    make(map[string]int),
		disturbed: make(map[string]bool),
	}
}

func (b *bench) header(profile string, n int) {
	fmt.Printf("command:  %s\n", strings.Join(os.Args, " "))
	fmt.Printf("machine:  %d CPUs (GOMAXPROCS %d), %s, %s %s/%s; load average %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH, loadAvg())
	p := b.profile
	t := p.Timing(n)
	fmt.Printf("profile:  %s: probe %v/%v, suspicion mult %d (max ×%d), gossip %v to %d, push/pull %v, indirect %d; encrypted AES-256-GCM\n",
		profile, p.ProbeInterval, p.ProbeTimeout, p.SuspicionMult, p.SuspicionMaxTimeoutMult, p.GossipInterval, p.GossipNodes, p.PushPullInterval, p.IndirectChecks)
	fmt.Printf("expected: at %d members: suspicion %v..%v, detection ~%v, stall tolerance ~%v\n\n",
		n, t.SuspicionMin.Round(time.Millisecond), t.SuspicionMax.Round(time.Millisecond), t.Detection.Round(time.Millisecond), t.StallTolerance.Round(time.Millisecond))
}

func (b *bench) run(n int, duration time.Duration, kills, joins int, stalls []time.Duration) error {
	defer b.shutdown()

	// Start and join.
	start := time.Now()
	for i := range n {
		if _, err := b.start(fmt.Sprintf("node-%03d", i)); err != nil {
			return err
		}
		if (i+1)%50 == 0 {
			fmt.Fprintf(os.Stderr, "started %d members in %v\n", i+1, time.Since(start).Round(time.Millisecond))
		}
	}
	joined := time.Since(start)
	if err := b.waitConverged(2 * time.Minute); err != nil {
		return err
	}
	converged := time.Since(start)
	fmt.Printf("startup:  %d members joined in %v (%d join retries); every member saw every other after %v\n\n", n, joined.Round(time.Millisecond), b.joinRetries.Load(), converged.Round(time.Millisecond))

	// Steady state.
	time.Sleep(2 * b.profile.ProbeInterval)
	b.measureSteady(n, duration)

	// Crashes, each followed by a replacement so that the size stays n.
	if kills > 0 {
		fmt.Fprintln(b.out, "crash (shutdown without leave)\tfirst member reports failed\tall members report failed\tmembers whose view showed it suspect")
		var firsts, alls []time.Duration
		for i := range kills {
			first, all, err := b.crash()
			if err != nil {
				return err
			}
			firsts, alls = append(firsts, first), append(alls, all)
			if _, err := b.start(fmt.Sprintf("repl-%03d", i)); err != nil {
				return err
			}
			if err := b.waitConverged(time.Minute); err != nil {
				return err
			}
			time.Sleep(2 * b.profile.ProbeInterval)
		}
		if kills > 1 {
			fmt.Fprintf(b.out, "min / median / max of %d\t%s\t%s\t\n", kills, spread(firsts), spread(alls))
		}
		b.out.Flush()
		fmt.Println()
	}

	// Joins and a leave.
	if joins > 0 {
		fmt.Fprintln(b.out, "join\tJoin() returned\tall members report the join")
		for i := range joins {
			if err := b.join(fmt.Sprintf("new-%03d", i)); err != nil {
				return err
			}
			time.Sleep(2 * b.profile.ProbeInterval)
		}
		if err := b.leave(); err != nil {
			return err
		}
		b.out.Flush()
		fmt.Println()
	}

	// Stalls.
	if len(stalls) > 0 {
		fmt.Fprintln(b.out, "stall (cut off both ways)\tmembers that declared it failed\tfailures of other members\tits refutations")
		for _, d := range stalls {
			if err := b.stall(d); err != nil {
				return err
			}
		}
		b.out.Flush()
		fmt.Println()
	}

	b.mu.Lock()
	unexpected := b.falseFailures()
	b.mu.Unlock()
	fmt.Printf("false failures (failure events about members never crashed or stalled): %d\n", unexpected)
	fmt.Printf("log records: %s\n", b.logs)
	fmt.Printf("load average at the end: %s (the machine is shared; all members run in this one process)\n", loadAvg())
	return nil
}

// start starts a member and joins it through the first member and a random
// earlier one.
func (b *bench) start(id string) (*member, error) {
	tr, err := newCountingTransport()
	if err != nil {
		return nil, err
	}
	cfg := b.profile
	cfg.NodeID = id
	cfg.Role = model.RoleWorker
	cfg.Keys = [][]byte{b.key}
	cfg.Transport = tr
	cfg.Logger = slog.New(b.logs)
	cfg.Events = discovery.EventHandlerFunc(func(e discovery.Event) { b.record(id, e) })
	g, err := discovery.New(cfg)
	if err != nil {
		return nil, err
	}
	m := &member{id: id, g: g, tr: tr}
	b.mu.Lock()
	seeds := b.alive()
	b.members = append(b.members, m)
	b.mu.Unlock()
	// Retry as a node would: a seed starved of CPU may time out.
	for attempt := 0; len(seeds) > 0; attempt++ {
		addrs := []string{seeds[0].g.AdvertiseAddr(), seeds[mrand.IntN(len(seeds))].g.AdvertiseAddr()}
		_, err := g.Join(addrs)
		if err == nil {
			break
		}
		if attempt == 4 {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		b.joinRetries.Add(1)
		fmt.Fprintf(os.Stderr, "%s: join failed, retrying: %v\n", id, err)
		time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
	}
	return m, nil
}

// alive returns the running members; b.mu is held.
func (b *bench) alive() []*member {
	var out []*member
	for _, m := range b.members {
		if !m.gone {
			out = append(out, m)
		}
	}
	return out
}

// falseFailures counts the failure events about members never crashed or
// stalled on purpose; b.mu is held.
func (b *bench) falseFailures() int {
	n := 0
	for id, c := range b.failed {
		if !b.disturbed[id] {
			n += c
		}
	}
	return n
}

func (b *bench) record(observer string, e discovery.Event) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	k := eventKey{observer, e.Member.NodeID, e.Type}
	if _, ok := b.events[k]; !ok {
		b.events[k] = now
	}
	if e.Type == discovery.EventFailed {
		b.failed[e.Member.NodeID]++
	}
}

// waitConverged waits until every running member sees every other alive.
func (b *bench) waitConverged(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b.mu.Lock()
		ms := b.alive()
		b.mu.Unlock()
		ok := true
		for _, m := range ms {
			alive := 0
			for _, o := range m.g.Members() {
				if o.State == discovery.StateAlive || o.State == discovery.StateSuspect {
					alive++
				}
			}
			if alive < len(ms) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("members did not converge in %v", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *bench) measureSteady(n int, duration time.Duration) {
	b.mu.Lock()
	ms := slices.Clone(b.members)
	b.mu.Unlock()
	before := make([]trafficStats, len(ms))
	for i, m := range ms {
		before[i] = m.tr.stats()
	}
	cpu0, start := cpuTime(), time.Now()
	var heapMax uint64
	for time.Since(start) < duration {
		time.Sleep(min(time.Second, duration))
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		heapMax = max(heapMax, mem.HeapInuse)
	}
	wall, cpu := time.Since(start), cpuTime()-cpu0
	var total trafficStats
	var maxSent float64
	for i, m := range ms {
		d := m.tr.stats().sub(before[i])
		total = total.add(d)
		maxSent = max(maxSent, float64(d.udpBytes+d.tcpBytes)/wall.Seconds())
	}
	secs := wall.Seconds() * float64(len(ms))
	fmt.Fprintf(b.out, "steady state, %d members, %v\tvalue\n", n, wall.Round(time.Millisecond))
	fmt.Fprintf(b.out, "CPU, whole process (all members)\t%.1f%% of one core (%.2f ms CPU per member per second)\n", 100*cpu.Seconds()/wall.Seconds(), 1000*cpu.Seconds()/secs)
	fmt.Fprintf(b.out, "UDP sent per member\t%.0f packets/s, %.0f B/s\n", float64(total.udpPackets)/secs, float64(total.udpBytes)/secs)
	fmt.Fprintf(b.out, "TCP (push/pull) per member, both ways\t%.0f connections/min, %.0f B/s\n", 60*float64(total.tcpConns)/secs, float64(total.tcpBytes)/secs)
	fmt.Fprintf(b.out, "total sent per member (= received)\t%.0f B/s average, %.0f B/s busiest\n", float64(total.udpBytes+total.tcpBytes)/secs, maxSent)
	fmt.Fprintf(b.out, "Go heap in use (max)\t%.1f MiB\n", float64(heapMax)/(1<<20))
	b.out.Flush()
	fmt.Println()
}

// crash shuts a random member down without leaving and measures how long
// the others take to report it failed.
func (b *bench) crash() (first, all time.Duration, err error) {
	b.mu.Lock()
	ms := b.alive()
	victim := ms[1+mrand.IntN(len(ms)-1)] // never the first, the seed
	id := victim.id
	victim.gone = true
	b.disturbed[id] = true
	observers := slices.DeleteFunc(slices.Clone(ms), func(m *member) bool { return m == victim })
	b.mu.Unlock()

	suspected := make(map[string]bool)
	var smu sync.Mutex
	stopWatch := make(chan struct{})
	go func() { // sample who shows it suspect
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, o := range observers {
				if m, ok := o.g.Member(id); ok && m.State == discovery.StateSuspect {
					smu.Lock()
					suspected[o.id] = true
					smu.Unlock()
				}
			}
		}
	}()
	at := time.Now()
	if err := victim.g.Shutdown(); err != nil {
		return 0, 0, err
	}
	first, all, err = b.waitEvent(observers, id, discovery.EventFailed, at, 2*time.Minute)
	close(stopWatch)
	if err != nil {
		return 0, 0, err
	}
	smu.Lock()
	ns := len(suspected)
	smu.Unlock()
	fmt.Fprintf(b.out, "%s\t%v\t%v\t%d of %d (sampled every 20 ms)\n", id, first.Round(time.Millisecond), all.Round(time.Millisecond), ns, len(observers))
	fmt.Fprintf(os.Stderr, "crash %s: failed everywhere after %v\n", id, all.Round(time.Millisecond))
	return first, all, nil
}

// spread formats the minimum, median and maximum of ds.
func spread(ds []time.Duration) string {
	s := slices.Sorted(slices.Values(ds))
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }
	return fmt.Sprintf("%v / %v / %v", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}

// join starts a member and measures how long the others take to see it.
func (b *bench) join(id string) error {
	b.mu.Lock()
	observers := b.alive()
	b.mu.Unlock()
	at := time.Now()
	if _, err := b.start(id); err != nil {
		return err
	}
	joined := time.Since(at)
	_, all, err := b.waitEvent(observers, id, discovery.EventJoin, at, time.Minute)
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "%s\t%v\t%v\n", id, joined.Round(time.Millisecond), all.Round(time.Millisecond))
	return nil
}

// leave makes a random member leave gracefully.
func (b *bench) leave() error {
	b.mu.Lock()
	ms := b.alive()
	m := ms[1+mrand.IntN(len(ms)-1)]
	id := m.id
	m.gone = true
	observers := slices.DeleteFunc(slices.Clone(ms), func(o *member) bool { return o == m })
	b.mu.Unlock()
	at := time.Now()
	if err := m.g.Leave(5 * time.Second); err != nil {
		return err
	}
	left := time.Since(at)
	if err := m.g.Shutdown(); err != nil {
		return err
	}
	_, all, err := b.waitEvent(observers, id, discovery.EventLeave, at, time.Minute)
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "%s leaves gracefully\tLeave() returned after %v\tall report it left after %v\n", id, left.Round(time.Millisecond), all.Round(time.Millisecond))
	return nil
}

// stall cuts a random member off for d, then waits for the longest
// suspicion to run out and counts the failures it caused.
func (b *bench) stall(d time.Duration) error {
	b.mu.Lock()
	ms := b.alive()
	m := ms[1+mrand.IntN(len(ms)-1)]
	id := m.id
	b.disturbed[id] = true
	failedBefore := b.falseFailures()
	b.mu.Unlock()
	refutations := m.g.Health().Refutations

	m.tr.blocked.Store(true)
	time.Sleep(d)
	m.tr.blocked.Store(false)
	t := b.profile.Timing(len(ms))
	time.Sleep(t.SuspicionMax + t.Detection)

	b.mu.Lock()
	declared := 0
	for k := range b.events {
		if k.subject == id && k.typ == discovery.EventFailed {
			declared++
		}
	}
	others := b.falseFailures() - failedBefore
	b.mu.Unlock()
	if err := b.waitConverged(time.Minute); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "%v\t%d of %d\t%d\t%d\n", d, declared, len(ms)-1, others, m.g.Health().Refutations-refutations)
	fmt.Fprintf(os.Stderr, "stall %v: declared failed by %d\n", d, declared)
	return nil
}

// waitEvent waits until every observer has seen an event of type typ about
// id, and returns the times from at to the first and to the last.
func (b *bench) waitEvent(observers []*member, id string, typ discovery.EventType, at time.Time, timeout time.Duration) (first, all time.Duration, err error) {
	deadline := time.Now().Add(timeout)
	for {
		b.mu.Lock()
		seen := 0
		first, all = time.Duration(math.MaxInt64), 0
		for _, o := range observers {
			if t, ok := b.events[eventKey{o.id, id, typ}]; ok && t.After(at) {
				seen++
				first = min(first, t.Sub(at))
				all = max(all, t.Sub(at))
			}
		}
		b.mu.Unlock()
		if seen == len(observers) {
			return first, all, nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%d of %d members saw %s of %s within %v", seen, len(observers), typ, id, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *bench) shutdown() {
	b.mu.Lock()
	ms := slices.Clone(b.members)
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { _ = m.g.Shutdown() })
	}
	wg.Wait()
}

// countingTransport wraps memberlist's UDP/TCP transport and counts what
// its member sends: UDP packets, and both directions of the TCP streams it
// opens (every stream is opened by one member, so each byte on the wire is
// counted once). When blocked, it drops its member's packets and refuses
// its connections, and BlockedAddrs makes the others drop what they send
// to it.
type countingTransport struct {
	*memberlist.NetTransport
	addr    string
	blocked atomic.Bool

	udpPackets, udpBytes, tcpConns, tcpBytes atomic.Uint64
}

var (
	registryMu sync.RWMutex
	registry   = map[string]*countingTransport{} // by address
)

func newCountingTransport() (*countingTransport, error) {
	var nt *memberlist.NetTransport
	var err error
	// Binding TCP and UDP to the same free port can lose a race with
	// another process; memberlist retries the same way.
	for range 10 {
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{"127.0.0.1"},
			BindPort:  0,
			Logger:    log.New(io.Discard, "", 0),
		})
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	t := &countingTransport{NetTransport: nt, addr: net.JoinHostPort("127.0.0.1", fmt.Sprint(nt.GetAutoBindPort()))}
	registryMu.Lock()
	registry[t.addr] = t
	registryMu.Unlock()
	return t, nil
}

var _ memberlist.NodeAwareTransport = (*countingTransport)(nil)

// cut reports whether traffic from t to addr is dropped.
func (t *countingTransport) cut(addr string) bool {
	if t.blocked.Load() {
		return true
	}
	registryMu.RLock()
	dst := registry[addr]
	registryMu.RUnlock()
	return dst != nil && dst.blocked.Load()
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.cut(a.Addr) {
		return time.Now(), nil
	}
	t.udpPackets.Add(1)
	t.udpBytes.Add(uint64(len(b)))
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *countingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.cut(a.Addr) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("cut off by the benchmark")}
	}
	c, err := t.NetTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	t.tcpConns.Add(1)
	return &countingConn{Conn: c, n: &t.tcpBytes}, nil
}

type trafficStats struct{ udpPackets, udpBytes, tcpConns, tcpBytes uint64 }

func (t *countingTransport) stats() trafficStats {
	return trafficStats{t.udpPackets.Load(), t.udpBytes.Load(), t.tcpConns.Load(), t.tcpBytes.Load()}
}

func (s trafficStats) sub(o trafficStats) trafficStats {
	return trafficStats{s.udpPackets - o.udpPackets, s.udpBytes - o.udpBytes, s.tcpConns - o.tcpConns, s.tcpBytes - o.tcpBytes}
}

func (s trafficStats) add(o trafficStats) trafficStats {
	return trafficStats{s.udpPackets + o.udpPackets, s.udpBytes + o.udpBytes, s.tcpConns + o.tcpConns, s.tcpBytes + o.tcpBytes}
}

type countingConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(uint64(n))
	return n, err
}

// logCounter is a slog.Handler that counts records by level, printing
// warnings and errors when verbose.
type logCounter struct {
	verbose              bool
	debug, info, warn, e atomic.Uint64
	mu                   sync.Mutex
}

func (h *logCounter) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo
}

func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	switch {
	case r.Level >= slog.LevelError:
		h.e.Add(1)
	case r.Level >= slog.LevelWarn:
		h.warn.Add(1)
	case r.Level >= slog.LevelInfo:
		h.info.Add(1)
	default:
		h.debug.Add(1)
	}
	if h.verbose && r.Level >= slog.LevelWarn {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "%s %s %s", r.Time.Format("15:04:05.000"), r.Level, r.Message)
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&buf, " %s", a); return true })
		h.mu.Lock()
		fmt.Fprintln(os.Stderr, buf.String())
		h.mu.Unlock()
	}
	return nil
}

func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCounter) WithGroup(string) slog.Handler      { return h }

func (h *logCounter) String() string {
	return fmt.Sprintf("%d info, %d warn, %d error", h.info.Load(), h.warn.Load(), h.e.Load())
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
