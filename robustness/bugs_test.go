package robustness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// Scenarios of the bugs the randomized suite found, reduced to tests that
// reproduce them in seconds. All three were fixed in d88d899 ("raft: fix
// three bugs the robustness suite found"); they stay as regression tests.
// Each comment keeps the diagnosis as it was made.

func regression(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf("REGRESSION: "+format, args...)
}

// TestBugProposeHangsAfterShutdown: a write proposed on a leader while
// the node shuts down may never return, whatever its context says.
//
// Found by the in-process level (restart faults): an API handler was
// still blocked in raft.Node.Propose minutes after its manager stopped,
// and a Stop of the orchestrator or scheduler in the middle of a Propose
// waits as long.
//
// Diagnosis: Node.applyLocal calls hashicorp/raft's Apply and then
// waits on ApplyFuture.Error() with no way out. Raft enqueues the future
// on its applyCh, which is buffered (Config.BatchApplyCh is set); when
// Raft shuts down, the futures still in that buffer, or sent into it
// while shutdownCh is already closed (Apply's select picks either ready
// case at random), are never answered, and a log future has no
// ShutdownCh: Error() blocks forever (hashicorp/raft#498, open).
// ProposeEncoded and ApplyLocal pass their ctx nowhere near that wait.
//
// Fix (proposed, then made in d88d899): give applyLocal the caller's ctx and
// wait for the future in a select with ctx.Done() and n.shutdownCh:
//
//	done := make(chan error, 1)
//	go func() { done <- f.Error() }()
//	select {
//	case err = <-done:
//	case <-n.shutdownCh:
//		return nil, ErrUnknownOutcome // the entry may be committed
//	case <-ctx.Done():
//		return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
//	}
//
// The outcome must be ErrUnknownOutcome, not ErrShutdown: the HTTP
// forwarder turns ErrShutdown into ErrNotSent and the forwarding manager
// retries, which applies the command twice if the entry was committed
// (hraft.ErrRaftShutdown can answer an entry that was already committed,
// from processLogs).
func TestBugProposeHangsAfterShutdown(t *testing.T) {
	const attempts, writers = 10, 40
	for a := range attempts {
		c := rafttest.New(t, 1)
		m := c.Leader(10 * time.Second)
		n := m.Node
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var mu sync.Mutex
		var stuck int
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					done := make(chan struct{})
					go func() {
						_, _ = n.Propose(ctx, state.NewCommand(state.Op{Type: state.OpNoop}))
						close(done)
					}()
					select {
					case <-done:
						cancel()
					case <-time.After(5 * time.Second):
						cancel()
						mu.Lock()
						stuck++
						mu.Unlock()
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(20+a*7) * time.Millisecond)
		_ = n.Shutdown()
		close(stop)
		wg.Wait()
		if stuck > 0 {
			regression(t, "attempt %d: %d of %d Propose calls still blocked 5 s after Shutdown and 4 s past their context deadline "+
				"(raft.Node.applyLocal waits on hashicorp/raft's ApplyFuture.Error() with no way out; hashicorp/raft#498)", a+1, stuck, writers)
		}
	}
}

