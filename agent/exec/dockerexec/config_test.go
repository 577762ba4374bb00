package dockerexec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/model"
)

func TestContainerConfig(t *testing.T) {
	grace := 1500 * time.Millisecond
	init := true
	task := &model.Task{
		ID: "t1", ServiceID: "s1", ServiceName: "web", Slot: 2, NodeID: "n1",
		Spec: model.TaskSpec{
			Container: model.ContainerSpec{
				Image:    "shoal/demoapp:test",
				Labels:   map[string]string{"team": "a", LabelNodeID: "forged"},
				Command:  []string{"/demoapp"},
				Args:     []string{"--tick", "1s"},
				Hostname: "h", Env: []string{"A=1"}, Dir: "/", User: "65534",
				TTY: true, ReadOnly: true, Init: &init,
				Mounts: []model.Mount{
					{Type: model.MountTypeBind, Source: "/srv", Target: "/data", ReadOnly: true},
					{Type: model.MountTypeVolume, Source: "vol", Target: "/vol"},
					{Type: model.MountTypeTmpfs, Target: "/tmp"},
				},
				StopSignal:      "SIGINT",
				StopGracePeriod: &grace,
				Healthcheck:     &model.HealthConfig{Test: []string{"NONE"}},
			},
			Resources: model.ResourceRequirements{
				Limits:       model.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20},
				Reservations: model.Resources{MemoryBytes: 32 << 20},
				PidsLimit:    100,
			},
		},
		Endpoint: &model.EndpointSpec{Ports: []model.PortConfig{
			{TargetPort: 8080, PublishedPort: 30080, PublishMode: "host"},
			{Protocol: "udp", TargetPort: 53, PublishMode: "host"},
			{TargetPort: 9090, PublishedPort: 30090, PublishMode: "ingress"},
		}},
		Networks: []model.NetworkAttachment{{NetworkID: "ingress", Addresses: []string{"10.0.0.5/24"}}},
	}
	cfg, host, err := containerConfig(task, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if ContainerName(task) != "web.2.t1" {
		t.Errorf("name = %q", ContainerName(task))
	}
	wantLabels := map[string]string{"team": "a", LabelNodeID: "n1", LabelTaskID: "t1", LabelTaskName: "web.2",
		LabelTaskSlot: "2", LabelServiceID: "s1", LabelServiceName: "web"}
	for k, v := range wantLabels {
		if cfg.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], v)
		}
	}
	for _, e := range []string{"A=1", "SHOAL_TASK_NAME=web.2", "SHOAL_TASK_ID=t1", "SHOAL_NODE_ID=n1",
		"SHOAL_SERVICE_NAME=web", "SHOAL_SERVICE_ID=s1", "SHOAL_TASK_SLOT=2"} {
		if !slices.Contains(cfg.Env, e) {
			t.Errorf("env lacks %s: %v", e, cfg.Env)
		}
	}
	if !slices.Equal(cfg.Entrypoint, []string{"/demoapp"}) || !slices.Equal(cfg.Cmd, []string{"--tick", "1s"}) {
		t.Errorf("entrypoint %v cmd %v", cfg.Entrypoint, cfg.Cmd)
	}
	if cfg.StopTimeout == nil || *cfg.StopTimeout != 2 {
		t.Errorf("stop timeout = %v, want 2 (1.5 s rounded up)", cfg.StopTimeout)
	}
	if cfg.StopSignal != "SIGINT" || !cfg.Tty || cfg.User != "65534" || cfg.Hostname != "h" || cfg.WorkingDir != "/" {
		t.Errorf("config = %+v", cfg)
	}
	if cfg.Healthcheck == nil || cfg.Healthcheck.Test[0] != "NONE" {
		t.Errorf("healthcheck = %+v", cfg.Healthcheck)
	}
	if host.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("restart policy = %v, want none", host.RestartPolicy)
	}
	if host.NanoCPUs != 5e8 || host.Memory != 64<<20 || host.MemoryReservation != 32<<20 ||
		host.PidsLimit == nil || *host.PidsLimit != 100 || !host.ReadonlyRootfs || host.Init == nil || !*host.Init {
		t.Errorf("host config = %+v", host)
	}
	wantMounts := []mount.Mount{
		{Type: mount.TypeBind, Source: "/srv", Target: "/data", ReadOnly: true},
		{Type: mount.TypeVolume, Source: "vol", Target: "/vol"},
		{Type: mount.TypeTmpfs, Target: "/tmp"},
	}
	if !slices.EqualFunc(host.Mounts, wantMounts, func(a, b mount.Mount) bool {
		return a.Type == b.Type && a.Source == b.Source && a.Target == b.Target && a.ReadOnly == b.ReadOnly
	}) {
		t.Errorf("mounts = %+v", host.Mounts)
	}
	if b := host.PortBindings[nat.Port("8080/tcp")]; len(b) != 1 || b[0].HostPort != "30080" {
		t.Errorf("8080/tcp bindings = %+v", b)
	}
	if b := host.PortBindings[nat.Port("53/udp")]; len(b) != 1 || b[0].HostPort != "" {
		t.Errorf("53/udp bindings = %+v (want an engine-chosen port)", b)
	}
	if _, ok := host.PortBindings[nat.Port("9090/tcp")]; ok {
		t.Errorf("the ingress port is bound on the host: %v (the routing mesh publishes it)", host.PortBindings)
	}
	if _, ok := cfg.ExposedPorts[nat.Port("53/udp")]; !ok {
		t.Errorf("exposed ports = %v", cfg.ExposedPorts)
	}
}

