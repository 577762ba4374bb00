package service

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fakeclient"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fixtures"
)

// TestUpdateKeepsFields runs `service update` with one change at a time on
// a service that uses most settings, and checks that the spec sent back is
// the one read with exactly that change.
func TestUpdateKeepsFields(t *testing.T) {
	for _, c := range []struct {
		name   string
		args   []string
		change func(s *swarm.ServiceSpec)
	}{
		{"nothing", nil, func(*swarm.ServiceSpec) {}},
		{"image", []string{"--image", "nginx:1.28"}, func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "nginx:1.28" }},
		{"force", []string{"--force"}, func(s *swarm.ServiceSpec) { s.TaskTemplate.ForceUpdate++ }},
		{"replicas", []string{"--replicas", "5"}, func(s *swarm.ServiceSpec) { *s.Mode.Replicated.Replicas = 5 }},
		{"env add", []string{"--env-add", "C=3", "--env", "A=9"}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Env = []string{"A=9", "B=two words", "C=3"}
		}},
		{"env rm", []string{"--env-rm", "A"}, func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Env = []string{"B=two words"} }},
		{"label add and rm", []string{"--label-add", "tier=web", "--label-rm", "com.example.team"}, func(s *swarm.ServiceSpec) {
			s.Labels = map[string]string{"tier": "web"}
		}},
		{"container label", []string{"--container-label-rm", "com.example.role", "--container-label-add", "x=y"}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Labels = map[string]string{"x": "y"}
		}},
		{"constraints", []string{"--constraint-rm", "node.role==worker", "--constraint-add", "node.labels.ssd==true"}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement.Constraints = []string{"node.labels.zone!=b", "node.labels.ssd==true"}
		}},
		{"placement pref", []string{"--placement-pref-rm", "spread=node.labels.zone", "--placement-pref-add", "spread=node.labels.rack"}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement.Preferences = []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.rack"}}}
		}},
		{"publish", []string{"--publish-rm", "8080", "--publish-add", "9090:90"}, func(s *swarm.ServiceSpec) {
			s.EndpointSpec.Ports = []swarm.PortConfig{{Protocol: "tcp", TargetPort: 90, PublishedPort: 9090, PublishMode: "host"}}
		}},
		{"publish replaces the same port", []string{"--publish", "published=8080,target=81"}, func(s *swarm.ServiceSpec) {
			s.EndpointSpec.Ports = []swarm.PortConfig{{Protocol: "tcp", TargetPort: 81, PublishedPort: 8080, PublishMode: "host"}}
		}},
		{"mounts", []string{"--mount-rm", "/scratch", "--mount-add", "type=bind,source=/srv/other,target=/data"}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: "bind", Source: "/srv/other", Target: "/data"}}
		}},
		{"resources", []string{"--limit-cpu", "2", "--reserve-memory", "32M"}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources.Limits.NanoCPUs = 2e9
			s.TaskTemplate.Resources.Reservations.MemoryBytes = 32 << 20
		}},
		{"restart delay", []string{"--restart-delay", "7s"}, func(s *swarm.ServiceSpec) {
			d := 7 * time.Second
			s.TaskTemplate.RestartPolicy.Delay = &d
		}},
		{"update parallelism", []string{"--update-parallelism", "3"}, func(s *swarm.ServiceSpec) { s.UpdateConfig.Parallelism = 3 }},
		{"rollback config from defaults", []string{"--rollback-monitor", "9s"}, func(s *swarm.ServiceSpec) {
			s.RollbackConfig = &swarm.UpdateConfig{Parallelism: 1, FailureAction: "pause", Monitor: 9 * time.Second, Order: "stop-first"}
		}},
		{"health retries", []string{"--health-retries", "5"}, func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Healthcheck.Retries = 5 }},
		{"no healthcheck", []string{"--no-healthcheck"}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		}},
		{"stop grace period", []string{"--stop-grace-period", "3s"}, func(s *swarm.ServiceSpec) {
			d := 3 * time.Second
			s.TaskTemplate.ContainerSpec.StopGracePeriod = &d
		}},
		{"shoal extensions", []string{"--rebalance", "--strategy", "binpack"}, func(s *swarm.ServiceSpec) {
			s.Labels = map[string]string{"com.example.team": "frontend", "io.shoal.rebalance": "true", "io.shoal.placement.strategy": "binpack"}
		}},
		{"rebalance off", []string{"--rebalance=false"}, func(s *swarm.ServiceSpec) {
			s.Labels = map[string]string{"com.example.team": "frontend", "io.shoal.rebalance": "false"}
		}},
		{"max replicas per node", []string{"--replicas-max-per-node", "1"}, func(s *swarm.ServiceSpec) { s.TaskTemplate.Placement.MaxReplicas = 1 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			fc := newFake()
			before := service(t, fc, "web")
			r := run(t, fc, append(append([]string{"update", "-d"}, c.args...), "web")...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.out != "web\n" {
				t.Errorf("printed %q", r.out)
			}
			w := fc.LastWrite()
			if w.Op != "service update" || w.ID != fixtures.Web || w.Version != before.Version.Index || w.Options != "" {
				t.Errorf("sent %s %s version %d %q, want an update of %s at version %d", w.Op, w.ID, w.Version, w.Options, fixtures.Web, before.Version.Index)
			}
			want := fixtures.WebSpec()
			c.change(&want)
			if g, w := normalize(t, w.ServiceSpec), normalize(t, want); g != w {
				t.Errorf("sent\n%s\nwant\n%s", g, w)
			}
			if _, err := convert.ServiceSpecFromDocker(w.ServiceSpec); err != nil {
				t.Errorf("the manager would refuse it: %v", err)
			}
		})
	}
}

