package convert_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
)

// baseDockerSpec is the smallest service spec the CLI could send.
func baseDockerSpec() swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "web", Labels: map[string]string{}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "nginx:1.27"}},
	}
}

// baseStateSpec is what baseDockerSpec converts to.
func baseStateSpec() model.ServiceSpec {
	return model.ServiceSpec{
		Annotations: model.Annotations{Name: "web"},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "nginx:1.27"}},
		Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 1}},
	}
}

func dur(d time.Duration) *time.Duration { return &d }
func u64(v uint64) *uint64               { return &v }
func i64(v int64) *int64                 { return &v }
func boolp(v bool) *bool                 { return &v }

// TestServiceSpecFromDockerSupported checks each supported field: it
// converts to the expected state, and converts back unchanged.
func TestServiceSpecFromDockerSupported(t *testing.T) {
	tests := []struct {
		name string
		in   func(*swarm.ServiceSpec)
		want func(*model.ServiceSpec)
	}{
		{"minimal", func(*swarm.ServiceSpec) {}, func(*model.ServiceSpec) {}},
		{"name with separators", func(s *swarm.ServiceSpec) { s.Name = "Web_1.blue-2" }, func(s *model.ServiceSpec) { s.Name = "Web_1.blue-2" }},
		{"name of 63 characters", func(s *swarm.ServiceSpec) { s.Name = strings.Repeat("a", 63) }, func(s *model.ServiceSpec) { s.Name = strings.Repeat("a", 63) }},
		{"labels", func(s *swarm.ServiceSpec) { s.Labels = map[string]string{"team": "web", "tier": ""} },
			func(s *model.ServiceSpec) { s.Labels = map[string]string{"team": "web", "tier": ""} }},
		{"nil labels", func(s *swarm.ServiceSpec) { s.Labels = nil }, func(*model.ServiceSpec) {}},
		{"rebalance label", func(s *swarm.ServiceSpec) { s.Labels = map[string]string{convert.LabelRebalance: "true"} },
			func(s *model.ServiceSpec) {
				s.Labels = map[string]string{convert.LabelRebalance: "true"}
				s.Rebalance = true
			}},
		{"rebalance label false", func(s *swarm.ServiceSpec) { s.Labels = map[string]string{convert.LabelRebalance: "false"} },
			func(s *model.ServiceSpec) { s.Labels = map[string]string{convert.LabelRebalance: "false"} }},
		{"binpack label", func(s *swarm.ServiceSpec) { s.Labels = map[string]string{convert.LabelPlacementStrategy: "binpack"} },
			func(s *model.ServiceSpec) {
				s.Labels = map[string]string{convert.LabelPlacementStrategy: "binpack"}
				s.Strategy = model.StrategyBinpack
			}},
		{"spread label", func(s *swarm.ServiceSpec) { s.Labels = map[string]string{convert.LabelPlacementStrategy: "spread"} },
			func(s *model.ServiceSpec) {
				s.Labels = map[string]string{convert.LabelPlacementStrategy: "spread"}
				s.Strategy = model.StrategySpread
			}},
		{"image by digest", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Image = "registry.example.com:5000/team/app:v1@sha256:" + strings.Repeat("ab", 32)
		}, func(s *model.ServiceSpec) {
			s.Task.Container.Image = "registry.example.com:5000/team/app:v1@sha256:" + strings.Repeat("ab", 32)
		}},
		{"container labels", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Labels = map[string]string{"role": "fe"} },
			func(s *model.ServiceSpec) { s.Task.Container.Labels = map[string]string{"role": "fe"} }},
		{"command and args", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Command = []string{"nginx"}
			s.TaskTemplate.ContainerSpec.Args = []string{"-g", "daemon off;"}
		}, func(s *model.ServiceSpec) {
			s.Task.Container.Command = []string{"nginx"}
			s.Task.Container.Args = []string{"-g", "daemon off;"}
		}},
		{"hostname template", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Hostname = "{{.Node.Hostname}}" },
			func(s *model.ServiceSpec) { s.Task.Container.Hostname = "{{.Node.Hostname}}" }},
		{"env", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Env = []string{"A=1", "B"} },
			func(s *model.ServiceSpec) { s.Task.Container.Env = []string{"A=1", "B"} }},
		{"dir", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Dir = "/app" }, func(s *model.ServiceSpec) { s.Task.Container.Dir = "/app" }},
		{"user", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.User = "1000:1000" }, func(s *model.ServiceSpec) { s.Task.Container.User = "1000:1000" }},
		{"tty", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.TTY = true }, func(s *model.ServiceSpec) { s.Task.Container.TTY = true }},
		{"read only", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.ReadOnly = true }, func(s *model.ServiceSpec) { s.Task.Container.ReadOnly = true }},
		{"init true", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Init = boolp(true) }, func(s *model.ServiceSpec) { s.Task.Container.Init = boolp(true) }},
		{"init false as the CLI sends", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Init = boolp(false) }, func(s *model.ServiceSpec) { s.Task.Container.Init = boolp(false) }},
		{"stop signal", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.StopSignal = "SIGINT" }, func(s *model.ServiceSpec) { s.Task.Container.StopSignal = "SIGINT" }},
		{"stop grace period", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.StopGracePeriod = dur(20 * time.Second) },
			func(s *model.ServiceSpec) { s.Task.Container.StopGracePeriod = dur(20 * time.Second) }},
		{"stop grace period zero", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.StopGracePeriod = dur(0) },
			func(s *model.ServiceSpec) { s.Task.Container.StopGracePeriod = dur(0) }},
		{"healthcheck shell", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"CMD-SHELL", "curl -f localhost"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, StartPeriod: 10 * time.Second, StartInterval: time.Second, Retries: 3}
		}, func(s *model.ServiceSpec) {
			s.Task.Container.Healthcheck = &model.HealthConfig{Test: []string{"CMD-SHELL", "curl -f localhost"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, StartPeriod: 10 * time.Second, StartInterval: time.Second, Retries: 3}
		}},
		{"healthcheck exec", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "/bin/check", "-q"}}
		}, func(s *model.ServiceSpec) {
			s.Task.Container.Healthcheck = &model.HealthConfig{Test: []string{"CMD", "/bin/check", "-q"}}
		}},
		{"healthcheck disabled", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		}, func(s *model.ServiceSpec) { s.Task.Container.Healthcheck = &model.HealthConfig{Test: []string{"NONE"}} }},
		{"healthcheck timing only", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Interval: time.Minute}
		}, func(s *model.ServiceSpec) { s.Task.Container.Healthcheck = &model.HealthConfig{Interval: time.Minute} }},
		{"mounts", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{
				{Type: mount.TypeBind, Source: "/srv/data", Target: "/data", ReadOnly: true},
				{Type: mount.TypeVolume, Source: "vol1", Target: "/var/lib/db"},
				{Type: mount.TypeVolume, Target: "/cache"},
				{Type: mount.TypeTmpfs, Target: "/scratch"},
			}
		}, func(s *model.ServiceSpec) {
			s.Task.Container.Mounts = []model.Mount{
				{Type: model.MountTypeBind, Source: "/srv/data", Target: "/data", ReadOnly: true},
				{Type: model.MountTypeVolume, Source: "vol1", Target: "/var/lib/db"},
				{Type: model.MountTypeVolume, Target: "/cache"},
				{Type: model.MountTypeTmpfs, Target: "/scratch"},
			}
		}},
		{"mount with empty options", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: "/a", Target: "/b", Consistency: mount.ConsistencyDefault, BindOptions: &mount.BindOptions{}}}
		}, func(s *model.ServiceSpec) {
			s.Task.Container.Mounts = []model.Mount{{Type: model.MountTypeBind, Source: "/a", Target: "/b"}}
		}},
		{"empty unsupported structs as the CLI sends", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.DNSConfig = &swarm.DNSConfig{}
			s.TaskTemplate.ContainerSpec.Privileges = &swarm.Privileges{}
			s.TaskTemplate.ContainerSpec.Isolation = container.IsolationDefault
			s.TaskTemplate.LogDriver = &swarm.Driver{}
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{}, Reservations: &swarm.Resources{}}
			s.TaskTemplate.Placement = &swarm.Placement{}
		}, func(*model.ServiceSpec) {}},
		{"resources", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{
				Limits:       &swarm.Limit{NanoCPUs: 1.5e9, MemoryBytes: 128 << 20, Pids: 100},
				Reservations: &swarm.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20},
			}
		}, func(s *model.ServiceSpec) {
			s.Task.Resources = model.ResourceRequirements{
				Limits:       model.Resources{NanoCPUs: 1.5e9, MemoryBytes: 128 << 20},
				PidsLimit:    100,
				Reservations: model.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20},
			}
		}},
		{"restart policy", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, Delay: dur(3 * time.Second), MaxAttempts: u64(4), Window: dur(time.Minute)}
		}, func(s *model.ServiceSpec) {
			s.Task.Restart = model.RestartPolicy{Condition: model.RestartOnFailure, Delay: dur(3 * time.Second), MaxAttempts: 4, Window: time.Minute}
		}},
		{"restart none", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
		}, func(s *model.ServiceSpec) { s.Task.Restart = model.RestartPolicy{Condition: model.RestartOnNone} }},
		{"restart without condition means any", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Delay: dur(0)}
		}, func(s *model.ServiceSpec) {
			s.Task.Restart = model.RestartPolicy{Condition: model.RestartOnAny, Delay: dur(0)}
		}},
		{"placement", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{
				Constraints: []string{"node.role==worker", "node.labels.zone != b", "engine.labels.os==linux"},
				Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}},
				MaxReplicas: 2,
				Platforms:   []swarm.Platform{{Architecture: "amd64", OS: "linux"}},
			}
		}, func(s *model.ServiceSpec) {
			s.Task.Placement = model.Placement{
				Constraints: []string{"node.role==worker", "node.labels.zone != b", "engine.labels.os==linux"},
				Preferences: []model.PlacementPreference{{Spread: "node.labels.zone"}},
				MaxReplicas: 2,
				Platforms:   []model.Platform{{Architecture: "amd64", OS: "linux"}},
			}
		}},
		{"force update", func(s *swarm.ServiceSpec) { s.TaskTemplate.ForceUpdate = 7 }, func(s *model.ServiceSpec) { s.Task.ForceUpdate = 7 }},
		{"runtime container", func(s *swarm.ServiceSpec) { s.TaskTemplate.Runtime = swarm.RuntimeContainer }, func(*model.ServiceSpec) {}},
		{"global", func(s *swarm.ServiceSpec) { s.Mode.Global = &swarm.GlobalService{} },
			func(s *model.ServiceSpec) { s.Mode = model.ServiceMode{Global: &model.GlobalService{}} }},
		{"replicas", func(s *swarm.ServiceSpec) { s.Mode.Replicated = &swarm.ReplicatedService{Replicas: u64(3)} },
			func(s *model.ServiceSpec) { s.Mode.Replicated.Replicas = 3 }},
		{"zero replicas", func(s *swarm.ServiceSpec) { s.Mode.Replicated = &swarm.ReplicatedService{Replicas: u64(0)} },
			func(s *model.ServiceSpec) { s.Mode.Replicated.Replicas = 0 }},
		{"replicated without count means one", func(s *swarm.ServiceSpec) { s.Mode.Replicated = &swarm.ReplicatedService{} }, func(*model.ServiceSpec) {}},
		{"update config", func(s *swarm.ServiceSpec) {
			s.UpdateConfig = &swarm.UpdateConfig{Parallelism: 2, Delay: 10 * time.Second, FailureAction: "rollback", Monitor: 30 * time.Second, MaxFailureRatio: 0.25, Order: "start-first"}
		}, func(s *model.ServiceSpec) {
			s.Update = &model.UpdateConfig{Parallelism: 2, Delay: 10 * time.Second, FailureAction: model.FailureActionRollback, Monitor: 30 * time.Second, MaxFailureRatio: 0.25, Order: model.UpdateOrderStartFirst}
		}},
		{"zero update config takes Docker's defaults but parallelism as given", func(s *swarm.ServiceSpec) {
			s.UpdateConfig = &swarm.UpdateConfig{}
		}, func(s *model.ServiceSpec) {
			s.Update = &model.UpdateConfig{Parallelism: 0, FailureAction: model.FailureActionPause, Monitor: 5 * time.Second, Order: model.UpdateOrderStopFirst}
		}},
		{"rollback config", func(s *swarm.ServiceSpec) {
			s.RollbackConfig = &swarm.UpdateConfig{Parallelism: 0, Delay: 2 * time.Second, FailureAction: "continue", Monitor: 10 * time.Second, MaxFailureRatio: 0.5, Order: "start-first"}
		}, func(s *model.ServiceSpec) {
			s.Rollback = &model.UpdateConfig{Delay: 2 * time.Second, FailureAction: model.FailureActionContinue, Monitor: 10 * time.Second, MaxFailureRatio: 0.5, Order: model.UpdateOrderStartFirst}
		}},
		{"endpoint vip without ports", func(s *swarm.ServiceSpec) { s.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP} }, func(*model.ServiceSpec) {}},
		{"endpoint dnsrr without ports", func(s *swarm.ServiceSpec) { s.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR} },
			func(s *model.ServiceSpec) { s.Endpoint = &model.EndpointSpec{Mode: model.ResolutionModeDNSRR} }},
		{"dnsrr with host ports", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR, Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}}
		}, func(s *model.ServiceSpec) {
			s.Endpoint = &model.EndpointSpec{Mode: model.ResolutionModeDNSRR, Ports: []model.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}}
		}},
		{"ingress ports, the default mode", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP, Ports: []swarm.PortConfig{
				{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"},
				{Protocol: "tcp", TargetPort: 81},
			}}
		}, func(s *model.ServiceSpec) {
			s.Endpoint = &model.EndpointSpec{Ports: []model.PortConfig{
				{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"},
				{Protocol: "tcp", TargetPort: 81, PublishMode: "ingress"},
			}}
		}},
		{"networks", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "net1", Aliases: []string{"web", "www"}}, {Target: "back"}}
		}, func(s *model.ServiceSpec) {
			s.Task.Networks = []model.NetworkAttachmentConfig{{Target: "net1", Aliases: []string{"web", "www"}}, {Target: "back"}}
		}},
		{"deprecated service networks", func(s *swarm.ServiceSpec) {
			s.Networks = []swarm.NetworkAttachmentConfig{{Target: "net1"}}
		}, func(s *model.ServiceSpec) { s.Task.Networks = []model.NetworkAttachmentConfig{{Target: "net1"}} }},
		{"secrets and configs", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{
				{SecretID: "sec1", SecretName: "pw", File: &swarm.SecretReferenceFileTarget{Name: "pw", UID: "0", GID: "0", Mode: 0o444}},
				{SecretName: "key", File: &swarm.SecretReferenceFileTarget{Name: "tls.key", UID: "1", GID: "2", Mode: 0o400}},
			}
			s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{
				{ConfigID: "cfg1", ConfigName: "site", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/nginx/site.conf", UID: "0", GID: "0", Mode: 0o444}},
			}
		}, func(s *model.ServiceSpec) {
			s.Task.Container.Secrets = []model.SecretReference{
				{SecretID: "sec1", SecretName: "pw", File: model.FileTarget{Name: "pw", UID: "0", GID: "0", Mode: 0o444}},
				{SecretName: "key", File: model.FileTarget{Name: "tls.key", UID: "1", GID: "2", Mode: 0o400}},
			}
			s.Task.Container.Configs = []model.ConfigReference{
				{ConfigID: "cfg1", ConfigName: "site", File: model.FileTarget{Name: "/etc/nginx/site.conf", UID: "0", GID: "0", Mode: 0o444}},
			}
		}},
		{"host ports", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP, Ports: []swarm.PortConfig{
				{Name: "http", Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"},
				{Protocol: "udp", TargetPort: 53, PublishedPort: 53, PublishMode: "host"},
				{Protocol: "tcp", TargetPort: 53, PublishedPort: 53, PublishMode: "host"},
				{Protocol: "tcp", TargetPort: 9000, PublishMode: "host"},
			}}
		}, func(s *model.ServiceSpec) {
			s.Endpoint = &model.EndpointSpec{Ports: []model.PortConfig{
				{Name: "http", Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"},
				{Protocol: "udp", TargetPort: 53, PublishedPort: 53, PublishMode: "host"},
				{Protocol: "tcp", TargetPort: 53, PublishedPort: 53, PublishMode: "host"},
				{Protocol: "tcp", TargetPort: 9000, PublishMode: "host"},
			}}
		}},
		{"port protocol defaults to tcp", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}}
		}, func(s *model.ServiceSpec) {
			s.Endpoint = &model.EndpointSpec{Ports: []model.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseDockerSpec()
			tt.in(&in)
			want := baseStateSpec()
			tt.want(&want)
			got, err := convert.ServiceSpecFromDocker(in)
			if err != nil {
				t.Fatalf("ServiceSpecFromDocker: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
			assertSameWire(t, withDockerDefaults(in), convert.ServiceSpecToDocker(got))
		})
	}
}

