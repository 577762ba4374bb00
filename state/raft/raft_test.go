package raft_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

func service(id, name string, replicas uint64) *model.Service {
	return &model.Service{ID: id, Spec: model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "demo"}},
		Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: replicas}},
	}}
}

func propose(ctx context.Context, n *raft.Node, ops ...state.Op) error {
	res, err := n.Propose(ctx, state.NewCommand(ops...))
	if err != nil {
		return err
	}
	return res.Err()
}

func createService(t *testing.T, n *raft.Node, name string) string {
	t.Helper()
	id := model.NewID()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := propose(ctx, n, state.Op{Type: state.OpCreateService, Service: service(id, name, 1)}); err != nil {
		t.Fatalf("create %s via %s: %v", name, n.ID(), err)
	}
	return id
}

// readService reads a service linearizably through node n.
func readService(t *testing.T, n *raft.Node, id string) *model.Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatalf("read barrier on %s: %v", n.ID(), err)
	}
	var s *model.Service
	_ = n.Store().View(func(tx state.ReadTx) error { s = tx.GetService(id); return nil })
	return s
}

func TestElectionAndReplication(t *testing.T) {
	for _, size := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("%d managers", size), func(t *testing.T) {
			c := rafttest.New(t, size)
			leader := c.Leader(5 * time.Second)
			var ids []string
			// Writes through the leader and through every follower.
			ids = append(ids, createService(t, leader.Node, "via-leader"))
			for i, f := range c.Followers() {
				ids = append(ids, createService(t, f.Node, fmt.Sprintf("via-follower-%d", i)))
			}
			// Every manager reads every write linearizably.
			for _, m := range c.Members {
				for _, id := range ids {
					if readService(t, m.Node, id) == nil {
						t.Fatalf("%s does not see service %s after a linearizable read", m.ID, id)
					}
				}
			}
			c.WaitConverged(5 * time.Second)
		})
	}
}

func TestStaleVersionIsOutOfSequence(t *testing.T) {
	c := rafttest.New(t, 3)
	leader := c.Leader(5 * time.Second)
	id := createService(t, leader.Node, "web")
	f := c.Followers()[0]
	s := readService(t, f.Node, id)
	ctx := context.Background()
	// Two clients read the same version; the second update loses.
	first := s.Copy()
	first.Spec.Mode.Replicated.Replicas = 3
	if err := propose(ctx, f.Node, state.Op{Type: state.OpUpdateService, Service: first, Version: s.Version.Index}); err != nil {
		t.Fatal(err)
	}
	second := s.Copy()
	second.Spec.Mode.Replicated.Replicas = 7
	err := propose(ctx, leader.Node, state.Op{Type: state.OpUpdateService, Service: second, Version: s.Version.Index})
	if !errors.Is(err, state.ErrSequence) || err.Error() != "update out of sequence" {
		t.Fatalf("stale update: got %v", err)
	}
	// Forwarded from a follower, the error keeps its identity.
	err = propose(ctx, f.Node, state.Op{Type: state.OpUpdateService, Service: second, Version: s.Version.Index})
	if !errors.Is(err, state.ErrSequence) {
		t.Fatalf("stale update via follower: got %v", err)
	}
	if got := readService(t, leader.Node, id); got.Spec.Replicas() != 3 {
		t.Fatalf("replicas %d, want 3", got.Spec.Replicas())
	}
}

