package dispatcher_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dispatcher"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// TestScaleThousandSessions serves 1,000 nodes from one dispatcher, each
// with its own mutual TLS connection, session stream and heartbeats at the
// default 1 s period, all in this process. It checks that every node is
// READY and stays READY, that each gets its task, and that a change to
// every task reaches every node, and it reports the times and the CPU the
// whole process (dispatcher, Raft and the 1,000 clients) uses.
func TestScaleThousandSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	nodes := 1000
	if raceEnabled {
		nodes = 200 // the race detector slows everything about tenfold
	}
	h := newHarness(t, 1, time.Second, func(c *dispatcher.Config) {
		c.Logger = testutil.Logger(t, slog.LevelWarn)
		c.WriteTimeout = 2 * time.Second // shorter than the hold below: idle streams must survive it
		c.MaxHeartbeatRate = 0           // 1,000 heartbeats a second: the uncapped worst case
	})
	leader := h.leader()
	addr := h.addr(leader.ID)

	ids := make([]string, nodes)
	var ops []state.Op
	for i := range ids {
		ids[i] = fmt.Sprintf("scale-%04d", i)
		ops = append(ops, state.Op{Type: state.OpCreateNode, Node: &model.Node{
			ID:     ids[i],
			Spec:   model.NodeSpec{DesiredRole: model.RoleWorker, Availability: model.AvailabilityActive},
			Role:   model.RoleWorker,
			Status: model.NodeStatus{State: model.NodeStateUnknown},
		}})
	}
	h.propose(leader, ops...)
	_, tasks := h.addService("scale", ids...)

	// Count every DOWN the dispatcher writes from now on.
	var downs atomic.Int64
	w := leader.Store.Watch(state.WithFilter(func(e state.Event) bool {
		n, ok := e.Object.(*model.Node)
		return ok && n.Status.State == model.NodeStateDown
	}))
	defer w.Close()
	go func() {
		for {
			b, err := w.Next(context.Background())
			if err != nil {
				return
			}
			for _, batch := range b {
				downs.Add(int64(len(batch.Events)))
			}
		}
	}()

	// Certificates and clients.
	clients := make([]*scaleNode, nodes)
	for i, id := range ids {
		cert := h.cert(id, model.RoleWorker)
		cfg, err := ca.ClientTLSConfig(&cert, h.root)
		if err != nil {
			t.Fatal(err)
		}
		tr := protocol.NewTransport(func() (*tls.Config, error) { return cfg, nil }, 10*time.Second)
		clients[i] = &scaleNode{
			id:     id,
			want:   tasks[id][0],
			client: &protocol.Client{HTTP: &http.Client{Transport: tr}, Addr: addr, NodeID: id},
			tr:     tr,
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		for _, c := range clients {
			c.tr.CloseIdleConnections()
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // handshakes in flight
	errs := make(chan error, nodes)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			err := c.open(ctx)
			<-sem
			if err != nil {
				errs <- fmt.Errorf("%s: %w", c.id, err)
				return
			}
			go c.heartbeats(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	opened := time.Since(start)

	countReady := func() int {
		n := 0
		_ = leader.Store.View(func(tx state.ReadTx) error {
			for _, id := range ids {
				if tx.GetNode(id).Status.State == model.NodeStateReady {
					n++
				}
			}
			return nil
		})
		return n
	}
	waitFor(t, time.Minute, "every node READY", func() bool { return countReady() == nodes })
	allReady := time.Since(start)
	waitFor(t, time.Minute, "every full set", func() bool {
		for _, c := range clients {
			if !c.gotTask.Load() {
				return false
			}
		}
		return true
	})

	// Steady state: heartbeats only.
	hold := 5 * time.Second
	cpu0, wall0 := cpuTime(), time.Now()
	time.Sleep(hold)
	cpu := cpuTime() - cpu0
	steady := time.Since(wall0)
	if n := countReady(); n != nodes {
		t.Fatalf("%d of %d nodes READY after %v of heartbeats", n, nodes, hold)
	}
	if d := downs.Load(); d != 0 {
		t.Fatalf("%d nodes went DOWN", d)
	}

	// One write changes every task: each node gets its change.
	var all []string
	for _, id := range ids {
		all = append(all, tasks[id][0])
	}
	changed := time.Now()
	for _, c := range clients {
		c.changedAt.Store(changed.UnixNano())
	}
	h.propose(leader, state.Op{Type: state.OpSetTasksDesired, IDs: all, DesiredState: model.TaskStateShutdown})
	committed := time.Since(changed)
	waitFor(t, time.Minute, "every node's update", func() bool {
		for _, c := range clients {
			if c.shutdownAt.Load() == 0 {
				return false
			}
		}
		return true
	})
	var slowest time.Duration
	for _, c := range clients {
		if d := time.Duration(c.shutdownAt.Load() - changed.UnixNano()); d > slowest {
			slowest = d
		}
	}
	t.Logf("%d sessions: all opened (TLS + session) in %v, all READY in the store after %v", nodes, opened.Round(time.Millisecond), allReady.Round(time.Millisecond))
	t.Logf("steady state, %d heartbeats/s: process CPU %.1f%% of one core over %v (dispatcher, Raft and all clients in one process)",
		nodes, 100*cpu.Seconds()/steady.Seconds(), steady.Round(time.Millisecond))
	t.Logf("one write changing %d tasks (committed in %v) reached the last node after %v; %d Raft writes by the dispatcher in all",
		nodes, committed.Round(time.Millisecond), slowest.Round(time.Millisecond), h.writes.Load())
	if got := h.manager(leader.ID).d.Sessions(); got != nodes {
		t.Fatalf("dispatcher has %d sessions, want %d", got, nodes)
	}
}

type scaleNode struct {
	id     string
	want   string
	client *protocol.Client
	tr     *http.Transport

	session    string
	period     time.Duration
	gotTask    atomic.Bool
	changedAt  atomic.Int64
	shutdownAt atomic.Int64
}

func (c *scaleNode) open(ctx context.Context) error {
	s, err := c.client.OpenSession(ctx, protocol.SessionRequest{Description: &model.NodeDescription{Hostname: c.id}})
	if err != nil {
		return err
	}
	first, err := s.Next()
	if err != nil {
		return err
	}
	c.session, c.period = first.Session.ID, first.Session.HeartbeatPeriod
	go func() {
		for {
			m, err := s.Next()
			if err != nil {
				return
			}
			if m.Type != protocol.MessageAssignments {
				continue
			}
			for _, task := range m.Assignments.Tasks {
				if task.ID != c.want {
					continue
				}
				c.gotTask.Store(true)
				if task.DesiredState == model.TaskStateShutdown && c.changedAt.Load() != 0 {
					c.shutdownAt.CompareAndSwap(0, time.Now().UnixNano())
				}
			}
		}
	}()
	return nil
}

func (c *scaleNode) heartbeats(ctx context.Context) {
	// Spread the first heartbeats over a period, as agents started at
	// different times would be.
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(c.period))))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		resp, err := c.client.Heartbeat(ctx, protocol.HeartbeatRequest{SessionID: c.session})
		if err != nil {
			return
		}
		timer.Reset(resp.Period)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