// TestServiceSpecFromDockerRefused checks that each unsupported or invalid
// value is refused with an error naming its field.
func TestServiceSpecFromDockerRefused(t *testing.T) {
	const unsupported, invalid = true, false
	tests := []struct {
		name        string
		in          func(*swarm.ServiceSpec)
		field       string
		unsupported bool
	}{
		{"no name", func(s *swarm.ServiceSpec) { s.Name = "" }, "Name", invalid},
		{"name too long", func(s *swarm.ServiceSpec) { s.Name = strings.Repeat("a", 64) }, "Name", invalid},
		{"name starting with a dash", func(s *swarm.ServiceSpec) { s.Name = "-web" }, "Name", invalid},
		{"name with a space", func(s *swarm.ServiceSpec) { s.Name = "web app" }, "Name", invalid},
		{"bad rebalance label", func(s *swarm.ServiceSpec) { s.Labels = map[string]string{convert.LabelRebalance: "yes"} }, `Labels["io.shoal.rebalance"]`, invalid},
		{"bad strategy label", func(s *swarm.ServiceSpec) { s.Labels = map[string]string{convert.LabelPlacementStrategy: "random"} }, `Labels["io.shoal.placement.strategy"]`, invalid},
		{"unknown shoal label", func(s *swarm.ServiceSpec) { s.Labels = map[string]string{"io.shoal.placement.stratgy": "binpack"} }, `Labels["io.shoal.placement.stratgy"]`, unsupported},

		{"no container spec", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec = nil }, "TaskTemplate.ContainerSpec", invalid},
		{"no image", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "" }, "TaskTemplate.ContainerSpec.Image", invalid},
		{"bad image", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "Nginx:latest" }, "TaskTemplate.ContainerSpec.Image", invalid},
		{"plugin runtime", func(s *swarm.ServiceSpec) { s.TaskTemplate.Runtime = swarm.RuntimePlugin }, "TaskTemplate.Runtime", unsupported},
		{"plugin spec", func(s *swarm.ServiceSpec) { s.TaskTemplate.PluginSpec = &swarm.RuntimeSpec{Name: "p"} }, "TaskTemplate.PluginSpec", unsupported},
		{"network attachment", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.NetworkAttachmentSpec = &swarm.NetworkAttachmentSpec{ContainerID: "c"}
		}, "TaskTemplate.NetworkAttachmentSpec", unsupported},
		{"groups", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Groups = []string{"docker"} }, "TaskTemplate.ContainerSpec.Groups", unsupported},
		{"privileges", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Privileges = &swarm.Privileges{NoNewPrivileges: true}
		}, "TaskTemplate.ContainerSpec.Privileges", unsupported},
		{"open stdin", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.OpenStdin = true }, "TaskTemplate.ContainerSpec.OpenStdin", unsupported},
		{"hosts", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Hosts = []string{"10.0.0.5 db"} }, "TaskTemplate.ContainerSpec.Hosts", unsupported},
		{"dns", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.DNSConfig = &swarm.DNSConfig{Search: []string{"example.com"}}
		}, "TaskTemplate.ContainerSpec.DNSConfig", unsupported},
		{"secrets", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretName: "s"}}
		}, "TaskTemplate.ContainerSpec.Secrets[0].File", invalid},
		{"secret without a name or ID", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{File: &swarm.SecretReferenceFileTarget{Name: "x"}}}
		}, "TaskTemplate.ContainerSpec.Secrets[0]", invalid},
		{"secret without a file name", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretName: "s", File: &swarm.SecretReferenceFileTarget{}}}
		}, "TaskTemplate.ContainerSpec.Secrets[0].File.Name", invalid},
		{"two secrets on one file", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{
				{SecretName: "a", File: &swarm.SecretReferenceFileTarget{Name: "x"}}, {SecretName: "b", File: &swarm.SecretReferenceFileTarget{Name: "x"}}}
		}, "TaskTemplate.ContainerSpec.Secrets[1].File.Name", invalid},
		{"runtime config", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigName: "c", Runtime: &swarm.ConfigReferenceRuntimeTarget{}}}
		}, "TaskTemplate.ContainerSpec.Configs[0].Runtime", unsupported},
		{"configs", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigName: "c"}}
		}, "TaskTemplate.ContainerSpec.Configs[0].File", invalid},
		{"isolation", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Isolation = container.IsolationHyperV }, "TaskTemplate.ContainerSpec.Isolation", unsupported},
		{"sysctls", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Sysctls = map[string]string{"net.core.somaxconn": "1024"}
		}, "TaskTemplate.ContainerSpec.Sysctls", unsupported},
		{"cap add", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.CapabilityAdd = []string{"CAP_NET_ADMIN"} }, "TaskTemplate.ContainerSpec.CapabilityAdd", unsupported},
		{"cap drop", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.CapabilityDrop = []string{"CAP_CHOWN"} }, "TaskTemplate.ContainerSpec.CapabilityDrop", unsupported},
		{"ulimits", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 1, Hard: 2}}
		}, "TaskTemplate.ContainerSpec.Ulimits", unsupported},
		{"oom score", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.OomScoreAdj = 100 }, "TaskTemplate.ContainerSpec.OomScoreAdj", unsupported},
		{"negative grace period", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.StopGracePeriod = dur(-time.Second) }, "TaskTemplate.ContainerSpec.StopGracePeriod", invalid},

		{"npipe mount", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeNamedPipe, Source: `\\.\pipe\x`, Target: "/p"}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Type", unsupported},
		{"image mount", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeImage, Source: "busybox", Target: "/img"}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Type", unsupported},
		{"cluster mount", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeCluster, Source: "v", Target: "/v"}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Type", unsupported},
		{"mount without type", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Source: "/a", Target: "/b"}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Type", invalid},
		{"bind without source", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeBind, Target: "/b"}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Source", invalid},
		{"bind with relative source", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: "data", Target: "/b"}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Source", invalid},
		{"volume with a path", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "/srv", Target: "/b"}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Source", invalid},
		{"tmpfs with a source", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeTmpfs, Source: "x", Target: "/b"}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Source", invalid},
		{"mount without target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeTmpfs}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Target", invalid},
		{"relative target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeTmpfs, Target: "tmp"}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Target", invalid},
		{"mount over root", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeTmpfs, Target: "/"}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Target", invalid},
		{"duplicate target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeTmpfs, Target: "/t"}, {Type: mount.TypeVolume, Target: "/t"}}
		}, "TaskTemplate.ContainerSpec.Mounts[1].Target", invalid},
		{"bind propagation", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: "/a", Target: "/b", BindOptions: &mount.BindOptions{Propagation: mount.PropagationRShared}}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].BindOptions", unsupported},
		{"volume nocopy", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "vol", Target: "/b", VolumeOptions: &mount.VolumeOptions{NoCopy: true}}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].VolumeOptions", unsupported},
		{"volume driver", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "vol", Target: "/b", VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Name: "nfs"}}}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].VolumeOptions", unsupported},
		{"tmpfs mode", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeTmpfs, Target: "/b", TmpfsOptions: &mount.TmpfsOptions{Mode: 0o700}}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].TmpfsOptions", unsupported},
		{"mount consistency", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: "/a", Target: "/b", Consistency: mount.ConsistencyCached}}
		}, "TaskTemplate.ContainerSpec.Mounts[0].Consistency", unsupported},

		{"unknown health test", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"RUN", "x"}}
		}, "TaskTemplate.ContainerSpec.Healthcheck.Test", invalid},
		{"health CMD without command", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"CMD"}}
		}, "TaskTemplate.ContainerSpec.Healthcheck.Test", invalid},
		{"health NONE with arguments", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"NONE", "x"}}
		}, "TaskTemplate.ContainerSpec.Healthcheck.Test", invalid},
		{"health interval under 1ms", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Interval: time.Microsecond}
		}, "TaskTemplate.ContainerSpec.Healthcheck.Interval", invalid},
		{"health negative timeout", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Timeout: -time.Second}
		}, "TaskTemplate.ContainerSpec.Healthcheck.Timeout", invalid},
		{"health negative retries", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Retries: -1}
		}, "TaskTemplate.ContainerSpec.Healthcheck.Retries", invalid},

		{"tiny cpu limit", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{NanoCPUs: 1000}}
		}, "TaskTemplate.Resources.Limits.NanoCPUs", invalid},
		{"tiny memory reservation", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{MemoryBytes: 1024}}
		}, "TaskTemplate.Resources.Reservations.MemoryBytes", invalid},
		{"negative memory limit", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{MemoryBytes: -1}}
		}, "TaskTemplate.Resources.Limits.MemoryBytes", invalid},
		{"negative pids", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{Pids: -1}}
		}, "TaskTemplate.Resources.Limits.Pids", invalid},
		{"generic resources", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{GenericResources: []swarm.GenericResource{{NamedResourceSpec: &swarm.NamedGenericResource{Kind: "gpu", Value: "0"}}}}}
		}, "TaskTemplate.Resources.Reservations.GenericResources", unsupported},

		{"unknown restart condition", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: "always"}
		}, "TaskTemplate.RestartPolicy.Condition", invalid},
		{"negative restart delay", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Delay: dur(-time.Second)}
		}, "TaskTemplate.RestartPolicy.Delay", invalid},
		{"negative restart window", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Window: dur(-time.Second)}
		}, "TaskTemplate.RestartPolicy.Window", invalid},

		{"malformed constraint", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"node.role==worker", "node.role=manager"}}
		}, "TaskTemplate.Placement.Constraints[1]", invalid},
		{"empty constraint", func(s *swarm.ServiceSpec) { s.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{""}} }, "TaskTemplate.Placement.Constraints[0]", invalid},
		{"preference without spread", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{Preferences: []swarm.PlacementPreference{{}}}
		}, "TaskTemplate.Placement.Preferences[0]", unsupported},
		{"spread over nothing", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{}}}}
		}, "TaskTemplate.Placement.Preferences[0].Spread.SpreadDescriptor", invalid},
		{"max replicas of a global service", func(s *swarm.ServiceSpec) {
			s.Mode.Global = &swarm.GlobalService{}
			s.TaskTemplate.Placement = &swarm.Placement{MaxReplicas: 1}
		}, "TaskTemplate.Placement.MaxReplicas", invalid},
		{"network without target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Aliases: []string{"a"}}}
		}, "TaskTemplate.Networks[0].Target", invalid},
		{"network attached twice", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "net1"}, {Target: "net1"}}
		}, "TaskTemplate.Networks[1].Target", invalid},
		{"network driver options", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "net1", DriverOpts: map[string]string{"a": "b"}}}
		}, "TaskTemplate.Networks[0].DriverOpts", unsupported},
		{"networks in both places", func(s *swarm.ServiceSpec) {
			s.Networks = []swarm.NetworkAttachmentConfig{{Target: "net1"}}
			s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "net2"}}
		}, "Networks", invalid},
		{"log driver", func(s *swarm.ServiceSpec) { s.TaskTemplate.LogDriver = &swarm.Driver{Name: "json-file"} }, "TaskTemplate.LogDriver", unsupported},

		{"job running nothing at once", func(s *swarm.ServiceSpec) {
			s.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: new(uint64)}}
		}, "Mode.ReplicatedJob.MaxConcurrent", invalid},
		{"job with an update config", func(s *swarm.ServiceSpec) {
			s.Mode = swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}
			s.UpdateConfig = &swarm.UpdateConfig{Parallelism: 2}
		}, "UpdateConfig", unsupported},
		{"a job and a service", func(s *swarm.ServiceSpec) {
			s.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{}, GlobalJob: &swarm.GlobalJob{}}
		}, "Mode", invalid},
		{"two modes", func(s *swarm.ServiceSpec) {
			s.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{}, Global: &swarm.GlobalService{}}
		}, "Mode", invalid},

		{"unknown failure action", func(s *swarm.ServiceSpec) { s.UpdateConfig = &swarm.UpdateConfig{FailureAction: "retry"} }, "UpdateConfig.FailureAction", invalid},
		{"unknown order", func(s *swarm.ServiceSpec) { s.UpdateConfig = &swarm.UpdateConfig{Order: "random"} }, "UpdateConfig.Order", invalid},
		{"failure ratio above 1", func(s *swarm.ServiceSpec) { s.UpdateConfig = &swarm.UpdateConfig{MaxFailureRatio: 1.5} }, "UpdateConfig.MaxFailureRatio", invalid},
		{"negative update delay", func(s *swarm.ServiceSpec) { s.UpdateConfig = &swarm.UpdateConfig{Delay: -1} }, "UpdateConfig.Delay", invalid},
		{"negative rollback monitor", func(s *swarm.ServiceSpec) { s.RollbackConfig = &swarm.UpdateConfig{Monitor: -1} }, "RollbackConfig.Monitor", invalid},
		{"rollback of a rollback", func(s *swarm.ServiceSpec) { s.RollbackConfig = &swarm.UpdateConfig{FailureAction: "rollback"} }, "RollbackConfig.FailureAction", invalid},

		{"ingress port with dnsrr", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR, Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"}}}
		}, "EndpointSpec.Ports[0].PublishMode", invalid},
		{"port without mode is ingress, refused with dnsrr", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR, Ports: []swarm.PortConfig{{TargetPort: 80}}}
		}, "EndpointSpec.Ports[0].PublishMode", invalid},
		{"unknown publish mode", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishMode: "bridge"}}}
		}, "EndpointSpec.Ports[0].PublishMode", invalid},
		{"unknown resolution mode", func(s *swarm.ServiceSpec) { s.EndpointSpec = &swarm.EndpointSpec{Mode: "rr"} }, "EndpointSpec.Mode", invalid},
		{"unknown protocol", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: "icmp", TargetPort: 80, PublishMode: "host"}}}
		}, "EndpointSpec.Ports[0].Protocol", invalid},
		{"no target port", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{PublishedPort: 80, PublishMode: "host"}}}
		}, "EndpointSpec.Ports[0].TargetPort", invalid},
		{"target port out of range", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 70000, PublishMode: "host"}}}
		}, "EndpointSpec.Ports[0].TargetPort", invalid},
		{"published port out of range", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 70000, PublishMode: "host"}}}
		}, "EndpointSpec.Ports[0].PublishedPort", invalid},
		{"port published twice", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{
				{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"},
				{TargetPort: 81, PublishedPort: 8080, PublishMode: "host"},
			}}
		}, "EndpointSpec.Ports[1].PublishedPort", invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseDockerSpec()
			tt.in(&in)
			_, err := convert.ServiceSpecFromDocker(in)
			requireFieldError(t, err, tt.field)
			kind := convert.ErrInvalid
			if tt.unsupported {
				kind = convert.ErrUnsupported
			}
			var fe *convert.FieldError
			errors.As(err, &fe)
			if fe.Field != tt.field || fe.Kind != kind {
				t.Errorf("first error is %s (%v); want %s (%v)", fe.Field, fe.Kind, tt.field, kind)
			}
		})
	}
}