// TestBugLeadershipTransferAnswers500: a write that reaches the leader
// while it hands its leadership over (a manager stopping cleanly does
// that first) fails with the untyped error "raft: apply: leadership
// transfer in progress", which the API answers with 500, the status it
// keeps for bugs; clients cannot tell whether the write applied.
//
// Found by the in-process level (restart faults): dozens of creates,
// updates and removes per run answered 500 with that message.
//
// Diagnosis: Node.applyLocal maps hraft.ErrNotLeader and
// ErrEnqueueTimeout to ErrNotLeader but lets
// hraft.ErrLeadershipTransferInProgress through as a plain error. Raft
// refuses the entry before appending it, so nothing was written.
//
// Fix (proposed, then made in d88d899; applyLocal and ChangeMembershipLocal):
// map hraft.ErrLeadershipTransferInProgress to ErrNotLeader as well, so
// that ProposeEncoded (and a forwarding follower) waits for the new
// leader and sends the write there.
func TestBugLeadershipTransferAnswers500(t *testing.T) {
	c := rafttest.New(t, 3)
	var bad []string
	for range 10 {
		l := c.Leader(10 * time.Second)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := l.Node.Propose(ctx, state.NewCommand(state.Op{Type: state.OpNoop}))
					cancel()
					if err != nil && !typedProposeError(err) {
						mu.Lock()
						bad = append(bad, err.Error())
						mu.Unlock()
						time.Sleep(time.Millisecond)
					}
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		_ = l.Node.TransferLeadership()
		time.Sleep(50 * time.Millisecond)
		close(stop)
		wg.Wait()
	}
	if len(bad) > 0 {
		regression(t, "%d writes during leadership transfers failed with an untyped error the API answers 500, e.g. %q", len(bad), bad[0])
	}
}

// typedProposeError tells whether err is one of the errors Propose
// documents, each of which the API maps to a meaningful status.
func typedProposeError(err error) bool {
	return errors.Is(err, raft.ErrNoQuorum) || errors.Is(err, raft.ErrUnknownOutcome) ||
		errors.Is(err, raft.ErrShutdown) || errors.Is(err, context.DeadlineExceeded) || state.AsError(err) != nil
}

// TestBugForwardedConnectionLostAnswers500: when the leader dies while a
// follower's forwarded write or read index is in flight, the follower's
// API answers 500 with the transport error ("forwarding to ...:
// connection reset by peer"); for a write it should say that the outcome
// is unknown (503), and a read should simply be retried with the next
// leader.
//
// Found by both levels (kill faults with the HTTP forwarder): a few 500s
// per run.
//
// Diagnosis: HTTPForwarder.do wraps a transport error that happened after
// the request was sent as "forwarding to %s: %w", which is none of
// ErrNotSent, ErrNotLeader or ErrUnknownOutcome: ProposeEncoded and
// ReadBarrier return it as is and api.statusOf falls through to 500.
//
// Fix (proposed, then made in d88d899): in HTTPForwarder.Apply, wrap such an
// error with ErrUnknownOutcome ("%w: forwarding to %s: %v"); in
// ReadBarrier, retry a ReadIndex that failed in transport like one that
// was not sent (a read index has no effect, so asking again is safe).
func TestBugForwardedConnectionLostAnswers500(t *testing.T) {
	cfg := runConfig{Seed: 1, Managers: 3, Forwarder: "http"}
	c := newIPCluster(t, cfg, &eventLog{start: time.Now()})
	leader := c.leader(10 * time.Second)
	var follower *ipMember
	for _, m := range c.members {
		if m != leader {
			follower = m
			break
		}
	}
	gate := make(chan struct{})
	leader.mu.Lock()
	leader.rpcGate = gate
	leader.mu.Unlock()
	answers := make(chan svcOutput, 2)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		answers <- follower.client.create(ctx, svcInput{Kind: opCreate, Name: "web", Replicas: 1, Label: "a"}, "app:1")
	}()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		answers <- follower.client.read(ctx, "web")
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.hn.stuck(0)) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	c.kill(leader)
	close(gate)
	var bad []string
	for range 2 {
		if o := <-answers; o.Status == 500 {
			bad = append(bad, fmt.Sprintf("%d %s", o.Status, o.Msg))
		}
	}
	if len(bad) > 0 {
		regression(t, "a follower answered %d calls whose forwarded request lost its connection with 500: %q", len(bad), bad)
	}
}