func TestContainerConfigRefuses(t *testing.T) {
	base := func() *model.Task {
		return &model.Task{ID: "t1", ServiceName: "web", Slot: 1,
			Spec: model.TaskSpec{Container: model.ContainerSpec{Image: "img"}}}
	}
	for name, mutate := range map[string]func(*model.Task){
		"no image": func(t *model.Task) { t.Spec.Container.Image = "" },
		"no ID":    func(t *model.Task) { t.ID = "" },
		"bad name": func(t *model.Task) { t.ServiceName = "we b" },
		"relative target": func(t *model.Task) {
			t.Spec.Container.Mounts = []model.Mount{{Type: model.MountTypeTmpfs, Target: "tmp"}}
		},
		"relative bind": func(t *model.Task) {
			t.Spec.Container.Mounts = []model.Mount{{Type: model.MountTypeBind, Source: "x", Target: "/x"}}
		},
		"tmpfs with source": func(t *model.Task) {
			t.Spec.Container.Mounts = []model.Mount{{Type: model.MountTypeTmpfs, Source: "x", Target: "/x"}}
		},
		"unknown mount": func(t *model.Task) { t.Spec.Container.Mounts = []model.Mount{{Type: "npipe", Target: "/x"}} },
		"ingress port on no network": func(t *model.Task) {
			t.Endpoint = &model.EndpointSpec{Ports: []model.PortConfig{{TargetPort: 80, PublishMode: "ingress"}}}
		},
		"unknown publish mode": func(t *model.Task) {
			t.Networks = []model.NetworkAttachment{{NetworkID: "ingress", Addresses: []string{"10.0.0.5/24"}}}
			t.Endpoint = &model.EndpointSpec{Ports: []model.PortConfig{{TargetPort: 80, PublishMode: "mesh"}}}
		},
		"bad protocol": func(t *model.Task) {
			t.Endpoint = &model.EndpointSpec{Ports: []model.PortConfig{{TargetPort: 80, Protocol: "icmp"}}}
		},
		"port out of range": func(t *model.Task) {
			t.Endpoint = &model.EndpointSpec{Ports: []model.PortConfig{{TargetPort: 70000}}}
		},
	} {
		task := base()
		mutate(task)
		if _, _, err := containerConfig(task, "n1"); !errors.Is(err, exec.ErrInvalidTask) {
			t.Errorf("%s: err = %v, want ErrInvalidTask", name, err)
		}
	}
}

