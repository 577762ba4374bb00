package service

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fakeclient"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/golden"
)

// dockerBodies holds what the docker 28 CLI sent for `docker service
// create`, recorded by api/convert.
const dockerBodies = "../../../api/convert/testdata/cli"

// dockerSpec reads a recorded body, without what the docker CLI adds from
// the registry (the image digest and its platforms), which swarmctl does
// not ask for.
func dockerSpec(t *testing.T, name string) swarm.ServiceSpec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dockerBodies, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var s swarm.ServiceSpec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.TaskTemplate.ContainerSpec.Image, _, _ = strings.Cut(s.TaskTemplate.ContainerSpec.Image, "@")
	s.TaskTemplate.Placement.Platforms = nil
	return s
}

// normalize round-trips a spec through JSON, as it travels.
func normalize(t *testing.T, s swarm.ServiceSpec) string {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// createSpec runs `service create -d ARGS` and returns the spec sent.
func createSpec(t *testing.T, args ...string) swarm.ServiceSpec {
	t.Helper()
	fc := &fakeclient.Client{}
	r := run(t, fc, append([]string{"create", "-d"}, args...)...)
	if r.err != nil {
		t.Fatalf("service create %s: %v", strings.Join(args, " "), r.err)
	}
	w := fc.LastWrite()
	if w.Op != "service create" {
		t.Fatalf("last write %q, want a service create", w.Op)
	}
	if r.out != w.ID+"\n" {
		t.Errorf("printed %q, want the service ID", r.out)
	}
	return w.ServiceSpec
}

// TestCreateSendsWhatDockerSends builds specs from flags and compares them
// with the bodies the docker CLI sent for the same flags.
func TestCreateSendsWhatDockerSends(t *testing.T) {
	for _, c := range []struct {
		docker string
		args   []string
	}{
		{"service-create", []string{"--name", "web", "--replicas", "3", "nginx:1.27"}},
		{"service-create-constraint", []string{"--name", "web", "--constraint", "node.role==worker", "--constraint", "node.labels.zone!=b", "nginx:1.27"}},
		{"service-create-placement-pref", []string{"--name", "web", "--placement-pref", "spread=node.labels.zone", "nginx:1.27"}},
		{"service-create-replicas-max-per-node", []string{"--name", "web", "--replicas", "4", "--replicas-max-per-node", "2", "nginx:1.27"}},
		{"service-create-env", []string{"--name", "web", "--env", "A=1", "-e", "B=two words", "nginx:1.27"}},
		{"service-create-label", []string{"--name", "web", "--label", "com.example.team=web", "-l", "tier", "nginx:1.27"}},
		{"service-create-shoal-labels", []string{"--name", "web", "--label", "io.shoal.rebalance=true", "--label", "io.shoal.placement.strategy=binpack", "nginx:1.27"}},
		{"service-create-shoal-labels", []string{"--name", "web", "--rebalance", "--strategy", "binpack", "nginx:1.27"}},
		{"service-create-container-label", []string{"--name", "web", "--container-label", "com.example.role=frontend", "nginx:1.27"}},
		{"service-create-resources", []string{"--name", "web", "--reserve-cpu", "0.5", "--reserve-memory", "64M", "--limit-cpu", "1.5", "--limit-memory", "128M", "--limit-pids", "100", "nginx:1.27"}},
		{"service-create-restart", []string{"--name", "web", "--restart-condition", "on-failure", "--restart-delay", "3s", "--restart-max-attempts", "4", "--restart-window", "1m", "nginx:1.27"}},
		{"service-create-update-config", []string{"--name", "web", "--update-parallelism", "2", "--update-delay", "10s", "--update-order", "start-first", "--update-failure-action", "rollback", "--update-monitor", "30s", "--update-max-failure-ratio", "0.25", "nginx:1.27"}},
		{"service-create-rollback-config", []string{"--name", "web", "--rollback-parallelism", "0", "--rollback-delay", "2s", "--rollback-order", "start-first", "--rollback-failure-action", "continue", "--rollback-monitor", "10s", "--rollback-max-failure-ratio", "0.5", "nginx:1.27"}},
		{"service-create-update-delay-only", []string{"--name", "web", "--update-delay", "10s", "nginx:1.27"}},
		{"service-create-rollback-delay-only", []string{"--name", "web", "--rollback-delay", "2s", "nginx:1.27"}},
		{"service-create-replicas-zero", []string{"--name", "web", "--replicas", "0", "nginx:1.27"}},
		{"service-create-global", []string{"--name", "web", "--mode", "global", "nginx:1.27"}},
		{"service-create-publish-host", []string{"--name", "web", "--publish", "published=8080,target=80,mode=host", "nginx:1.27"}},
		{"service-create-publish-host", []string{"--name", "web", "-p", "8080:80", "nginx:1.27"}},
		{"service-create-mount-bind", []string{"--name", "web", "--mount", "type=bind,source=/srv/data,target=/data,readonly", "nginx:1.27"}},
		{"service-create-mount-volume", []string{"--name", "web", "--mount", "type=volume,source=vol1,target=/var/lib/data", "nginx:1.27"}},
		{"service-create-mount-tmpfs", []string{"--name", "web", "--mount", "type=tmpfs,target=/scratch", "nginx:1.27"}},
		{"service-create-health", []string{"--name", "web", "--health-cmd", "curl -f http://localhost/", "--health-interval", "5s", "--health-timeout", "2s", "--health-retries", "3", "--health-start-period", "10s", "nginx:1.27"}},
		{"service-create-no-healthcheck", []string{"--name", "web", "--no-healthcheck", "nginx:1.27"}},
		{"service-create-stop-grace-period", []string{"--name", "web", "--stop-grace-period", "20s", "nginx:1.27"}},
	} {
		t.Run(c.docker+"/"+strings.Join(c.args, " "), func(t *testing.T) {
			got := createSpec(t, c.args...)
			if g, w := normalize(t, got), normalize(t, dockerSpec(t, c.docker)); g != w {
				t.Errorf("swarmctl sent\n%s\nthe docker CLI sent\n%s", g, w)
			}
			// What swarmctl sends, the manager accepts.
			if _, err := convert.ServiceSpecFromDocker(got); err != nil {
				t.Errorf("the manager would refuse it: %v", err)
			}
		})
	}
}

// The words after the image go to the container, flags included.
func TestCreateArgs(t *testing.T) {
	got := createSpec(t, "--name", "web", "nginx:1.27", "-g", "daemon off;", "--replicas", "9")
	if want := []string{"-g", "daemon off;", "--replicas", "9"}; !reflect.DeepEqual(got.TaskTemplate.ContainerSpec.Args, want) {
		t.Errorf("Args = %q, want %q", got.TaskTemplate.ContainerSpec.Args, want)
	}
	if got.Mode.Replicated.Replicas != nil {
		t.Error("--replicas after the image was taken as a flag")
	}
}

// A spec using many flags at once, as a golden file: the JSON body sent.
func TestCreateSpecGolden(t *testing.T) {
	got := createSpec(t, "--name", "api", "--replicas", "2",
		"--constraint", "node.labels.zone==a", "--placement-pref", "spread=node.labels.rack",
		"-e", "A=1", "-e", "A=2", "-l", "team=x", "--container-label", "c=1",
		"--reserve-cpu", "0.25", "--reserve-memory", "1.5G", "--limit-memory", "2G",
		"--restart-condition", "any", "--restart-delay", "1s",
		"--update-parallelism", "0", "--update-order", "start-first",
		"--rollback-failure-action", "continue",
		"-p", "8080:80", "-p", "published=9090,target=90,protocol=udp",
		"--mount", "type=volume,target=/cache",
		"--health-cmd", "true", "--health-retries", "2",
		"--stop-grace-period", "1m", "--rebalance", "--strategy", "spread",
		"api:2", "serve", "--port", "80")
	golden.Assert(t, "create-spec", []byte(normalize(t, got)+"\n"))
	if _, err := convert.ServiceSpecFromDocker(got); err != nil {
		t.Errorf("the manager would refuse it: %v", err)
	}
}

func TestCreateErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nginx"}, `required flag(s) "name" not set`},
		{[]string{"--name", "web"}, "requires at least 1 arg"},
		{[]string{"--name", "web", "--env", "NOVALUE", "nginx"}, `--env "NOVALUE": no value, want KEY=VALUE`},
		{[]string{"--name", "web", "--label", "=v", "nginx"}, `--label "=v": empty key`},
		{[]string{"--name", "web", "--mode", "global", "--replicas", "2", "nginx"}, "--replicas applies to replicated services only; this one is global"},
		{[]string{"--name", "web", "--max-concurrent", "2", "nginx"}, "--max-concurrent applies to replicated jobs only; this one is replicated"},
		{[]string{"--name", "web", "--mode", "dual", "nginx"}, `--mode "dual": want replicated, global, replicated-job or global-job`},
		{[]string{"--name", "web", "--replicas", "-1", "nginx"}, `"-1": want a whole number`},
		{[]string{"--name", "web", "--reserve-cpu", "lots", "nginx"}, `"lots": want a number of CPUs`},
		{[]string{"--name", "web", "--limit-memory", "big", "nginx"}, `"big": want a size`},
		{[]string{"--name", "web", "--constraint", "node.role=worker", "nginx"}, "want ATTR==VALUE or ATTR!=VALUE"},
		{[]string{"--name", "web", "--placement-pref", "pack=x", "nginx"}, "the only one is spread"},
		{[]string{"--name", "web", "-p", "published=80", "nginx"}, "no target"},
		{[]string{"--name", "web", "--mount", "type=bind,target=/x", "nginx"}, "needs a source"},
		{[]string{"--name", "web", "--restart-condition", "always", "nginx"}, `--restart-condition "always": want any, on-failure or none`},
		{[]string{"--name", "web", "--update-order", "random", "nginx"}, "want stop-first or start-first"},
		{[]string{"--name", "web", "--update-failure-action", "panic", "nginx"}, "want pause, continue or rollback"},
		{[]string{"--name", "web", "--rollback-failure-action", "rollback", "nginx"}, "a rollback cannot roll back"},
		{[]string{"--name", "web", "--update-max-failure-ratio", "2", "nginx"}, "between 0 and 1"},
		{[]string{"--name", "web", "--no-healthcheck", "--health-cmd", "true", "nginx"}, "--no-healthcheck conflicts"},
		{[]string{"--name", "web", "--strategy", "random", "nginx"}, `--strategy "random": want spread or binpack`},
		{[]string{"--name", "web", "--health-interval", "10ns", "nginx"}, "want 0 or at least 1ms"},
	} {
		fc := &fakeclient.Client{}
		r := run(t, fc, append([]string{"create", "-d"}, c.args...)...)
		if r.err == nil || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("create %q: error %v, want one saying %q", c.args, r.err, c.want)
		}
		if len(fc.Writes) != 0 {
			t.Errorf("create %q: sent %v despite the error", c.args, fc.Writes)
		}
	}
}

