package convert

import (
	"slices"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/model"
)

// DockerLogEntriesForSlowFollowers is Docker's default for
// Raft.LogEntriesForSlowFollowers. shoal keeps no such setting (how many
// entries a leader keeps for slow followers is a manager setting of the Raft
// library), so it shows 0 and accepts 0 or this value, which a client may
// replay from a Docker engine.
const DockerLogEntriesForSlowFollowers = 500

// MinNodeCertExpiry is the shortest node certificate validity, as in
// Docker: certificates are renewed at 50-80 % of their life, and shorter
// ones would keep every node renewing.
const MinNodeCertExpiry = time.Hour

// DataPathPort is the UDP port of the overlay networks' VXLAN traffic,
// Docker's default.
const DataPathPort = 4789

// ClusterToDocker converts the cluster object for GET /swarm (and the
// Swarm.Cluster part of GET /info, which is its ClusterInfo). The caller
// clears JoinTokens for clients that must not see them.
func ClusterToDocker(c *model.Cluster) swarm.Swarm {
	s := c.Spec
	limit := s.Orchestration.TaskHistoryRetentionLimit
	keep := s.Raft.KeepOldSnapshots
	labels := labelsToDocker(s.Labels, &s.Orchestration.Rebalance, nil)
	delete(labels, LabelMaxReplicas)
	if n := s.Orchestration.MaxReplicas; n != 0 {
		labels[LabelMaxReplicas] = strconv.FormatUint(n, 10)
	}
	return swarm.Swarm{
		ClusterInfo: swarm.ClusterInfo{
			ID:   c.ID,
			Meta: metaToDocker(c.Meta),
			Spec: swarm.Spec{
				Annotations: swarm.Annotations{
					Name:   s.Name,
					Labels: labels,
				},
				Orchestration: swarm.OrchestrationConfig{TaskHistoryRetentionLimit: &limit},
				Raft: swarm.RaftConfig{
					SnapshotInterval: s.Raft.SnapshotInterval,
					KeepOldSnapshots: &keep,
					ElectionTick:     s.Raft.ElectionTick,
					HeartbeatTick:    s.Raft.HeartbeatTick,
				},
				Dispatcher:       swarm.DispatcherConfig{HeartbeatPeriod: s.Dispatcher.HeartbeatPeriod},
				CAConfig:         swarm.CAConfig{NodeCertExpiry: s.CAConfig.NodeCertExpiry},
				EncryptionConfig: swarm.EncryptionConfig{AutoLockManagers: s.Encryption.AutoLockManagers},
			},
			TLSInfo:                tlsInfoFromPEM(c.RootCA.CACert),
			RootRotationInProgress: false,
			DefaultAddrPool:        slices.Clone(s.AddrPool()),
			SubnetSize:             s.Subnet(),
			DataPathPort:           DataPathPort,
		},
		JoinTokens: swarm.JoinTokens{
			Worker:  c.RootCA.JoinTokens.Worker,
			Manager: c.RootCA.JoinTokens.Manager,
		},
	}
}

// ClusterSpecFromDocker validates the spec of POST /swarm/update and merges
// it into current, the way Docker merges: a zero Name, empty Labels, nil
// TaskHistoryRetentionLimit or KeepOldSnapshots, and zero SnapshotInterval,
// ticks, HeartbeatPeriod or NodeCertExpiry keep the current value;
// AutoLockManagers is always taken as sent. Settings Docker has no field
// for (Gossip) are kept. Root CA rotation and external CAs are refused.
func ClusterSpecFromDocker(s swarm.Spec, current model.ClusterSpec) (model.ClusterSpec, error) {
	c := &checker{}
	out := current
	out.Labels = cloneLabels(current.Labels)

	if s.Name != "" && s.Name != current.Name {
		c.invalid("Name", "%q: the cluster cannot be renamed from %q", s.Name, current.Name)
	}
	c.entriesAtMost("Labels", len(s.Labels))
	if len(s.Labels) != 0 {
		ext := parseShoalLabels(c, s.Labels, LabelRebalance, LabelMaxReplicas)
		out.Labels = cloneLabels(s.Labels)
		out.Orchestration.Rebalance = ext.rebalance
		out.Orchestration.MaxReplicas = ext.maxReplicas
	}

	if l := s.Orchestration.TaskHistoryRetentionLimit; l != nil {
		if *l < 0 {
			c.invalid("Orchestration.TaskHistoryRetentionLimit", "%d: must not be negative", *l)
		}
		out.Orchestration.TaskHistoryRetentionLimit = *l
	}

	if s.Raft.SnapshotInterval != 0 {
		out.Raft.SnapshotInterval = s.Raft.SnapshotInterval
	}
	if s.Raft.KeepOldSnapshots != nil {
		out.Raft.KeepOldSnapshots = *s.Raft.KeepOldSnapshots
	}
	switch s.Raft.LogEntriesForSlowFollowers {
	case 0, DockerLogEntriesForSlowFollowers:
	default:
		c.unsupported("Raft.LogEntriesForSlowFollowers", "%d: cannot be set; the entries kept for slow followers are a manager setting", s.Raft.LogEntriesForSlowFollowers)
	}
	// The ticks are shown for compatibility only: elections and heartbeats
	// are timed by each manager's settings, so a change would not take
	// effect and is refused rather than stored.
	if s.Raft.ElectionTick != 0 && s.Raft.ElectionTick != current.Raft.ElectionTick {
		c.unsupported("Raft.ElectionTick", "%d: cannot be changed from %d; election timing is a manager setting", s.Raft.ElectionTick, current.Raft.ElectionTick)
	}
	if s.Raft.HeartbeatTick != 0 && s.Raft.HeartbeatTick != current.Raft.HeartbeatTick {
		c.unsupported("Raft.HeartbeatTick", "%d: cannot be changed from %d; heartbeat timing is a manager setting", s.Raft.HeartbeatTick, current.Raft.HeartbeatTick)
	}

	switch d := s.Dispatcher.HeartbeatPeriod; {
	case d < 0:
		c.invalid("Dispatcher.HeartbeatPeriod", "%v: must not be negative", d)
	case d > 0:
		out.Dispatcher.HeartbeatPeriod = d
	}

	switch d := s.CAConfig.NodeCertExpiry; {
	case d < 0 || d > 0 && d < MinNodeCertExpiry:
		c.invalid("CAConfig.NodeCertExpiry", "%v: must be at least %v (--cert-expiry)", d, MinNodeCertExpiry)
	case d > 0:
		out.CAConfig.NodeCertExpiry = d
	}
	c.refuse("CAConfig.ExternalCAs", s.CAConfig.ExternalCAs, "external CAs are not supported; the cluster's own root CA signs node certificates (--external-ca)")
	c.refuse("CAConfig.SigningCACert", s.CAConfig.SigningCACert, "replacing the root CA is not supported (docker swarm ca --ca-cert)")
	c.refuse("CAConfig.SigningCAKey", s.CAConfig.SigningCAKey, "replacing the root CA is not supported (docker swarm ca --ca-key)")
	c.refuse("CAConfig.ForceRotate", s.CAConfig.ForceRotate, "root CA rotation is not supported (docker swarm ca --rotate)")

	c.refuse("TaskDefaults.LogDriver", s.TaskDefaults.LogDriver, "log drivers are not supported (--log-driver)")
	out.Encryption.AutoLockManagers = s.EncryptionConfig.AutoLockManagers

	if err := c.err(); err != nil {
		return model.ClusterSpec{}, err
	}
	return out, nil
}
