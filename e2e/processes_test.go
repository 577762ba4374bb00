package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/node"
)

// processCluster is the scenario's cluster as processes on loopback
// (internal/proctest), each node running its tasks on the local engine.
type processCluster struct {
	c       *proctest.Cluster
	nodes   map[string]*proctest.Node
	clients map[string]*client.Client
}

// startProcessCluster starts m1 with `manager init`, then m2 and m3 with
// `manager join` and w1 and w2 with `worker join`, with the tokens m1's API
// gives. The nodes' containers are removed when the test ends, even if it
// fails.
func startProcessCluster(t *testing.T, docker *client.Client) *processCluster {
	pc := &processCluster{c: proctest.New(t), nodes: map[string]*proctest.Node{}, clients: map[string]*client.Client{}}
	// Registered after proctest's own cleanup, so it runs before it: kill
	// the nodes first, so no agent starts a container after the removal.
	t.Cleanup(func() {
		var ids []string
		for _, n := range pc.c.Nodes {
			n.Kill()
			if st, err := node.Load(n.DataDir); err == nil {
				ids = append(ids, st.NodeID)
			}
		}
		removeNodeContainers(t, docker, ids)
	})
	m1 := pc.c.InitManager("m1")
	pc.nodes["m1"] = m1
	sw := m1.WaitReady(joinTimeout)
	for _, name := range managerNames[1:] {
		pc.nodes[name] = pc.c.JoinManager(name, sw.JoinTokens.Manager, m1)
	}
	for _, name := range workerNames {
		pc.nodes[name] = pc.c.JoinWorker(name, sw.JoinTokens.Worker, m1)
	}
	return pc
}

func (pc *processCluster) Kind() string { return "processes" }

func (pc *processCluster) Client(name string) *client.Client {
	if cl, ok := pc.clients[name]; ok {
		return cl
	}
	cl := pc.nodes[name].Client()
	pc.clients[name] = cl
	return cl
}

func (pc *processCluster) Kill(t *testing.T, name string) { pc.nodes[name].Kill() }

func (pc *processCluster) Start(t *testing.T, name string) { pc.nodes[name].Restart() }

// Teardown stops every node with SIGTERM, as deploy/cluster.sh down does.
func (pc *processCluster) Teardown(t *testing.T) {
	for _, n := range pc.c.Nodes {
		if err := n.Stop(30 * time.Second); err != nil {
			t.Errorf("stopping %s: %v", n.Name, err)
		}
	}
}

// Leftovers: the nodes' data dirs are the test's temp dirs, and the
// processes make no networks or volumes; only processes can be left.
func (pc *processCluster) Leftovers(context.Context) ([]string, error) {
	var out []string
	for _, n := range pc.c.Nodes {
		if n.Running() {
			out = append(out, fmt.Sprintf("process %s (pid %d)", n.Name, n.PID()))
		}
	}
	return out, nil
}

// TestScenarioProcesses runs the end-to-end scenario on three managers and
// two workers as processes on loopback, with real containers on the local
// Docker engine. Run it with -v to see the timing table.
func TestScenarioProcesses(t *testing.T) {
	docker := testimage.Client(t)
	tm := &timings{cluster: "processes on loopback (proctest)"}
	t.Cleanup(func() { tm.report(t) })
	proctest.Binaries(t) // not part of any step's time
	newScenario(t, func() cluster { return startProcessCluster(t, docker) }, docker, tm).run()
}