// TestCreateJob: --mode replicated-job with --replicas (completions) and
// --max-concurrent sends Docker's ReplicatedJob, which the manager
// accepts; --mode global-job a GlobalJob.
func TestCreateJob(t *testing.T) {
	fc := &fakeclient.Client{}
	if r := run(t, fc, "create", "-d", "--name", "batch", "--mode", "replicated-job", "--replicas", "6", "--max-concurrent", "2", "nginx"); r.err != nil {
		t.Fatal(r.err)
	}
	spec := fc.LastWrite().ServiceSpec
	j := spec.Mode.ReplicatedJob
	if j == nil || j.TotalCompletions == nil || *j.TotalCompletions != 6 || j.MaxConcurrent == nil || *j.MaxConcurrent != 2 || spec.Mode.Replicated != nil {
		t.Fatalf("mode sent %+v", spec.Mode)
	}
	if _, err := convert.ServiceSpecFromDocker(spec); err != nil {
		t.Errorf("the manager would refuse it: %v", err)
	}
	if r := run(t, fc, "create", "-d", "--name", "mig", "--mode", "global-job", "nginx"); r.err != nil {
		t.Fatal(r.err)
	}
	if m := fc.LastWrite().ServiceSpec.Mode; m.GlobalJob == nil || m.Replicated != nil {
		t.Fatalf("mode sent %+v", m)
	}
}