func TestServiceSpecFromDockerReportsEveryField(t *testing.T) {
	in := baseDockerSpec()
	in.Name = ""
	in.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretName: "s"}}
	in.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{}}
	in.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR, Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"}}}
	_, err := convert.ServiceSpecFromDocker(in)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, f := range []string{"Name", "TaskTemplate.ContainerSpec.Secrets[0].File", "TaskTemplate.Networks[0].Target", "EndpointSpec.Ports[0].PublishMode"} {
		if !strings.Contains(err.Error(), f+": ") {
			t.Errorf("error does not name %s:\n%v", f, err)
		}
	}
	if !strings.Contains(err.Error(), "dnsrr") || !strings.Contains(err.Error(), "mode=host") {
		t.Errorf("the dnsrr error should say what to do instead:\n%v", err)
	}
}

// fullStateSpec sets every field of a model.ServiceSpec that Docker's API
// can carry.
func fullStateSpec() model.ServiceSpec {
	return model.ServiceSpec{
		Annotations: model.Annotations{Name: "api", Labels: map[string]string{"team": "a", convert.LabelRebalance: "true", convert.LabelPlacementStrategy: "binpack"}},
		Task: model.TaskSpec{
			Container: model.ContainerSpec{
				Image: "example/api:2", Labels: map[string]string{"c": "d"},
				Command: []string{"/api"}, Args: []string{"--port", "80"},
				Hostname: "api", Env: []string{"X=1"}, Dir: "/srv", User: "app",
				TTY: true, ReadOnly: true, Init: boolp(true),
				Mounts:          []model.Mount{{Type: model.MountTypeBind, Source: "/etc/api", Target: "/etc/api", ReadOnly: true}, {Type: model.MountTypeTmpfs, Target: "/tmp"}},
				StopSignal:      "SIGQUIT",
				StopGracePeriod: dur(time.Minute),
				Healthcheck:     &model.HealthConfig{Test: []string{"CMD", "/api", "health"}, Interval: time.Second, Timeout: time.Second, StartPeriod: time.Second, StartInterval: time.Second, Retries: 2},
			},
			Resources: model.ResourceRequirements{Limits: model.Resources{NanoCPUs: 2e9, MemoryBytes: 1 << 30}, PidsLimit: 50, Reservations: model.Resources{NanoCPUs: 1e9, MemoryBytes: 512 << 20}},
			Restart:   model.RestartPolicy{Condition: model.RestartOnFailure, Delay: dur(time.Second), MaxAttempts: 3, Window: time.Minute},
			Placement: model.Placement{
				Constraints: []string{"node.labels.ssd==true"},
				Preferences: []model.PlacementPreference{{Spread: "node.labels.rack"}},
				MaxReplicas: 1,
				Platforms:   []model.Platform{{Architecture: "arm64", OS: "linux"}},
			},
			ForceUpdate: 2,
		},
		Mode:      model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 4}},
		Update:    &model.UpdateConfig{Parallelism: 2, Delay: time.Second, FailureAction: model.FailureActionContinue, Monitor: time.Minute, MaxFailureRatio: 0.1, Order: model.UpdateOrderStartFirst},
		Rollback:  &model.UpdateConfig{Parallelism: 0, FailureAction: model.FailureActionPause, Monitor: 5 * time.Second, Order: model.UpdateOrderStopFirst},
		Endpoint:  &model.EndpointSpec{Ports: []model.PortConfig{{Name: "http", Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}},
		Rebalance: true,
		Strategy:  model.StrategyBinpack,
	}
}