// TestBugFrozenLeaderStallsForwardedCalls: while the leader is frozen
// (SIGSTOP, a VM pause: its connections accept and nothing answers), a
// write or a read sent to a follower waits for the frozen leader until
// the API's 30 s deadline, although the other managers elect a new
// leader within about a second.
//
// Found by a hostile probe of issue 21 (finding 5), three manager
// processes and kill -STOP of the leader: "write outcome unknown" after
// 30 s, the next write fine at once. The multi-process freeze-leader
// fault checks it too.
//
// Diagnosis: Node.ProposeEncoded and ReadBarrier forwarded with the
// caller's context only; the follower's own view of leadership (a new
// leader, or none after its heartbeat timeout) was never consulted while
// a call was in flight.
//
// Fix (state/raft forward): a forwarded call ends as soon as the
// follower stops following the leader it went to; a read index is then
// asked of the new leader, a write answers "write outcome unknown", or is
// sent again through the new leader when a second application would be
// refused by its own preconditions (state.Command.SafeToRetry: here, an
// update naming the version it read).
func TestBugFrozenLeaderStallsForwardedCalls(t *testing.T) {
	cfg := runConfig{Seed: 1, Managers: 3, Forwarder: "http"}
	c := newIPCluster(t, cfg, &eventLog{start: time.Now()})
	leader := c.leader(10 * time.Second)
	others := c.others(leader)
	setup, cancelSetup := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelSetup()
	if o := others[0].client.create(setup, svcInput{Kind: opCreate, Name: "web", Replicas: 1, Label: "a"}, "app:1"); o.Outcome != outOK {
		t.Fatalf("create: %v", describeOutput(o))
	}
	read := others[0].client.read(setup, "web")
	if read.Outcome != outOK {
		t.Fatalf("read: %v", describeOutput(read))
	}
	// Freeze: Raft links cut (its own timers go on, in-process), and every
	// HTTP request to it held.
	for _, o := range others {
		c.nw.Cut(leader.addr, o.addr)
	}
	c.hn.pause(leader.addr)
	defer c.healLinks()
	type answer struct {
		what string
		out  svcOutput
		at   time.Time
	}
	answers := make(chan answer, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		o := others[0].client.update(ctx, svcInput{Kind: opUpdate, Name: "web", ID: read.ID, Version: read.Version, Replicas: 2, Label: "b"}, "app:1")
		answers <- answer{"update", o, time.Now()}
	}()
	go func() {
		o := others[1].client.read(ctx, "web")
		answers <- answer{"read", o, time.Now()}
	}()
	var elected time.Time
	for deadline := time.Now().Add(10 * time.Second); elected.IsZero() && time.Now().Before(deadline); {
		for _, o := range others {
			if n, _ := o.current(); n != nil && n.Ready() {
				elected = time.Now()
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	if elected.IsZero() {
		t.Fatal("no new leader within 10 s of the freeze")
	}
	if held := c.hn.heldCount(); held < 2 {
		t.Fatalf("the frozen leader held %d requests: the scenario did not happen", held)
	}
	const bound = 2 * time.Second
	for range 2 {
		select {
		case a := <-answers:
			t.Logf("%s answered %v after the election: %d %s", a.what, a.at.Sub(elected).Round(time.Millisecond), a.out.Status, a.out.Msg)
			if a.out.Status >= 500 || a.out.Status == 0 {
				regression(t, "%s through a follower while the leader was frozen answered %d %s", a.what, a.out.Status, a.out.Msg)
			}
			if a.what == "update" && a.out.Outcome != outOK {
				regression(t, "an update held by the frozen leader was not sent again through the new one: %d %s", a.out.Status, a.out.Msg)
			}
		case <-time.After(time.Until(elected.Add(bound))):
			regression(t, "a call through a follower still waits for the frozen leader %v after the new leader was elected", bound)
		}
	}
}

var flagKnownBugs = flag.Bool("known-bugs", false, "fail, rather than skip, the scenarios of bugs not fixed yet")

// knownBug ends the scenario of a bug not fixed yet: a skip that says so
// (the suite stays usable for everybody meanwhile), or a failure with
// -known-bugs. The randomized runs still fail when they hit it.
func knownBug(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if *flagKnownBugs {
		t.Fatal("KNOWN BUG: " + msg)
	}
	t.Skip("KNOWN BUG reproduced (-known-bugs fails it): " + msg)
}

// TestBugLeaderReadIndexBehindCommit: a linearizable read can miss a
// write that an earlier linearizable read, through another manager,
// already returned.
//
// Found by the in-process level (seed 40803277861, 5 managers): a read of
// svc-3 through node3 returned the service just created; the update the
// same client then sent through node2 was answered 404 "service ... not
// found" by node2's read barrier and view, although every later read saw
// the service.
//
// Diagnosis: ReadIndexLocal answers with the leader's store index, the
// last entry its FSM applied, not its commit index. Raft commits an entry
// before the leader's FSM applies it, and a follower learns the new commit
// index from the next AppendEntries and may apply the entry before the
// leader does. A read through that follower returns the entry; a read
// that starts afterwards through the leader, or through any follower
// whose store is behind, gets the leader's older applied index as its
// read index and misses it. (The entry is not acknowledged yet, so no
// acknowledged write is lost, but reads go back in time: R1 saw W, then
// R2, which started after R1 ended, did not.) The scenario stalls the
// leader's FSM (a ViewAndWatch callback holds the store's writer lock)
// while a follower applies a new entry.
//
// Proposed fix (state/raft/node.go): the read index is the leader's
// commit index, read before VerifyLeader (raft.CommitIndex()), and every
// reader, the leader included, waits until its own store has applied the
// entries up to it. hashicorp/raft does not hand LogNoop and LogBarrier
// entries to the FSM, so the store index may never equal a commit index
// that ends on one: wait until store.Index() >= idx, or until
// raft.AppliedIndex() >= idx and no command or configuration entry lies
// in (store.Index(), idx] (look them up in the log store), and make the
// FSM wake WaitForIndex waiters for that case too. ReadBarrier's leader
// branch must wait like the followers (today it ignores the index).
func TestBugLeaderReadIndexBehindCommit(t *testing.T) {
	c := rafttest.New(t, 3)
	leader := c.Leader(10 * time.Second)
	var follower *rafttest.Member
	for _, m := range c.Members {
		if m != leader {
			follower = m
			break
		}
	}
	c.WaitConverged(10 * time.Second)

	// Stall the leader's FSM: Apply waits for the store's lock.
	release := make(chan struct{})
	stalled := make(chan struct{})
	go func() {
		w, err := leader.Store.ViewAndWatch(func(state.ReadTx) error {
			close(stalled)
			<-release
			return nil
		})
		if err == nil {
			w.Close()
		}
	}()
	<-stalled
	var once sync.Once
	defer once.Do(func() { close(release) })

	svc := &model.Service{ID: model.NewID(), Spec: model.ServiceSpec{Annotations: model.Annotations{Name: "web"},
		Task: model.TaskSpec{Container: model.ContainerSpec{Image: "app:1"}}}}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = follower.Node.Propose(ctx, state.NewCommand(state.Op{Type: state.OpCreateService, Service: svc}))
	}()

	// R1, through the follower, once it has applied the committed entry.
	seen := func(m *rafttest.Member) (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := m.Node.ReadBarrier(ctx); err != nil {
			return false, err
		}
		var found bool
		_ = m.Store.View(func(tx state.ReadTx) error { found = tx.GetService(svc.ID) != nil; return nil })
		return found, nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ok, err := seen(follower); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Skip("the follower did not apply the entry while the leader's FSM was stalled; nothing to check")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// R2, through the leader, after R1 returned the service. A correct
	// read waits for the leader's FSM, which resumes a little later.
	r2 := make(chan bool, 1)
	go func() {
		ok, err := seen(leader)
		if err != nil {
			t.Logf("read through the leader: %v", err)
		}
		r2 <- ok || err != nil
	}()
	time.Sleep(300 * time.Millisecond)
	once.Do(func() { close(release) })
	if !<-r2 {
		knownBug(t, "a linearizable read through the leader missed service %s, which a linearizable read through %s had returned before it started "+
			"(the read index is the leader's applied index, not its commit index)", short(svc.ID), follower.ID)
	}
}