// Without -d, create shows the service converging.
func TestCreateProgress(t *testing.T) {
	fc := &fakeclient.Client{NextID: "newsvc0000000000000000001", Nodes: newFake().Nodes}
	for slot, node := range []string{"m1node0000000000000000001", "m2node0000000000000000002"} {
		fc.Tasks = append(fc.Tasks, swarm.Task{
			ID: "t" + node, ServiceID: fc.NextID, Slot: slot + 1, NodeID: node,
			DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning},
		})
	}
	r := run(t, fc, "create", "--name", "web", "--replicas", "2", "nginx:1.27")
	if r.err != nil {
		t.Fatal(r.err)
	}
	golden.Assert(t, "create-progress", []byte(r.out))
}

func TestCreateConflict(t *testing.T) {
	fc := newFake()
	r := run(t, fc, "create", "-d", "--name", "web", "nginx")
	if r.err == nil || r.err.Error() != "service web already exists" {
		t.Errorf("error %v, want the manager's message", r.err)
	}
}

// refsFake holds the network, secret and config the docker CLI's
// recorded bodies name, with the recording engine's IDs.
func refsFake() *fakeclient.Client {
	return &fakeclient.Client{
		Networks: []network.Inspect{{ID: "netappnet0000000000000000", Name: "appnet", Scope: "swarm", Driver: "overlay"}},
		Secrets:  []swarm.Secret{{ID: "secdbpass0000000000000000", Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "dbpass"}}}},
		Configs:  []swarm.Config{{ID: "cfgsite0conf0000000000000", Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "site.conf"}}}},
	}
}

