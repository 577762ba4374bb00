package convert_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
)

func testCluster(t *testing.T) *model.Cluster {
	pemCA, _ := testRootCA(t)
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	spec := model.DefaultClusterSpec()
	spec.Labels = map[string]string{"env": "prod", convert.LabelRebalance: "true"}
	spec.Orchestration.Rebalance = true
	spec.Encryption.AutoLockManagers = true
	return &model.Cluster{
		ID:   "cluster1",
		Meta: model.Meta{Version: model.Version{Index: 11}, CreatedAt: at, UpdatedAt: at.Add(time.Hour)},
		Spec: spec,
		RootCA: model.RootCA{
			CACert:     pemCA,
			CAKey:      []byte("secret key"),
			JoinTokens: model.JoinTokens{Worker: "SWMTKN-1-w", Manager: "SWMTKN-1-m"},
		},
		UnlockKey: "SWMKEY-1-secret",
	}
}

func TestClusterToDocker(t *testing.T) {
	c := testCluster(t)
	got := convert.ClusterToDocker(c)
	limit, keep := int64(5), uint64(0)
	want := swarm.Swarm{
		ClusterInfo: swarm.ClusterInfo{
			ID:   "cluster1",
			Meta: swarm.Meta{Version: swarm.Version{Index: 11}, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt},
			Spec: swarm.Spec{
				Annotations:      swarm.Annotations{Name: "default", Labels: map[string]string{"env": "prod", convert.LabelRebalance: "true"}},
				Orchestration:    swarm.OrchestrationConfig{TaskHistoryRetentionLimit: &limit},
				Raft:             swarm.RaftConfig{SnapshotInterval: 10000, KeepOldSnapshots: &keep, ElectionTick: 10, HeartbeatTick: 1},
				Dispatcher:       swarm.DispatcherConfig{HeartbeatPeriod: time.Second},
				CAConfig:         swarm.CAConfig{NodeCertExpiry: 90 * 24 * time.Hour},
				EncryptionConfig: swarm.EncryptionConfig{AutoLockManagers: true},
			},
			TLSInfo:         convert.NodeToDocker(&model.Node{}, c.RootCA.CACert).Description.TLSInfo,
			DefaultAddrPool: []string{"10.0.0.0/8"},
			SubnetSize:      24,
			DataPathPort:    4789,
		},
		JoinTokens: swarm.JoinTokens{Worker: "SWMTKN-1-w", Manager: "SWMTKN-1-m"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got.TLSInfo.CertIssuerSubject == nil || got.TLSInfo.TrustRoot == "" {
		t.Errorf("TLSInfo not filled: %+v", got.TLSInfo)
	}
	// The pointers do not alias the stored spec.
	*got.Spec.Orchestration.TaskHistoryRetentionLimit = 99
	if c.Spec.Orchestration.TaskHistoryRetentionLimit != 5 {
		t.Error("TaskHistoryRetentionLimit aliases the stored spec")
	}
}

// TestClusterSpecEcho: what GET /swarm shows, the CLI sends back with one
// change; sent back unchanged it must change nothing.
func TestClusterSpecEcho(t *testing.T) {
	c := testCluster(t)
	got, err := convert.ClusterSpecFromDocker(convert.ClusterToDocker(c).Spec, c.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c.Spec) {
		t.Errorf("echo changed the spec\n got %+v\nwant %+v", got, c.Spec)
	}
	// A spec whose Rebalance was set through shoal's own API, without the
	// label, gains the label and keeps its meaning.
	noLabel := c.Spec
	noLabel.Labels = map[string]string{"env": "prod"}
	got, err = convert.ClusterSpecFromDocker(convert.ClusterToDocker(&model.Cluster{Spec: noLabel}).Spec, noLabel)
	if err != nil || !got.Orchestration.Rebalance || got.Labels[convert.LabelRebalance] != "true" {
		t.Errorf("field-only rebalance: %v %+v", err, got)
	}
	// Through JSON too, as the CLI does it.
	wire := decode[swarm.Spec](t, mustJSON(t, convert.ClusterToDocker(c).Spec))
	if got, err = convert.ClusterSpecFromDocker(wire, c.Spec); err != nil || !reflect.DeepEqual(got, c.Spec) {
		t.Errorf("JSON echo: %v\n got %+v\nwant %+v", err, got, c.Spec)
	}
}

func TestClusterSpecFromDockerMerge(t *testing.T) {
	cur := testCluster(t).Spec
	tests := []struct {
		name string
		in   func(*swarm.Spec)
		want func(*model.ClusterSpec)
	}{
		{"empty spec keeps everything but autolock", func(*swarm.Spec) {}, func(s *model.ClusterSpec) { s.Encryption.AutoLockManagers = false }},
		{"same name", func(s *swarm.Spec) { s.Name = "default" }, func(s *model.ClusterSpec) { s.Encryption.AutoLockManagers = false }},
		{"labels replace and clear rebalance", func(s *swarm.Spec) { s.Labels = map[string]string{"env": "dev"} }, func(s *model.ClusterSpec) {
			s.Labels = map[string]string{"env": "dev"}
			s.Orchestration.Rebalance = false
			s.Encryption.AutoLockManagers = false
		}},
		{"rebalance label", func(s *swarm.Spec) { s.Labels = map[string]string{convert.LabelRebalance: "true"} }, func(s *model.ClusterSpec) {
			s.Labels = map[string]string{convert.LabelRebalance: "true"}
			s.Orchestration.Rebalance = true
			s.Encryption.AutoLockManagers = false
		}},
		{"task history", func(s *swarm.Spec) { s.Orchestration.TaskHistoryRetentionLimit = i64(0) }, func(s *model.ClusterSpec) {
			s.Orchestration.TaskHistoryRetentionLimit = 0
			s.Encryption.AutoLockManagers = false
		}},
		{"raft snapshots", func(s *swarm.Spec) {
			s.Raft.SnapshotInterval = 500
			s.Raft.KeepOldSnapshots = u64(2)
			s.Raft.LogEntriesForSlowFollowers = convert.DockerLogEntriesForSlowFollowers
			s.Raft.ElectionTick = 10
			s.Raft.HeartbeatTick = 1
		}, func(s *model.ClusterSpec) {
			s.Raft.SnapshotInterval = 500
			s.Raft.KeepOldSnapshots = 2
			s.Encryption.AutoLockManagers = false
		}},
		{"dispatcher and certificates", func(s *swarm.Spec) {
			s.Dispatcher.HeartbeatPeriod = 3 * time.Second
			s.CAConfig.NodeCertExpiry = 24 * time.Hour
			s.EncryptionConfig.AutoLockManagers = true
		}, func(s *model.ClusterSpec) {
			s.Dispatcher.HeartbeatPeriod = 3 * time.Second
			s.CAConfig.NodeCertExpiry = 24 * time.Hour
		}},
		{"empty task defaults", func(s *swarm.Spec) { s.TaskDefaults.LogDriver = &swarm.Driver{} }, func(s *model.ClusterSpec) { s.Encryption.AutoLockManagers = false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in swarm.Spec
			tt.in(&in)
			want := testCluster(t).Spec
			tt.want(&want)
			got, err := convert.ClusterSpecFromDocker(in, cur)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
	if !reflect.DeepEqual(cur, testCluster(t).Spec) {
		t.Error("ClusterSpecFromDocker modified current")
	}
}

func TestClusterSpecFromDockerRefused(t *testing.T) {
	cur := model.DefaultClusterSpec()
	tests := []struct {
		name  string
		in    func(*swarm.Spec)
		field string
	}{
		{"rename", func(s *swarm.Spec) { s.Name = "prod" }, "Name"},
		{"strategy on the cluster", func(s *swarm.Spec) { s.Labels = map[string]string{convert.LabelPlacementStrategy: "binpack"} }, `Labels["io.shoal.placement.strategy"]`},
		{"bad rebalance label", func(s *swarm.Spec) { s.Labels = map[string]string{convert.LabelRebalance: "1"} }, `Labels["io.shoal.rebalance"]`},
		{"negative task history", func(s *swarm.Spec) { s.Orchestration.TaskHistoryRetentionLimit = i64(-1) }, "Orchestration.TaskHistoryRetentionLimit"},
		{"slow followers", func(s *swarm.Spec) { s.Raft.LogEntriesForSlowFollowers = 100 }, "Raft.LogEntriesForSlowFollowers"},
		{"election tick", func(s *swarm.Spec) { s.Raft.ElectionTick = 3 }, "Raft.ElectionTick"},
		{"heartbeat tick", func(s *swarm.Spec) { s.Raft.HeartbeatTick = 2 }, "Raft.HeartbeatTick"},
		{"negative heartbeat", func(s *swarm.Spec) { s.Dispatcher.HeartbeatPeriod = -time.Second }, "Dispatcher.HeartbeatPeriod"},
		{"short certificates", func(s *swarm.Spec) { s.CAConfig.NodeCertExpiry = 30 * time.Minute }, "CAConfig.NodeCertExpiry"},
		{"external CA", func(s *swarm.Spec) {
			s.CAConfig.ExternalCAs = []*swarm.ExternalCA{{Protocol: swarm.ExternalCAProtocolCFSSL, URL: "https://ca"}}
		}, "CAConfig.ExternalCAs"},
		{"signing cert", func(s *swarm.Spec) { s.CAConfig.SigningCACert = "-----BEGIN CERTIFICATE-----" }, "CAConfig.SigningCACert"},
		{"signing key", func(s *swarm.Spec) { s.CAConfig.SigningCAKey = "-----BEGIN EC PRIVATE KEY-----" }, "CAConfig.SigningCAKey"},
		{"force rotate", func(s *swarm.Spec) { s.CAConfig.ForceRotate = 1 }, "CAConfig.ForceRotate"},
		{"log driver", func(s *swarm.Spec) { s.TaskDefaults.LogDriver = &swarm.Driver{Name: "syslog"} }, "TaskDefaults.LogDriver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in swarm.Spec
			tt.in(&in)
			_, err := convert.ClusterSpecFromDocker(in, cur)
			requireFieldError(t, err, tt.field)
		})
	}
}
