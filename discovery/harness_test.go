package discovery

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/discovery/gossiptest"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
)

// testLogger sends logs to t.Log until the test's cleanup, then drops them:
// memberlist goroutines may log a little after Shutdown. Call it before
// starting members, so its cleanup runs after their shutdowns.
func testLogger(t testing.TB, level slog.Level) *slog.Logger { return testutil.Logger(t, level) }

// recorder is an EventHandler that keeps every event with its time.
type recorder struct {
	mu     sync.Mutex
	events []recorded
}

type recorded struct {
	Event
	at time.Time
}

func (r *recorder) HandleEvent(e Event) {
	r.mu.Lock()
	r.events = append(r.events, recorded{e, time.Now()})
	r.mu.Unlock()
}

// first returns the time of the first event of type typ about node id.
func (r *recorder) first(typ EventType, id string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Type == typ && e.Member.NodeID == id {
			return e.at, true
		}
	}
	return time.Time{}, false
}

// count returns the number of events of type typ, about any node if id is
// empty.
func (r *recorder) count(typ EventType, id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == typ && (id == "" || e.Member.NodeID == id) {
			n++
		}
	}
	return n
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		fmt.Fprintf(&b, "%s %s %s; ", e.at.Format("15:04:05.000"), e.Type, e.Member.NodeID)
	}
	return b.String()
}

// cluster is a set of members on one gossiptest.Network.
//
// Tests that measure time (detection, stalls, rotation, leaves) do not run
// in parallel: on a shared 2-CPU machine, with the race detector, several
// clusters at once starve each other of CPU and miss probe timeouts.
type cluster struct {
	t       *testing.T
	net     *gossiptest.Network
	profile Config
	key     []byte
	log     *slog.Logger

	mu      sync.Mutex
	byID    map[string]*node // the latest member started with each ID
	all     []*node          // every member started, for cleanup
	removed map[string]bool
}

type node struct {
	g   *Gossip
	tr  *gossiptest.Transport
	rec *recorder
}

func newCluster(t *testing.T, profile Config) *cluster {
	c := &cluster{
		t:       t,
		net:     gossiptest.NewNetwork(),
		profile: profile,
		key:     bytes.Repeat([]byte{0xA1}, 32),
		log:     testLogger(t, slog.LevelWarn),
		byID:    make(map[string]*node),
		removed: make(map[string]bool),
	}
	t.Cleanup(func() {
		c.mu.Lock()
		all := c.all
		c.mu.Unlock()
		for _, n := range all {
			_ = n.g.Shutdown()
		}
		c.net.Close()
	})
	return c
}

// isRemoved is the clusters' IsRemoved: one removed list for all members.
func (c *cluster) isRemoved(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removed[id]
}

func (c *cluster) remove(id string) {
	c.mu.Lock()
	c.removed[id] = true
	c.mu.Unlock()
}

// config returns the profile with the identity of member id and the
// cluster's key and transport.
func (c *cluster) config(id string) Config {
	cfg := c.profile
	cfg.NodeID = id
	cfg.Role = model.RoleWorker
	if strings.HasPrefix(id, "m") {
		cfg.Role = model.RoleManager
		cfg.ClusterAddr = id + ".example:2377"
	}
	cfg.Keys = [][]byte{c.key}
	cfg.Logger = c.log
	cfg.IsRemoved = c.isRemoved
	return cfg
}

// start starts member id with cfg (see config) and joins it to the members
// in join, by name.
func (c *cluster) start(cfg Config, join ...string) (*node, error) {
	tr := c.net.NewTransport(cfg.NodeID)
	rec := &recorder{}
	cfg.Transport = tr
	cfg.Events = rec
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	n := &node{g: g, tr: tr, rec: rec}
	c.mu.Lock()
	c.byID[cfg.NodeID] = n
	c.all = append(c.all, n)
	c.mu.Unlock()
	if len(join) > 0 {
		var addrs []string
		for _, j := range join {
			addrs = append(addrs, c.node(j).tr.Addr())
		}
		if _, err := g.Join(addrs); err != nil {
			return n, err
		}
	}
	return n, nil
}

// mustStart starts members ids, each joining the first.
func (c *cluster) mustStart(ids ...string) []*node {
	c.t.Helper()
	var out []*node
	for i, id := range ids {
		var join []string
		if i > 0 {
			join = []string{ids[0]}
		}
		n, err := c.start(c.config(id), join...)
		if err != nil {
			c.t.Fatalf("start %s: %v", id, err)
		}
		out = append(out, n)
	}
	return out
}

// node returns the latest member started with ID id.
func (c *cluster) node(id string) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.byID[id]
	if !ok {
		c.t.Fatalf("no member %s", id)
	}
	return n
}

// states returns how member n sees each member, as "id=state".
func states(n *node) map[string]MemberState {
	out := make(map[string]MemberState)
	for _, m := range n.g.Members() {
		out[m.NodeID] = m.State
	}
	return out
}

// waitFor polls cond every 10 ms until it holds or timeout passes; then it
// fails the test with every member's view.
func (c *cluster) waitFor(timeout time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s; views:\n%s", timeout, what, c.views())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// views describes how every running member sees the others, and its events.
func (c *cluster) views() string {
	c.mu.Lock()
	all := slices.Clone(c.all)
	c.mu.Unlock()
	var b strings.Builder
	for _, n := range all {
		if n.g.isShutdown() {
			continue
		}
		fmt.Fprintf(&b, "%s: %v\n  events: %s\n", n.g.cfg.NodeID, states(n), n.rec)
	}
	return b.String()
}

// waitEvents waits until every node in nodes has received at least n
// events of type typ about id: events are delivered a little after the
// member table changes.
func (c *cluster) waitEvents(nodes []*node, typ EventType, id string, n int) {
	c.t.Helper()
	c.waitFor(time.Second, fmt.Sprintf("%d %s events about %s", n, typ, id), func() bool {
		for _, o := range nodes {
			if o.rec.count(typ, id) < n {
				return false
			}
		}
		return true
	})
}

// allSee reports whether every observer lists every member of ids in state.
func allSee(observers []*node, st MemberState, ids ...string) bool {
	for _, o := range observers {
		s := states(o)
		for _, id := range ids {
			if s[id] != st && !(st == StateAlive && s[id] == StateSuspect) {
				return false
			}
		}
	}
	return true
}