// TestServiceSpecStateRoundTrip goes the other way: every field of a stored
// spec survives a trip through Docker's type, and through its JSON.
func TestServiceSpecStateRoundTrip(t *testing.T) {
	for _, s := range []model.ServiceSpec{fullStateSpec(), baseStateSpec(), {
		Annotations: model.Annotations{Name: "g"},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "busybox"}},
		Mode:        model.ServiceMode{Global: &model.GlobalService{}},
	}} {
		wire := convert.ServiceSpecToDocker(s)
		got, err := convert.ServiceSpecFromDocker(decode[swarm.ServiceSpec](t, mustJSON(t, wire)))
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("%s: round trip changed the spec\n got %+v\nwant %+v", s.Name, got, s)
		}
	}
}

// TestServiceSpecToDockerLabels: the extension fields are authoritative
// and show up as labels even when set through shoal's own API.
func TestServiceSpecToDockerLabels(t *testing.T) {
	tests := []struct {
		name      string
		labels    map[string]string
		rebalance bool
		strategy  model.PlacementStrategy
		want      map[string]string
	}{
		{"none", nil, false, "", map[string]string{}},
		{"fields without labels", map[string]string{"a": "b"}, true, model.StrategyBinpack,
			map[string]string{"a": "b", convert.LabelRebalance: "true", convert.LabelPlacementStrategy: "binpack"}},
		{"stale labels", map[string]string{convert.LabelRebalance: "true", convert.LabelPlacementStrategy: "binpack"}, false, "",
			map[string]string{convert.LabelRebalance: "false"}},
		{"explicit false kept", map[string]string{convert.LabelRebalance: "false"}, false, "",
			map[string]string{convert.LabelRebalance: "false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseStateSpec()
			s.Labels, s.Rebalance, s.Strategy = tt.labels, tt.rebalance, tt.strategy
			got := convert.ServiceSpecToDocker(s).Labels
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("labels %v, want %v", got, tt.want)
			}
			got["mutated"] = "x"
			if _, ok := s.Labels["mutated"]; ok {
				t.Error("labels alias the stored map")
			}
		})
	}
}