func TestLeaderPartition(t *testing.T) {
	c := rafttest.New(t, 5)
	old := c.Leader(5 * time.Second)
	createService(t, old.Node, "before")

	// Cut the leader and one follower off from the other three.
	var minority, majority []*rafttest.Member
	minority = append(minority, old)
	for _, m := range c.Members {
		if m != old {
			if len(minority) < 2 {
				minority = append(minority, m)
			} else {
				majority = append(majority, m)
			}
		}
	}
	for _, a := range minority {
		for _, b := range majority {
			c.Net.Cut(a.Addr, b.Addr)
		}
	}

	// The minority refuses writes within a bounded time, with a clear error.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := propose(ctx, minority[1].Node, state.Op{Type: state.OpCreateService, Service: service(model.NewID(), "minority", 1)})
	if !errors.Is(err, raft.ErrNoQuorum) {
		t.Fatalf("minority write: got %v, want no quorum", err)
	}
	// Bounded by the lease, the wait for a new leader and one probe round.
	if el, bound := time.Since(start), 2*rafttest.FastConfig().LeaderWaitTimeout; el > bound {
		t.Fatalf("minority write took %v to fail, bound %v", el, bound)
	}
	t.Logf("minority write refused after %v: %v", time.Since(start).Round(time.Millisecond), err)

	// The majority elects a leader and goes on.
	var newLeader *rafttest.Member
	deadline := time.Now().Add(5 * time.Second)
	for newLeader == nil && time.Now().Before(deadline) {
		for _, m := range majority {
			if m.Node.Ready() {
				newLeader = m
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if newLeader == nil {
		t.Fatal("majority elected no leader")
	}
	id := createService(t, majority[0].Node, "during-partition")

	// Heal: the old leader steps down, catches up, and never applied the
	// minority write.
	c.Net.HealAll()
	c.WaitConverged(10 * time.Second)
	for _, m := range c.Members {
		if readService(t, m.Node, id) == nil {
			t.Fatalf("%s misses the majority's write after healing", m.ID)
		}
		var n int
		_ = m.Store.View(func(tx state.ReadTx) error {
			l, _ := tx.FindServices(state.ByName("minority"))
			n = len(l)
			return nil
		})
		if n != 0 {
			t.Fatalf("%s applied the minority's refused write", m.ID)
		}
	}
}

func TestNoQuorumFailsInBoundedTime(t *testing.T) {
	c := rafttest.New(t, 3)
	leader := c.Leader(5 * time.Second)
	createService(t, leader.Node, "before")
	for _, f := range c.Followers() {
		c.Stop(f)
	}
	start := time.Now()
	err := propose(context.Background(), leader.Node, state.Op{Type: state.OpCreateService, Service: service(model.NewID(), "lost", 1)})
	var qe *raft.QuorumError
	if !errors.As(err, &qe) || qe.Reachable != 1 || qe.Total != 3 {
		t.Fatalf("got %v, want no quorum: 1 of 3", err)
	}
	if el, bound := time.Since(start), 2*rafttest.FastConfig().LeaderWaitTimeout; el > bound {
		t.Fatalf("took %v, bound %v", el, bound)
	}
	t.Logf("%v after %v", err, time.Since(start).Round(time.Millisecond))
	// Reads refuse too rather than answer stale.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leader.Node.ReadBarrier(ctx); !errors.Is(err, raft.ErrNoQuorum) {
		t.Fatalf("read without quorum: %v", err)
	}
}

func TestLaggingFollowerInstallsSnapshot(t *testing.T) {
	c := rafttest.New(t, 3, func(c *rafttest.Cluster) {
		c.Configure = func(cfg *raft.Config) {
			cfg.SnapshotThreshold = 20
			cfg.TrailingLogs = 5
			cfg.SnapshotInterval = 50 * time.Millisecond
		}
	})
	leader := c.Leader(5 * time.Second)
	lagging := c.Followers()[0]
	c.Stop(lagging)
	var last string
	for i := range 60 {
		last = createService(t, leader.Node, fmt.Sprintf("svc%d", i))
	}
	if err := leader.Node.Snapshot(); err != nil {
		t.Fatal(err)
	}
	c.Start(lagging)
	c.WaitConverged(10 * time.Second)
	if readService(t, lagging.Node, last) == nil {
		t.Fatal("restarted follower did not catch up")
	}
	var n int
	_ = lagging.Store.View(func(tx state.ReadTx) error { l, _ := tx.FindServices(state.All); n = len(l); return nil })
	if n != 60 {
		t.Fatalf("lagging follower has %d services, want 60", n)
	}
}

func TestRestartAllFromDisk(t *testing.T) {
	c := rafttest.New(t, 3)
	leader := c.Leader(5 * time.Second)
	var ids []string
	for i := range 10 {
		ids = append(ids, createService(t, leader.Node, fmt.Sprintf("svc%d", i)))
	}
	// A snapshot on one node, logs only on the others.
	if err := leader.Node.Snapshot(); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, createService(t, leader.Node, "after-snapshot"))
	for _, m := range c.Members {
		c.Stop(m)
	}
	for _, m := range c.Members {
		c.Start(m)
	}
	l := c.Leader(5 * time.Second)
	for _, m := range c.Members {
		for _, id := range ids {
			if readService(t, m.Node, id) == nil {
				t.Fatalf("%s lost service %s across a full restart (leader %s)", m.ID, id, l.ID)
			}
		}
	}
}

func TestLeaderFailover(t *testing.T) {
	c := rafttest.New(t, 3)
	old := c.Leader(5 * time.Second)
	createService(t, old.Node, "before")
	c.Stop(old)
	start := time.Now()
	f := c.Followers()[0]
	createService(t, f.Node, "after")
	t.Logf("write succeeded %v after the leader died", time.Since(start).Round(time.Millisecond))
	c.Start(old)
	c.WaitConverged(10 * time.Second)
}

func TestMembershipChangesUnderWrites(t *testing.T) {
	c := rafttest.New(t, 3)
	leader := c.Leader(5 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 1)
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			err := propose(ctx, leader.Node, state.Op{Type: state.OpCreateService, Service: service(model.NewID(), fmt.Sprintf("w%d", i), 1)})
			if err != nil && ctx.Err() == nil && !errors.Is(err, raft.ErrUnknownOutcome) {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	victim := c.Followers()[0]
	if err := leader.Node.RemoveServer(context.Background(), victim.ID); err != nil {
		t.Fatal(err)
	}
	members, _ := leader.Node.Members()
	if len(members) != 2 {
		t.Fatalf("members after removal: %+v", members)
	}
	c.Stop(victim)
	cancel()
	if err := <-errs; err != nil {
		t.Fatalf("write during membership change: %v", err)
	}
	c.WaitConverged(5 * time.Second)
}

// TestEncryptionAtRest checks that neither the log nor snapshots hold
// plaintext, that a follower installs an encrypted snapshot, and that every
// manager restarts from its encrypted data.
func TestEncryptionAtRest(t *testing.T) {
	keys := map[string][]byte{}
	c := rafttest.New(t, 3, func(c *rafttest.Cluster) {
		c.Configure = func(cfg *raft.Config) {
			if keys[cfg.NodeID] == nil {
				keys[cfg.NodeID] = encryption.GenerateDEK()
			}
			cfg.DataKey = keys[cfg.NodeID]
			cfg.SnapshotThreshold = 20
			cfg.TrailingLogs = 5
			cfg.SnapshotInterval = 50 * time.Millisecond
		}
	})
	leader := c.Leader(5 * time.Second)
	lagging := c.Followers()[0]
	c.Stop(lagging)
	const marker = "plaintext-marker-7f3a"
	var last string
	for i := range 40 {
		last = createService(t, leader.Node, fmt.Sprintf("%s-%d", marker, i))
	}
	if err := leader.Node.Snapshot(); err != nil {
		t.Fatal(err)
	}
	c.Start(lagging)
	c.WaitConverged(10 * time.Second)
	if readService(t, lagging.Node, last) == nil {
		t.Fatal("follower did not catch up from an encrypted snapshot")
	}
	for _, m := range c.Members {
		err := filepath.WalkDir(m.Dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(marker)) {
				t.Errorf("%s holds plaintext", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range c.Members {
		c.Stop(m)
	}
	for _, m := range c.Members {
		c.Start(m)
	}
	c.Leader(5 * time.Second)
	for _, m := range c.Members {
		if readService(t, m.Node, last) == nil {
			t.Fatalf("%s lost data across an encrypted restart", m.ID)
		}
	}
}

func TestWrongDataKeyIsRefused(t *testing.T) {
	key := encryption.GenerateDEK()
	c := rafttest.New(t, 1, func(c *rafttest.Cluster) {
		c.Configure = func(cfg *raft.Config) { cfg.DataKey = key }
	})
	m := c.Members[0]
	createService(t, c.Leader(5*time.Second).Node, "x")
	c.Stop(m)
	key = encryption.GenerateDEK()
	cfg := rafttest.FastConfig()
	cfg.NodeID, cfg.Addr, cfg.DataDir, cfg.DataKey = m.ID, m.Addr, m.Dir, key
	_, trans := hraft.NewInmemTransport(hraft.ServerAddress(m.Addr))
	n, err := raft.New(cfg, state.NewStore(), trans, c.Net.Forwarder(m.Addr))
	if err == nil {
		n.Shutdown()
		t.Fatal("a manager started with the wrong data key")
	}
	t.Logf("refused as expected: %v", err)
}

// TestForwardedCallsFollowLeadership freezes the leader (as SIGSTOP, a VM
// pause or a stuck disk would: its connections hold every call) while
// calls forwarded to it through the followers are in flight. Once the
// others elect a new leader, none of them may wait for the frozen one:
// a write that is not safe to send twice (a delete without a version)
// answers "write outcome unknown", an update naming the version it read
// (which its version makes safe to send again) is retried through the new
// leader and succeeds, a read barrier is asked of the new leader; all
// within 2 s of the election. The next write succeeds, and the thawed leader rejoins.
func TestForwardedCallsFollowLeadership(t *testing.T) {
	c := rafttest.New(t, 3)
	old := c.Leader(5 * time.Second)
	fs := c.Followers()
	before := createService(t, fs[0].Node, "before")
	victim := createService(t, fs[0].Node, "victim")
	c.WaitConverged(5 * time.Second)
	toUpdate := readService(t, fs[0].Node, before).Copy()
	toUpdate.Spec.Mode.Replicated.Replicas = 3

	c.Net.Freeze(old.Addr)
	frozenAt := time.Now()
	defer c.Net.Thaw(old.Addr)
	// The callers would wait this long for a frozen leader.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type outcome struct {
		err error
		at  time.Time
	}
	start := func(fn func() error) <-chan outcome {
		ch := make(chan outcome, 1)
		go func() {
			err := fn()
			ch <- outcome{err, time.Now()}
		}()
		return ch
	}
	unsafeWrite := start(func() error {
		return propose(ctx, fs[0].Node, state.Op{Type: state.OpDeleteService, ID: victim})
	})
	safeWrite := start(func() error {
		return propose(ctx, fs[0].Node, state.Op{Type: state.OpUpdateService, Service: toUpdate, Version: toUpdate.Version.Index})
	})
	read := start(func() error { return fs[1].Node.ReadBarrier(ctx) })
	// A caller on the frozen leader itself (in-process its Raft timers
	// run on): it loses its lease, and the write must not hang either.
	onOld := start(func() error {
		return propose(ctx, old.Node, state.Op{Type: state.OpCreateService, Service: service(model.NewID(), "on-old-leader", 1)})
	})

	// The others elect a new leader.
	var elected time.Time
	for elected.IsZero() {
		if time.Since(frozenAt) > 10*time.Second {
			t.Fatal("no new leader within 10 s of the freeze")
		}
		for _, f := range fs {
			if f.Node.Ready() {
				elected = time.Now()
				t.Logf("%s elected %v after the freeze", f.ID, elected.Sub(frozenAt).Round(time.Millisecond))
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	if held := c.Net.HeldCalls(); held < 3 {
		t.Fatalf("only %d calls reached the frozen leader; the test did not test the freeze", held)
	}

	const bound = 2 * time.Second
	wait := func(name string, ch <-chan outcome) error {
		t.Helper()
		select {
		case o := <-ch:
			t.Logf("%s ended %v after the election: %v", name, o.at.Sub(elected).Round(time.Millisecond), o.err)
			if o.at.Sub(elected) > bound {
				t.Fatalf("%s ended %v after the new leader was elected, bound %v", name, o.at.Sub(elected), bound)
			}
			return o.err
		case <-time.After(time.Until(elected.Add(bound))):
			t.Fatalf("%s still waits for the frozen leader %v after the new leader was elected", name, bound)
		}
		return nil
	}
	if err := wait("unsafe write", unsafeWrite); !errors.Is(err, raft.ErrUnknownOutcome) {
		t.Fatalf("a write held by the frozen leader: got %v, want %v", err, raft.ErrUnknownOutcome)
	}
	if err := wait("versioned update (safe to retry)", safeWrite); err != nil {
		t.Fatalf("an update held by the frozen leader was not retried: %v", err)
	}
	if err := wait("read barrier", read); err != nil {
		t.Fatalf("a read barrier held by the frozen leader: %v", err)
	}
	if readService(t, fs[1].Node, before) == nil {
		t.Fatalf("%s misses a write acknowledged before the freeze", fs[1].ID)
	}
	after := createService(t, fs[0].Node, "after")

	// The deposed leader answers its own caller: no quorum (the write may
	// still apply) once it has waited LeaderWaitTimeout for a leader.
	cfg := rafttest.FastConfig()
	oldBound := cfg.LeaderLeaseTimeout + cfg.LeaderWaitTimeout + time.Second
	select {
	case o := <-onOld:
		t.Logf("write on the frozen leader ended %v after the freeze: %v", o.at.Sub(frozenAt).Round(time.Millisecond), o.err)
		if !errors.Is(o.err, raft.ErrNoQuorum) && !errors.Is(o.err, raft.ErrUnknownOutcome) {
			t.Fatalf("write on the frozen leader: got %v, want no quorum or unknown outcome", o.err)
		}
	case <-time.After(time.Until(frozenAt.Add(oldBound))):
		t.Fatalf("a write on the frozen leader still waits %v after the freeze", oldBound)
	}

	c.Net.Thaw(old.Addr)
	c.WaitConverged(10 * time.Second)
	for _, m := range c.Members {
		for _, id := range []string{before, after} {
			if readService(t, m.Node, id) == nil {
				t.Fatalf("%s misses service %s after the thaw", m.ID, id)
			}
		}
		if s := readService(t, m.Node, before); s.Spec.Mode.Replicated.Replicas != 3 {
			t.Fatalf("%s has %s at %d replicas, want the retried update's 3", m.ID, before, s.Spec.Mode.Replicated.Replicas)
		}
	}
}

// TestReadAcrossRemovalOfTheOnlyFollower: a read whose leadership check
// started while the cluster had two voters, the follower silent, must
// not hang once the follower is removed (two managers demoted to one):
// Raft never answers a check that counts the removed voter, so the read
// asks again and the one voter left confirms it.
func TestReadAcrossRemovalOfTheOnlyFollower(t *testing.T) {
	c := rafttest.New(t, 2, func(c *rafttest.Cluster) {
		c.Configure = func(cfg *raft.Config) {
			// A lease long enough for the removal to commit first.
			cfg.HeartbeatTimeout = time.Second
			cfg.LeaderLeaseTimeout = time.Second
			cfg.ElectionTimeout = time.Second
		}
	})
	l := c.Leader(5 * time.Second)
	createService(t, l.Node, "before")
	f := c.Followers()[0]
	c.Net.Freeze(f.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	read := make(chan error, 1)
	go func() { read <- l.Node.ReadBarrier(ctx) }()
	time.Sleep(50 * time.Millisecond)
	if err := l.Node.RemoveServer(ctx, f.ID); err != nil {
		t.Fatalf("removing the frozen follower: %v", err)
	}
	select {
	case err := <-read:
		if err != nil {
			t.Fatalf("the read across the removal: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read across the removal hangs")
	}
	if err := l.Node.ReadBarrier(ctx); err != nil {
		t.Fatalf("a read after the removal: %v", err)
	}
	c.Net.Thaw(f.Addr)
}
