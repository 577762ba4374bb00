package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/internal/proctest"
)

func zeroReplicaSpec(name string) swarm.ServiceSpec {
	zero := uint64(0)
	return swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "shoal/demoapp:test"}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &zero}},
	}
}

// startManagers starts a cluster of n managers without agents.
func startManagers(t *testing.T, n int) (*proctest.Cluster, []*proctest.Node) {
	t.Helper()
	c := proctest.New(t)
	c.ExtraArgs = []string{"--no-agent"}
	m1 := c.InitManager("m1")
	sw := m1.WaitReady(20 * time.Second)
	nodes := []*proctest.Node{m1}
	for i := 2; i <= n; i++ {
		m := c.JoinManager(fmt.Sprintf("m%d", i), sw.JoinTokens.Manager, m1)
		m.WaitReady(20 * time.Second)
		nodes = append(nodes, m)
	}
	cl := m1.Client()
	proctest.Eventually(t, 30*time.Second, "all managers reachable", func() error {
		ns, err := cl.NodeList(context.Background(), swarm.NodeListOptions{})
		if err != nil {
			return err
		}
		reachable := 0
		for _, nd := range ns {
			if nd.ManagerStatus != nil && nd.ManagerStatus.Reachability == swarm.ReachabilityReachable {
				reachable++
			}
		}
		if reachable != n {
			return fmt.Errorf("%d of %d managers reachable", reachable, n)
		}
		return nil
	})
	return c, nodes
}

// leader returns the node the cluster names as leader.
func leader(t *testing.T, nodes []*proctest.Node) *proctest.Node {
	t.Helper()
	var out *proctest.Node
	proctest.Eventually(t, 20*time.Second, "a leader", func() error {
		for _, n := range nodes {
			if !n.Running() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			ns, err := n.Client().NodeList(ctx, swarm.NodeListOptions{})
			cancel()
			if err != nil {
				continue
			}
			for _, nd := range ns {
				if nd.ManagerStatus != nil && nd.ManagerStatus.Leader {
					for _, c := range nodes {
						if c.Name == nd.Description.Hostname && c.Running() {
							out = c
							return nil
						}
					}
				}
			}
		}
		return fmt.Errorf("no leader known")
	})
	return out
}

func create(ctx context.Context, cl *client.Client, name string) error {
	_, err := cl.ServiceCreate(ctx, zeroReplicaSpec(name), swarm.ServiceCreateOptions{})
	return err
}

// TestKillLeaderProcess is the manager cluster's multi-process test: three
// manager processes on loopback; kill -9 the leader; writes go on through
// the others; the killed manager restarts with `manager run` and catches up.
func TestKillLeaderProcess(t *testing.T) {
	_, nodes := startManagers(t, 3)
	old := leader(t, nodes)
	var others []*proctest.Node
	for _, n := range nodes {
		if n != old {
			others = append(others, n)
		}
	}
	if err := create(context.Background(), others[0].Client(), "before"); err != nil {
		t.Fatal(err)
	}

	old.Kill()
	killed := time.Now()
	cl := others[1].Client()
	var failover time.Duration
	proctest.Eventually(t, 30*time.Second, "a write after the leader died", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := create(ctx, cl, "after"); err != nil {
			return err
		}
		failover = time.Since(killed)
		return nil
	})
	t.Logf("first write succeeded %v after kill -9 of the leader", failover.Round(time.Millisecond))

	old.Restart("--no-agent")
	old.WaitReady(30 * time.Second)
	// A linearizable read through the restarted manager sees the write
	// made while it was dead.
	proctest.Eventually(t, 30*time.Second, "the restarted manager catching up", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, _, err := old.Client().ServiceInspectWithRaw(ctx, "after", swarm.ServiceInspectOptions{})
		return err
	})
	ns, err := old.Client().NodeList(context.Background(), swarm.NodeListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 3 {
		t.Fatalf("restarted manager sees %d nodes", len(ns))
	}
}

// TestStaleUpdateAndNoQuorumThroughTheAPI checks the two errors clients
// depend on against real processes.
func TestStaleUpdateAndNoQuorumThroughTheAPI(t *testing.T) {
	_, nodes := startManagers(t, 3)
	cl := nodes[0].Client()
	ctx := context.Background()
	if err := create(ctx, cl, "web"); err != nil {
		t.Fatal(err)
	}
	s, _, err := cl.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ServiceUpdate(ctx, s.ID, s.Version, s.Spec, swarm.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = nodes[1].Client().ServiceUpdate(ctx, s.ID, s.Version, s.Spec, swarm.ServiceUpdateOptions{})
	if err == nil || !contains(err.Error(), "update out of sequence") {
		t.Fatalf("stale update through another manager: %v", err)
	}

	nodes[1].Kill()
	nodes[2].Kill()
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = create(cctx, cl, "lost")
	if err == nil || !contains(err.Error(), "no quorum") {
		t.Fatalf("write without quorum: %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("write without quorum took %v to fail", el)
	}
	t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// TestDemoteOneOfTwoManagers demotes one manager of a two-manager
// cluster (allowed: both are reachable), the follower or the leader (which
// hands its leadership over first; the new leader demotes it). The other
// must keep its quorum: the demoted manager stops as soon as it applies
// its demotion, and the leader must take it out of the Raft configuration
// before its lease runs out, or the one manager left can never commit
// again. Then writes go on through the one left, and the demoted node is
// listed as a worker.
func TestDemoteOneOfTwoManagers(t *testing.T) {
	for _, demoteLeader := range []bool{false, true} {
		name := map[bool]string{false: "follower", true: "leader"}[demoteLeader]
		t.Run(name, func(t *testing.T) {
			_, nodes := startManagers(t, 2)
			l := leader(t, nodes)
			demoted, kept := l, l
			for _, n := range nodes {
				if n != l {
					if demoteLeader {
						kept = n
					} else {
						demoted = n
					}
				}
			}
			cl := kept.Client()
			ctx := context.Background()
			var target swarm.Node
			ns, err := cl.NodeList(ctx, swarm.NodeListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, nd := range ns {
				if nd.Description.Hostname == demoted.Name {
					target = nd
				}
			}
			spec := target.Spec
			spec.Role = swarm.NodeRoleWorker
			if err := cl.NodeUpdate(ctx, target.ID, target.Version, spec); err != nil {
				t.Fatalf("demote %s: %v", demoted.Name, err)
			}
			proctest.Eventually(t, 30*time.Second, demoted.Name+" a worker, out of the Raft configuration", func() error {
				nd, _, err := cl.NodeInspectWithRaw(ctx, target.ID)
				if err != nil {
					return err
				}
				if nd.Spec.Role != swarm.NodeRoleWorker || nd.ManagerStatus != nil {
					return fmt.Errorf("role %s, manager status %+v", nd.Spec.Role, nd.ManagerStatus)
				}
				return nil
			})
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := create(wctx, cl, "after-demotion"); err != nil {
				t.Fatalf("a write after demoting one of two managers: %v\n%s", err, kept.Log())
			}
			// Without an agent, the demoted node learns it from its own
			// log, which it received up to its removal.
			proctest.Eventually(t, 20*time.Second, demoted.Name+" stopping its manager components", func() error {
				if !strings.Contains(demoted.Log(), "this node was demoted") {
					return fmt.Errorf("not yet")
				}
				return nil
			})
		})
	}
}
