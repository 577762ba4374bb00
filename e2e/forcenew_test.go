package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/internal/proctest"
)

// TestForceNewClusterThenRemoveLostManagers follows the recovery the
// systemd guide (deploy/systemd/README.md) gives for a cluster that lost
// its quorum for good: three managers, two of them lost; the survivor is
// restarted with `manager init --force-new-cluster`, takes writes alone,
// and the lost managers are then demoted and removed through it, as
// `docker node demote` and `docker node rm` do after Docker's
// --force-new-cluster.
func TestForceNewClusterThenRemoveLostManagers(t *testing.T) {
	_, nodes := startManagers(t, 3)
	m1, lost := nodes[0], nodes[1:]
	for _, n := range lost {
		n.Kill()
	}
	if err := m1.Stop(30 * time.Second); err != nil {
		t.Logf("stopping m1 without a quorum: %v", err)
	}

	m1.StartWith("init", "--force-new-cluster", "--data-dir", m1.DataDir, "--no-agent")
	m1.WaitReady(60 * time.Second)
	cl := m1.Client()
	proctest.Eventually(t, 30*time.Second, "a write on the recovered cluster", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return create(ctx, cl, "after-recovery")
	})

	ctx := context.Background()
	for _, n := range lost {
		proctest.Eventually(t, 30*time.Second, n.Name+" marked down", func() error {
			nd, _, err := cl.NodeInspectWithRaw(ctx, n.Name)
			if err != nil {
				return err
			}
			if nd.Status.State != swarm.NodeStateDown {
				return fmt.Errorf("%s is %s", n.Name, nd.Status.State)
			}
			return nil
		})
	}
	for _, n := range lost {
		nd, _, err := cl.NodeInspectWithRaw(ctx, n.Name)
		if err != nil {
			t.Fatal(err)
		}
		nd.Spec.Role = swarm.NodeRoleWorker
		// Only m1 is left in the Raft configuration: taking out a manager
		// that is no longer in it cannot cost a quorum.
		if err := cl.NodeUpdate(ctx, nd.ID, nd.Version, nd.Spec); err != nil {
			t.Fatalf("demoting the lost manager %s after --force-new-cluster: %v", n.Name, err)
		}
	}
	for _, n := range lost {
		proctest.Eventually(t, 30*time.Second, "removing "+n.Name, func() error {
			return cl.NodeRemove(ctx, n.Name, swarm.NodeRemoveOptions{Force: true})
		})
	}
	ns, err := cl.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 {
		t.Fatalf("%d nodes left, want m1 alone", len(ns))
	}
}