// Removing what is not there is not an error; a --label-rm of an unknown
// key leaves the labels as they were.
func TestUpdateRemoveMissing(t *testing.T) {
	fc := newFake()
	r := run(t, fc, "update", "-d", "--env-rm", "NOPE", "--label-rm", "nope", "--mount-rm", "/nope", "--publish-rm", "1234", "web")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if g, w := normalize(t, fc.LastWrite().ServiceSpec), normalize(t, fixtures.WebSpec()); g != w {
		t.Errorf("sent\n%s\nwant the spec unchanged\n%s", g, w)
	}
}

func TestUpdateErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"update", "--replicas", "3", "agent"}, "--replicas applies to replicated services only; this one is global"},
		{[]string{"update", "--image", "", "web"}, "--image: empty image"},
		{[]string{"update", "--env-add", "X", "web"}, `--env "X": no value`},
		{[]string{"update", "--publish-rm", "http", "web"}, `"http"`},
		{[]string{"update", "--mode", "global", "web"}, "unknown flag: --mode"},
		{[]string{"update", "nope"}, "service nope not found"},
		{[]string{"update", "web", "api"}, "accepts 1 arg(s)"},
	} {
		fc := newFake()
		r := run(t, fc, c.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.args, r.err, c.want)
		}
		if len(fc.Writes) != 0 {
			t.Errorf("%q: sent %v despite the error", c.args, fc.Writes)
		}
	}
}

// A change made by someone else between the read and the write fails with
// the manager's message, and the other change is not overwritten.
func TestUpdateOutOfSequence(t *testing.T) {
	for _, args := range [][]string{
		{"update", "-d", "--env-add", "X=1", "web"},
		{"scale", "-d", "web=7"},
		{"rollback", "-d", "web"},
	} {
		fc := newFake()
		fc.Race = func(c *fakeclient.Client) {
			c.Services[0].Version.Index++
			c.Services[0].Spec.TaskTemplate.ContainerSpec.Image = "theirs:1"
		}
		r := run(t, fc, args...)
		if r.err == nil || !strings.Contains(r.err.Error(), "update out of sequence") {
			t.Errorf("%q: error %v, want the manager's conflict", args, r.err)
		}
		if got := service(t, fc, "web").Spec.TaskTemplate.ContainerSpec.Image; got != "theirs:1" {
			t.Errorf("%q: image %q: the other change was overwritten", args, got)
		}
	}
}