// TestContainerConfigRefusesWhatTheNodeCannotProvide: a task that needs
// what no node can give it (the routing mesh, networks without addresses,
// files without a name or with a bad owner) fails with the reason rather
// than runs without it.
func TestContainerConfigRefusesWhatTheNodeCannotProvide(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*model.Task)
		want   string
	}{
		{"attachment without an address", func(t *model.Task) {
			t.Networks = []model.NetworkAttachment{{NetworkID: "netid1"}}
		}, "the task has no address on network netid1"},
		{"attachment with a bad address", func(t *model.Task) {
			t.Networks = []model.NetworkAttachment{{NetworkID: "netid1", Addresses: []string{"10.0.1.2"}}}
		}, `address "10.0.1.2" on network netid1`},
		{"network in the spec, not allocated", func(t *model.Task) {
			t.Spec.Networks = []model.NetworkAttachmentConfig{{Target: "netid2"}}
		}, "its networks are not allocated): network netid2"},
		{"ingress port, mode left empty", func(t *model.Task) {
			t.Endpoint = &model.EndpointSpec{Ports: []model.PortConfig{{TargetPort: 80, PublishedPort: 8080}}}
		}, "port 80 is published in ingress mode but the task is on no network"},
		{"secret without a file name", func(t *model.Task) {
			t.Spec.Container.Secrets = []model.SecretReference{{SecretID: "s1", SecretName: "db_password"}}
		}, "secret db_password has no file name"},
		{"config with a named owner", func(t *model.Task) {
			t.Spec.Container.Configs = []model.ConfigReference{{ConfigID: "c1", ConfigName: "nginx.conf", File: model.FileTarget{Name: "/etc/nginx.conf", UID: "root"}}}
		}, "config nginx.conf: uid \"root\""},
	} {
		task := &model.Task{ID: "t1", ServiceName: "web", Slot: 1, Spec: model.TaskSpec{Container: model.ContainerSpec{Image: "img"}}}
		tc.mutate(task)
		_, _, err := containerConfig(task, "n1")
		if !errors.Is(err, exec.ErrInvalidTask) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrInvalidTask with %q", tc.name, err, tc.want)
		}
	}
	// A host-mode port, an allocated network and files all pass.
	task := &model.Task{ID: "t1", ServiceName: "web", Slot: 1, Spec: model.TaskSpec{Container: model.ContainerSpec{Image: "img"}},
		Endpoint: &model.EndpointSpec{Ports: []model.PortConfig{{TargetPort: 80, PublishedPort: 8080, Protocol: "tcp", PublishMode: model.PublishModeHost}}}}
	task.Networks = []model.NetworkAttachment{{NetworkID: "netid1", Addresses: []string{"10.0.1.2/24"}}}
	task.Spec.Container.Secrets = []model.SecretReference{{SecretID: "s1", SecretName: "db_password", File: model.FileTarget{Name: "db_password", UID: "0", GID: "0", Mode: 0o444}}}
	if _, _, err := containerConfig(task, "n1"); err != nil {
		t.Fatalf("host-mode port, network, secret: %v", err)
	}
}

func TestGraceSeconds(t *testing.T) {
	d := func(x time.Duration) *time.Duration { return &x }
	for _, tc := range []struct {
		in   *time.Duration
		want int
	}{{d(0), 0}, {d(-time.Second), 0}, {d(time.Millisecond), 1}, {d(time.Second), 1}, {d(2500 * time.Millisecond), 3}} {
		if got := graceSeconds(tc.in); got == nil || *got != tc.want {
			t.Errorf("graceSeconds(%v) = %v, want %d", *tc.in, got, tc.want)
		}
	}
	if graceSeconds(nil) != nil {
		t.Error("nil grace must stay nil (engine default)")
	}
}

func frame(stream byte, payload string) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}

func TestDemux(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(1, "one\n"))
	in.Write(frame(2, "err "))
	in.Write(frame(1, "two\nthr"))
	in.Write(frame(2, "split\n"))
	in.Write(frame(1, "ee\n\n"))
	in.Write(frame(2, "no newline"))
	var out bytes.Buffer
	if err := demux(&in, &out, false); err != nil {
		t.Fatal(err)
	}
	want := "stdout one\nstdout two\nstderr err split\nstdout three\nstdout \nstderr no newline\n"
	if out.String() != want {
		t.Fatalf("demux =\n%q\nwant\n%q", out.String(), want)
	}

	out.Reset()
	if err := demux(strings.NewReader("a\r\nb"), &out, true); err != nil {
		t.Fatal(err)
	}
	if out.String() != "stdout a\nstdout b\n" {
		t.Fatalf("tty demux = %q", out.String())
	}

	if err := demux(bytes.NewReader(frame(3, "engine broke")), io.Discard, false); err == nil ||
		!strings.Contains(err.Error(), "engine broke") {
		t.Fatalf("system frame: %v", err)
	}
	if err := demux(bytes.NewReader(frame(1, "xyz")[:10]), io.Discard, false); err == nil {
		t.Fatal("a truncated frame must be an error")
	}
}

func TestObservedState(t *testing.T) {
	mk := func(status string, exit int, health string) container.InspectResponse {
		st := &container.State{Status: status, ExitCode: exit, Running: status == "running"}
		if health != "" {
			st.Health = &container.Health{Status: health}
		}
		return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{State: st}}
	}
	for _, tc := range []struct {
		ctr  container.InspectResponse
		want model.TaskState
	}{
		{mk("created", 0, ""), model.TaskStateReady},
		{mk("running", 0, ""), model.TaskStateRunning},
		{mk("running", 0, "starting"), model.TaskStateStarting},
		{mk("running", 0, "healthy"), model.TaskStateRunning},
		{mk("running", 0, "unhealthy"), model.TaskStateFailed},
		{mk("exited", 0, ""), model.TaskStateComplete},
		{mk("exited", 137, ""), model.TaskStateFailed},
		{mk("dead", 0, ""), model.TaskStateFailed},
	} {
		if got := observedState(tc.ctr); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.ctr.State, got, tc.want)
		}
	}
}