// TestCreateResolvesReferences checks that --network, --secret and
// --config send what the docker CLI sends: the objects' IDs, and Docker's
// file defaults.
func TestCreateResolvesReferences(t *testing.T) {
	for _, c := range []struct {
		docker string
		args   []string
	}{
		{"service-create-network", []string{"--name", "web", "--network", "appnet", "nginx:1.27"}},
		{"service-create-network", []string{"--name", "web", "--network", "name=netapp", "nginx:1.27"}},
		{"service-create-secret", []string{"--name", "web", "--secret", "dbpass", "nginx:1.27"}},
		{"service-create-config", []string{"--name", "web", "--config", "source=site.conf", "nginx:1.27"}},
	} {
		t.Run(c.docker+"/"+strings.Join(c.args, " "), func(t *testing.T) {
			fc := refsFake()
			r := run(t, fc, append([]string{"create", "-d"}, c.args...)...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			got := fc.LastWrite().ServiceSpec
			if g, w := normalize(t, got), normalize(t, dockerSpec(t, c.docker)); g != w {
				t.Errorf("swarmctl sent\n%s\nthe docker CLI sent\n%s", g, w)
			}
			if _, err := convert.ServiceSpecFromDocker(got); err != nil {
				t.Errorf("the manager would refuse it: %v", err)
			}
		})
	}
	fc := refsFake()
	r := run(t, fc, "create", "-d", "--name", "web", "--network", "name=appnet,alias=www,alias=api", "--endpoint-mode", "dnsrr",
		"--secret", "source=dbpass,target=db.pw,uid=10,gid=20,mode=0400", "nginx:1.27")
	if r.err != nil {
		t.Fatal(r.err)
	}
	got := fc.LastWrite().ServiceSpec
	if n := got.TaskTemplate.Networks; len(n) != 1 || strings.Join(n[0].Aliases, ",") != "www,api" || got.EndpointSpec.Mode != swarm.ResolutionModeDNSRR {
		t.Errorf("networks %+v, endpoint %+v", n, got.EndpointSpec)
	}
	if s := got.TaskTemplate.ContainerSpec.Secrets; len(s) != 1 || *s[0].File != (swarm.SecretReferenceFileTarget{Name: "db.pw", UID: "10", GID: "20", Mode: 0o400}) {
		t.Errorf("secrets %+v", s)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--network", "nope"}, "--network nope: network nope not found"},
		{[]string{"--secret", "nope"}, "--secret nope: secret nope not found"},
		{[]string{"--config", "src=nope"}, "--config nope: config nope not found"},
		{[]string{"--secret", "source=dbpass,mode=rw"}, `mode "rw": want an octal file mode`},
		{[]string{"--network", "appnet", "--network", "netapp"}, "already attached"},
		{[]string{"--endpoint-mode", "rr"}, `--endpoint-mode "rr": want vip or dnsrr`},
	} {
		fc := refsFake()
		r := run(t, fc, append(append([]string{"create", "-d", "--name", "web"}, bad.args...), "nginx:1.27")...)
		if r.err == nil || !strings.Contains(r.err.Error(), bad.want) || len(fc.Writes) != 0 {
			t.Errorf("%q: %v, writes %d; want an error saying %q", bad.args, r.err, len(fc.Writes), bad.want)
		}
	}
}

// TestUpdateReferences adds and removes networks, secrets and configs by
// name, on a service that holds them by ID.
func TestUpdateReferences(t *testing.T) {
	fc := refsFake()
	if r := run(t, fc, "create", "-d", "--name", "web", "--network", "appnet", "--secret", "dbpass", "nginx:1.27"); r.err != nil {
		t.Fatal(r.err)
	}
	if r := run(t, fc, "update", "-d", "--network-rm", "appnet", "--secret-rm", "dbpass", "--config-add", "site.conf", "web"); r.err != nil {
		t.Fatal(r.err)
	}
	got := fc.LastWrite().ServiceSpec
	cs := got.TaskTemplate.ContainerSpec
	if len(got.TaskTemplate.Networks) != 0 || len(cs.Secrets) != 0 || len(cs.Configs) != 1 || cs.Configs[0].ConfigID != "cfgsite0conf0000000000000" {
		t.Errorf("after update: networks %+v secrets %+v configs %+v", got.TaskTemplate.Networks, cs.Secrets, cs.Configs)
	}
}