func TestScale(t *testing.T) {
	fc := newFake()
	r := run(t, fc, "scale", "-d", "web=5", "batch=0")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.out != "web scaled to 5\nbatch scaled to 0\n" {
		t.Errorf("printed %q", r.out)
	}
	if len(fc.Writes) != 2 {
		t.Fatalf("writes %v", fc.Writes)
	}
	want := fixtures.WebSpec()
	*want.Mode.Replicated.Replicas = 5
	if g, w := normalize(t, fc.Writes[0].ServiceSpec), normalize(t, want); g != w {
		t.Errorf("sent\n%s\nwant\n%s", g, w)
	}
	if n := *fc.Writes[1].ServiceSpec.Mode.Replicated.Replicas; n != 0 {
		t.Errorf("batch scaled to %d", n)
	}
}

func TestScaleErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
		sent int
	}{
		{[]string{"web"}, `"web": want SERVICE=REPLICAS`, 0},
		{[]string{"web=five"}, `"five" is not a number of replicas`, 0},
		{[]string{"web=-1"}, `"-1" is not a number`, 0},
		{[]string{"=3"}, "want SERVICE=REPLICAS", 0},
		{[]string{"web=2", "oops"}, `"oops": want SERVICE=REPLICAS`, 0},
		{[]string{"agent=3", "web=2"}, "agent: scale applies to replicated services only; this one is global", 1},
		{[]string{"nope=3", "web=2"}, "nope: service nope not found", 1},
	} {
		fc := newFake()
		r := run(t, fc, append([]string{"scale", "-d"}, c.args...)...)
		if r.err == nil || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("scale %q: error %v, want one saying %q", c.args, r.err, c.want)
		}
		if len(fc.Writes) != c.sent {
			t.Errorf("scale %q: %d writes, want %d", c.args, len(fc.Writes), c.sent)
		}
	}
}

func TestRollback(t *testing.T) {
	fc := newFake()
	if r := run(t, fc, "update", "-d", "--image", "nginx:1.28", "web"); r.err != nil {
		t.Fatal(r.err)
	}
	updated := service(t, fc, "web")
	r := run(t, fc, "rollback", "-d", "web")
	if r.err != nil {
		t.Fatal(r.err)
	}
	w := fc.LastWrite()
	if w.Options != "previous" || w.Version != updated.Version.Index {
		t.Errorf("sent rollback=%q version %d", w.Options, w.Version)
	}
	// As the docker CLI: the current spec, unchanged; the manager restores
	// the previous one.
	if !reflect.DeepEqual(w.ServiceSpec, updated.Spec) {
		t.Errorf("sent %+v, want the current spec", w.ServiceSpec)
	}
	if got := service(t, fc, "web").Spec.TaskTemplate.ContainerSpec.Image; got != fixtures.Image {
		t.Errorf("image after rollback %q", got)
	}
	// A service with no previous spec: the manager's message.
	r = run(t, fc, "rollback", "-d", "api")
	if r.err == nil || !strings.Contains(r.err.Error(), "does not have a previous spec") {
		t.Errorf("error %v", r.err)
	}
}

func TestRm(t *testing.T) {
	fc := newFake()
	r := run(t, fc, "rm", "web", "nope", "batch")
	if r.err == nil || r.err.Error() != "nope: service nope not found" {
		t.Errorf("error %v", r.err)
	}
	if r.out != "web\nbatch\n" {
		t.Errorf("printed %q", r.out)
	}
	if len(fc.Services) != 2 {
		t.Errorf("%d services left", len(fc.Services))
	}
}