func TestServiceToDocker(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	started := created.Add(time.Hour)
	prev := baseStateSpec()
	svc := &model.Service{
		ID:           "svc1",
		Meta:         model.Meta{Version: model.Version{Index: 42}, CreatedAt: created, UpdatedAt: started},
		Spec:         fullStateSpec(),
		PreviousSpec: &prev,
		UpdateStatus: &model.UpdateStatus{State: model.UpdateStateRollbackStarted, StartedAt: &started, Message: "update paused due to failure"},
	}
	status := &swarm.ServiceStatus{RunningTasks: 3, DesiredTasks: 4}
	got := convert.ServiceToDocker(svc, status)

	if got.ID != "svc1" || got.Version.Index != 42 || !got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(started) {
		t.Errorf("meta: %+v %+v", got.ID, got.Meta)
	}
	if !reflect.DeepEqual(got.ServiceStatus, status) || got.ServiceStatus == status {
		t.Errorf("ServiceStatus %+v: want a copy of %+v", got.ServiceStatus, status)
	}
	if got.PreviousSpec == nil || got.PreviousSpec.TaskTemplate.ContainerSpec.Image != "nginx:1.27" {
		t.Errorf("PreviousSpec: %+v", got.PreviousSpec)
	}
	wantUS := &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, StartedAt: &started, Message: "update paused due to failure"}
	if !reflect.DeepEqual(got.UpdateStatus, wantUS) {
		t.Errorf("UpdateStatus %+v, want %+v", got.UpdateStatus, wantUS)
	}
	if got.UpdateStatus.StartedAt == svc.UpdateStatus.StartedAt {
		t.Error("UpdateStatus.StartedAt aliases the stored time")
	}
	wantPorts := []swarm.PortConfig{{Name: "http", Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}
	if !reflect.DeepEqual(got.Endpoint.Ports, wantPorts) || !reflect.DeepEqual(got.Endpoint.Spec.Ports, wantPorts) || got.Endpoint.Spec.Mode != swarm.ResolutionModeVIP {
		t.Errorf("Endpoint %+v", got.Endpoint)
	}

	// After creation or a pure scale there is no update status: the CLI's
	// progress display returns at once if there is one.
	svc.UpdateStatus, svc.PreviousSpec = nil, nil
	got = convert.ServiceToDocker(svc, nil)
	if got.UpdateStatus != nil || got.PreviousSpec != nil || got.ServiceStatus != nil {
		t.Errorf("want nil UpdateStatus, PreviousSpec, ServiceStatus: %+v", got)
	}
}

