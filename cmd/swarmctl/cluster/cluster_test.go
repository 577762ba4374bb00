package cluster

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fakeclient"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fixtures"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/golden"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC
	os.Exit(m.Run())
}

func newFake() *fakeclient.Client {
	return &fakeclient.Client{Nodes: fixtures.Nodes(), Swarm: fixtures.Swarm(), SystemInfo: fixtures.Info(), Index: 100}
}

func run(t *testing.T, fc *fakeclient.Client, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	env := command.NewEnv(&out, &out, func() (command.Client, error) { return fc, nil })
	cmd := NewCommand(env)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestOutput(t *testing.T) {
	noSelfStatus := func(fc *fakeclient.Client) {
		// A manager that does not report its own address: the one it
		// lists for itself among the managers is used.
		for i := range fc.Nodes {
			fc.Nodes[i].ManagerStatus = nil
		}
	}
	for _, c := range []struct {
		golden string
		args   []string
		setup  func(*fakeclient.Client)
	}{
		{"inspect", []string{"inspect"}, nil},
		{"inspect-pretty", []string{"inspect", "--pretty"}, nil},
		{"join-token-worker", []string{"join-token", "worker"}, nil},
		{"join-token-manager", []string{"join-token", "manager"}, nil},
		{"join-token-worker-quiet", []string{"join-token", "-q", "worker"}, nil},
		{"join-token-manager-rotate", []string{"join-token", "--rotate", "manager"}, nil},
		{"join-token-worker-peers", []string{"join-token", "worker"}, noSelfStatus},
	} {
		t.Run(c.golden, func(t *testing.T) {
			fc := newFake()
			if c.setup != nil {
				c.setup(fc)
			}
			out, err := run(t, fc, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, c.golden, []byte(out))
		})
	}
}

// The inspect output never carries the join tokens.
func TestInspectHidesTokens(t *testing.T) {
	for _, args := range [][]string{{"inspect"}, {"inspect", "--pretty"}} {
		out, err := run(t, newFake(), args...)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "SWMTKN") {
			t.Errorf("%q shows a join token:\n%s", args, out)
		}
	}
}

func TestRotate(t *testing.T) {
	fc := newFake()
	out, err := run(t, fc, "join-token", "--rotate", "-q", "worker")
	if err != nil {
		t.Fatal(err)
	}
	want := fixtures.Swarm().JoinTokens.Worker + "-rotated\n"
	if out != want {
		t.Errorf("printed %q, want the new token only", out)
	}
	w := fc.LastWrite()
	if w.Op != "swarm update" || w.Version != fixtures.Swarm().Version.Index || w.Options != "rotateWorkerToken=true rotateManagerToken=false rotateManagerUnlockKey=false" {
		t.Errorf("sent %+v", w)
	}
	// The whole spec goes back unchanged.
	if w.SwarmSpec.Name != "default" || *w.SwarmSpec.Orchestration.TaskHistoryRetentionLimit != 5 || w.SwarmSpec.Labels["io.shoal.rebalance"] != "true" {
		t.Errorf("spec sent %+v", w.SwarmSpec)
	}
	if fc.Swarm.JoinTokens.Manager != fixtures.Swarm().JoinTokens.Manager {
		t.Error("the manager token changed too")
	}
}

func TestJoinTokenErrors(t *testing.T) {
	for _, c := range []struct {
		args  []string
		setup func(*fakeclient.Client)
		want  string
	}{
		{args: []string{"join-token"}, want: "accepts 1 arg"},
		{args: []string{"join-token", "admin"}, want: `invalid argument "admin"`},
		{args: []string{"join-token", "worker"}, setup: func(fc *fakeclient.Client) {
			fc.SystemInfo.Swarm.NodeID = ""
			fc.SystemInfo.Swarm.RemoteManagers = nil
		}, want: "no cluster address"},
	} {
		fc := newFake()
		if c.setup != nil {
			c.setup(fc)
		}
		_, err := run(t, fc, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}

// TestUpdateMaxReplicas checks that --max-replicas sets the cluster's
// replica limit through its label and keeps the other labels.
func TestUpdateMaxReplicas(t *testing.T) {
	fc := newFake()
	out, err := run(t, fc, "update", "--max-replicas", "200000")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	w := fc.LastWrite()
	if w.Op != "swarm update" || w.SwarmSpec.Labels["io.shoal.max-replicas"] != "200000" || w.SwarmSpec.Labels["io.shoal.rebalance"] != "true" {
		t.Errorf("sent %+v", w)
	}
}
