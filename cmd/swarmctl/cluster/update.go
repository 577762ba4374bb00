package cluster

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

type updateOptions struct {
	autolock         bool
	taskHistoryLimit int64
	heartbeatPeriod  time.Duration
	certExpiry       time.Duration
	snapshotInterval uint64
	maxReplicas      uint64
}

func newUpdateCommand(env *command.Env) *cobra.Command {
	var o updateOptions
	cmd := &cobra.Command{
		Use:   "update [OPTIONS]",
		Short: "Change cluster settings",
		Example: `  swarmctl cluster update --autolock=true
  swarmctl cluster update --task-history-limit 3 --dispatcher-heartbeat 2s
  swarmctl cluster update --max-replicas 200000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := env.Client()
			if err != nil {
				return err
			}
			return runUpdate(cmd.Context(), env, c, cmd, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.autolock, "autolock", false, "require the unlock key to restart managers")
	f.Int64Var(&o.taskHistoryLimit, "task-history-limit", 0, "old tasks kept per slot")
	f.DurationVar(&o.heartbeatPeriod, "dispatcher-heartbeat", 0, "agents' heartbeat period")
	f.DurationVar(&o.certExpiry, "cert-expiry", 0, "validity of node certificates (at least 1h)")
	f.Uint64Var(&o.snapshotInterval, "snapshot-interval", 0, "Raft log entries between snapshots")
	f.Uint64Var(&o.maxReplicas, "max-replicas", 0, "largest replica count of a service (default 100000, at most 1000000)")
	return cmd
}

func runUpdate(ctx context.Context, env *command.Env, c command.Client, cmd *cobra.Command, o updateOptions) error {
	sw, err := c.SwarmInspect(ctx)
	if err != nil {
		return err
	}
	spec := sw.Spec
	f := cmd.Flags()
	changed := false
	if f.Changed("autolock") {
		spec.EncryptionConfig.AutoLockManagers = o.autolock
		changed = true
	}
	if f.Changed("task-history-limit") {
		spec.Orchestration.TaskHistoryRetentionLimit = &o.taskHistoryLimit
		changed = true
	}
	if f.Changed("dispatcher-heartbeat") {
		spec.Dispatcher.HeartbeatPeriod = o.heartbeatPeriod
		changed = true
	}
	if f.Changed("cert-expiry") {
		spec.CAConfig.NodeCertExpiry = o.certExpiry
		changed = true
	}
	if f.Changed("snapshot-interval") {
		spec.Raft.SnapshotInterval = o.snapshotInterval
		changed = true
	}
	if f.Changed("max-replicas") {
		// shoal's setting travels as a cluster label: Docker's API has no
		// field for it (the manager checks the value).
		labels := maps.Clone(spec.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		labels[convert.LabelMaxReplicas] = strconv.FormatUint(o.maxReplicas, 10)
		spec.Labels = labels
		changed = true
	}
	if !changed {
		return fmt.Errorf("nothing to update: give at least one setting (see --help)")
	}
	if err := c.SwarmUpdate(ctx, sw.Version, spec, swarm.UpdateFlags{}); err != nil {
		return err
	}
	fmt.Fprintln(env.Out, "Cluster updated.")
	if f.Changed("autolock") && o.autolock && !sw.Spec.EncryptionConfig.AutoLockManagers {
		key, err := c.SwarmGetUnlockKey(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Out, "Autolock is on. To unlock a manager after it restarts, run `manager unlock --data-dir DIR`\nand give this key (swarmctl cluster unlock-key shows it again):\n\n    %s\n", key.UnlockKey)
	}
	return nil
}
