package node

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
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
	return &fakeclient.Client{Nodes: fixtures.Nodes(), SystemInfo: fixtures.Info(), Index: 100, Now: fixtures.Now}
}

type result struct {
	out string
	err error
}

func run(t *testing.T, fc *fakeclient.Client, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env := command.NewEnv(&out, &errOut, func() (command.Client, error) { return fc, nil })
	env.Now = func() time.Time { return fixtures.Now }
	cmd := NewCommand(env)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	return result{out.String(), err}
}

func node(t *testing.T, fc *fakeclient.Client, ref string) swarm.Node {
	t.Helper()
	n, _, err := fc.NodeInspectWithRaw(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReadCommands(t *testing.T) {
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"ls", []string{"ls"}},
		{"ls-no-trunc", []string{"ls", "--no-trunc"}},
		{"ls-quiet", []string{"ls", "-q"}},
		{"ls-json", []string{"ls", "--format", "json"}},
		{"inspect-pretty", []string{"inspect", "--pretty", "self", "worker-2"}},
		{"inspect-json", []string{"inspect", "worker-1"}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			r := run(t, newFake(), c.args...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			golden.Assert(t, c.golden, []byte(r.out))
		})
	}
}

// TestChanges checks the NodeSpec each command sends: the one read, with
// only the change asked for, at the version read.
func TestChanges(t *testing.T) {
	for _, c := range []struct {
		name   string
		args   []string
		ref    string
		out    string
		change func(*swarm.NodeSpec)
	}{
		{"drain", []string{"drain", "manager-2"}, "manager-2", "manager-2\n", func(s *swarm.NodeSpec) { s.Availability = "drain" }},
		{"activate", []string{"activate", "worker-1"}, "worker-1", "worker-1\n", func(s *swarm.NodeSpec) { s.Availability = "active" }},
		{"pause", []string{"pause", "w10node"}, "worker-10", "w10node\n", func(s *swarm.NodeSpec) { s.Availability = "pause" }},
		{"promote", []string{"promote", "worker-2"}, "worker-2", "Node worker-2 promoted to a manager in the cluster.\n", func(s *swarm.NodeSpec) { s.Role = "manager" }},
		{"demote", []string{"demote", "manager-3"}, "manager-3", "Manager manager-3 demoted in the cluster.\n", func(s *swarm.NodeSpec) { s.Role = "worker" }},
		{"update availability", []string{"update", "--availability", "pause", "manager-1"}, "manager-1", "manager-1\n", func(s *swarm.NodeSpec) { s.Availability = "pause" }},
		{"update role", []string{"update", "--role", "manager", "worker-1"}, "worker-1", "worker-1\n", func(s *swarm.NodeSpec) { s.Role = "manager" }},
		{"update labels", []string{"update", "--label-add", "zone=c", "--label-add", "gpu", "--label-rm", "ssd", "manager-1"}, "manager-1", "manager-1\n", func(s *swarm.NodeSpec) {
			s.Labels = map[string]string{"zone": "c", "gpu": ""}
		}},
		{"update labels on none", []string{"update", "--label-add", "rack=r1", "worker-1"}, "worker-1", "worker-1\n", func(s *swarm.NodeSpec) {
			s.Labels = map[string]string{"rack": "r1"}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fc := newFake()
			before := node(t, fc, c.ref)
			r := run(t, fc, c.args...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.out != c.out {
				t.Errorf("printed %q, want %q", r.out, c.out)
			}
			w := fc.LastWrite()
			if w.Op != "node update" || w.ID != before.ID || w.Version != before.Version.Index {
				t.Fatalf("sent %s %s version %d, want an update of %s at version %d", w.Op, w.ID, w.Version, before.ID, before.Version.Index)
			}
			want := before.Spec
			want.Labels = cloneLabels(before.Spec.Labels)
			c.change(&want)
			if !reflect.DeepEqual(w.NodeSpec, want) {
				t.Errorf("sent %+v, want %+v", w.NodeSpec, want)
			}
			if _, err := convert.NodeSpecFromDocker(w.NodeSpec); err != nil {
				t.Errorf("the manager would refuse it: %v", err)
			}
		})
	}
}

func cloneLabels(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestManyNodes(t *testing.T) {
	fc := newFake()
	r := run(t, fc, "drain", "worker-2", "nope", "manager-2")
	if r.err == nil || r.err.Error() != "nope: node nope not found" {
		t.Errorf("error %v", r.err)
	}
	if r.out != "worker-2\nmanager-2\n" {
		t.Errorf("printed %q", r.out)
	}
	for _, ref := range []string{"worker-2", "manager-2"} {
		if a := node(t, fc, ref).Spec.Availability; a != "drain" {
			t.Errorf("%s is %s", ref, a)
		}
	}
}

func TestAlreadyInRole(t *testing.T) {
	fc := newFake()
	r := run(t, fc, "promote", "manager-1")
	if r.err != nil || r.out != "Node manager-1 is already a manager.\n" || len(fc.Writes) != 0 {
		t.Errorf("printed %q, %v, writes %v", r.out, r.err, fc.Writes)
	}
	r = run(t, fc, "demote", "worker-1")
	if r.err != nil || r.out != "Node worker-1 is already a worker.\n" || len(fc.Writes) != 0 {
		t.Errorf("printed %q, %v, writes %v", r.out, r.err, fc.Writes)
	}
}

func TestRm(t *testing.T) {
	fc := newFake()
	r := run(t, fc, "rm", "--force", "worker-10", "nope")
	if r.err == nil || r.err.Error() != "nope: node nope not found" || r.out != "worker-10\n" {
		t.Errorf("printed %q, %v", r.out, r.err)
	}
	if w := fc.LastWrite(); w.Op != "node rm" || w.ID != fixtures.Worker10 || w.Options != "force=true" {
		t.Errorf("sent %+v", w)
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"update", "worker-1"}, "nothing to change"},
		{[]string{"update", "--availability", "off", "worker-1"}, `--availability "off": want active, pause or drain`},
		{[]string{"update", "--role", "boss", "worker-1"}, `--role "boss": want worker or manager`},
		{[]string{"update", "--label-add", "=x", "worker-1"}, `--label-add "=x": empty key`},
		{[]string{"update", "--label-rm", "zone", "worker-1"}, `worker-1: --label-rm "zone": the node has no such label`},
		{[]string{"update", "--availability", "drain", "nope"}, "nope: node nope not found"},
		{[]string{"drain"}, "requires at least 1 arg"},
		{[]string{"ls", "--format", "table2"}, "want table or json"},
		{[]string{"inspect", "nope"}, "node nope not found"},
	} {
		fc := newFake()
		r := run(t, fc, c.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.args, r.err, c.want)
		}
		if len(fc.Writes) != 0 {
			t.Errorf("%q: sent %v", c.args, fc.Writes)
		}
	}
}

func TestOutOfSequence(t *testing.T) {
	fc := newFake()
	fc.Race = func(c *fakeclient.Client) {
		for i := range c.Nodes {
			c.Nodes[i].Version.Index++
			c.Nodes[i].Spec.Labels = map[string]string{"theirs": "1"}
		}
	}
	r := run(t, fc, "update", "--label-add", "mine=1", "worker-1")
	if r.err == nil || r.err.Error() != "worker-1: update out of sequence" {
		t.Errorf("error %v, want the manager's conflict", r.err)
	}
	if l := node(t, fc, "worker-1").Spec.Labels; !reflect.DeepEqual(l, map[string]string{"theirs": "1"}) {
		t.Errorf("labels %v: the other change was overwritten", l)
	}
}
