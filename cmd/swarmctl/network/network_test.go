package network

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"

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
	return &fakeclient.Client{Networks: fixtures.Networks(), Index: 100, Now: fixtures.Now, NextID: "newnet0000000000000000001"}
}

func run(t *testing.T, fc *fakeclient.Client, args ...string) (string, error) {
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
	return out.String(), err
}

func TestReadCommands(t *testing.T) {
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"ls", []string{"ls"}},
		{"ls-quiet", []string{"ls", "-q"}},
		{"ls-json", []string{"ls", "--format", "json"}},
		{"inspect", []string{"inspect", "app_default", "ingress"}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			out, err := run(t, newFake(), c.args...)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, c.golden, []byte(out))
		})
	}
}

// TestCreate checks what create sends: an overlay network of scope swarm
// with the flags given, which the manager's conversion accepts.
func TestCreate(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want network.CreateOptions
	}{
		{"plain", []string{"create", "back"}, network.CreateOptions{Driver: "overlay", Scope: "swarm"}},
		{"flags", []string{"create", "--attachable", "--internal", "-l", "team=a", "--subnet", "10.20.0.0/24", "--gateway", "10.20.0.1", "--ip-range", "10.20.0.128/25", "back"},
			network.CreateOptions{Driver: "overlay", Scope: "swarm", Attachable: true, Internal: true, Labels: map[string]string{"team": "a"},
				IPAM: &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: "10.20.0.0/24", Gateway: "10.20.0.1", IPRange: "10.20.0.128/25"}}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fc := newFake()
			out, err := run(t, fc, c.args...)
			if err != nil || out != "newnet0000000000000000001\n" {
				t.Fatalf("printed %q, %v", out, err)
			}
			w := fc.LastWrite()
			if w.Op != "network create" || w.Name != "back" || !reflect.DeepEqual(w.NetworkOptions, c.want) {
				t.Errorf("sent %s %s %+v, want %+v", w.Op, w.Name, w.NetworkOptions, c.want)
			}
			if _, err := convert.NetworkSpecFromDocker(network.CreateRequest{Name: w.Name, CreateOptions: w.NetworkOptions}); err != nil {
				t.Errorf("the manager would refuse it: %v", err)
			}
		})
	}
}

func TestRm(t *testing.T) {
	fc := newFake()
	out, err := run(t, fc, "rm", "app_default", "nope")
	if err == nil || err.Error() != "nope: network nope not found" || out != "app_default\n" {
		t.Errorf("printed %q, %v", out, err)
	}
	if w := fc.LastWrite(); w.Op != "network rm" || w.ID != fixtures.AppNet {
		t.Errorf("sent %+v", w)
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "app_default"}, "network with name app_default already exists"},
		{[]string{"create", "--gateway", "10.0.0.1", "x"}, "--gateway and --ip-range need --subnet"},
		{[]string{"create", "-l", "=x", "x"}, "empty key"},
		{[]string{"create"}, "accepts 1 arg"},
		{[]string{"inspect", "nope"}, "network nope not found"},
		{[]string{"ls", "--format", "yaml"}, "want table or json"},
	} {
		fc := newFake()
		_, err := run(t, fc, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}
