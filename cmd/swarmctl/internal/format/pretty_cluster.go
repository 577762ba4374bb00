package format

import (
	"encoding/base64"
	"io"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// PrettyCluster writes the `cluster inspect --pretty` view of a cluster.
// It never shows the join tokens.
func PrettyCluster(w io.Writer, c swarm.ClusterInfo) error {
	p := newPrettyWriter(w)
	s := c.Spec
	p.field(0, "ID", c.ID)
	p.field(0, "Name", s.Name)
	p.labels(0, "Labels", s.Labels)
	p.field(0, "Created at", Timestamp(c.CreatedAt))
	p.field(0, "Updated at", Timestamp(c.UpdatedAt))
	p.section(0, "Orchestration")
	if l := s.Orchestration.TaskHistoryRetentionLimit; l != nil {
		p.field(1, "Task History Retention Limit", *l)
	}
	rebalance := s.Labels[LabelRebalance]
	if rebalance == "" {
		rebalance = "false"
	}
	p.field(1, "Rebalance", rebalance)
	p.section(0, "Raft")
	p.field(1, "Snapshot Interval", s.Raft.SnapshotInterval)
	if k := s.Raft.KeepOldSnapshots; k != nil {
		p.field(1, "Number of Old Snapshots to Retain", *k)
	}
	p.field(1, "Heartbeat Tick", s.Raft.HeartbeatTick)
	p.field(1, "Election Tick", s.Raft.ElectionTick)
	p.section(0, "Dispatcher")
	p.field(1, "Heartbeat Period", Duration(s.Dispatcher.HeartbeatPeriod))
	p.section(0, "CA Configuration")
	p.field(1, "Expiry Duration", Duration(s.CAConfig.NodeCertExpiry))
	p.field(1, "Force Rotate", s.CAConfig.ForceRotate)
	p.field(0, "Autolock Managers", s.EncryptionConfig.AutoLockManagers)
	p.field(0, "Root Rotation In Progress", c.RootRotationInProgress)
	if c.TLSInfo.TrustRoot != "" {
		p.section(0, "Root CA")
		for _, l := range strings.Split(strings.TrimRight(c.TLSInfo.TrustRoot, "\n"), "\n") {
			p.line(1, l)
		}
	}
	return p.flush()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