func TestInsertServiceDefaults(t *testing.T) {
	s := convert.ServiceSpecToDocker(baseStateSpec())
	convert.InsertServiceDefaults(&s)
	tt := s.TaskTemplate
	if *tt.ContainerSpec.StopGracePeriod != 10*time.Second {
		t.Errorf("StopGracePeriod %v", *tt.ContainerSpec.StopGracePeriod)
	}
	wantRestart := &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: dur(5 * time.Second), MaxAttempts: u64(0)}
	if !reflect.DeepEqual(tt.RestartPolicy, wantRestart) {
		t.Errorf("RestartPolicy %+v", tt.RestartPolicy)
	}
	wantUpdate := &swarm.UpdateConfig{Parallelism: 1, FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"}
	if !reflect.DeepEqual(s.UpdateConfig, wantUpdate) || !reflect.DeepEqual(s.RollbackConfig, wantUpdate) {
		t.Errorf("UpdateConfig %+v RollbackConfig %+v", s.UpdateConfig, s.RollbackConfig)
	}
	if s.UpdateConfig == s.RollbackConfig {
		t.Error("update and rollback configs share memory")
	}
	// Set values are kept.
	full := convert.ServiceSpecToDocker(fullStateSpec())
	before := mustJSON(t, full)
	convert.InsertServiceDefaults(&full)
	if string(mustJSON(t, full)) != string(before) {
		t.Errorf("defaults overwrote set values:\n%s\n%s", before, mustJSON(t, full))
	}
	// And the result is still a valid spec.
	if _, err := convert.ServiceSpecFromDocker(s); err != nil {
		t.Errorf("spec with defaults refused: %v", err)
	}
}
