package manager

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// restoreFile is the copy of the backup `manager init --restore` keeps
// until the first leader has imported it.
const restoreFile = "restore.snapshot"

// importChunk bounds the tasks of one import command.
const importChunk = 5000

// readBackup reads the cluster object and the root CA of a backup.
func readBackup(path string) (*model.Cluster, *ca.RootCA, error) {
	s, err := loadBackup(path)
	if err != nil {
		return nil, nil, err
	}
	var c *model.Cluster
	_ = s.View(func(tx state.ReadTx) error { c = tx.Cluster(); return nil })
	if c == nil {
		return nil, nil, fmt.Errorf("backup %s holds no cluster", path)
	}
	root, err := ca.NewRootCA(c.RootCA.CACert, c.RootCA.CAKey)
	if err != nil {
		return nil, nil, fmt.Errorf("backup %s: %w", path, err)
	}
	return c.Copy(), root, nil
}

func loadBackup(path string) (*state.Store, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := state.NewStore()
	if err := s.Restore(f); err != nil {
		return nil, fmt.Errorf("reading backup %s: %w", path, err)
	}
	return s, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// importBackup commits the backup's objects to the new cluster's empty
// store: the cluster, its networks, secrets and configs, its nodes (the old managers marked down: they are not
// members of the new Raft group and must be demoted and removed, or wiped
// and joined again) and services with this manager, then the tasks in
// chunks. Workers come back with their certificates, which the restored CA
// still accepts.
func (m *Manager) importBackup(ctx context.Context, self *model.Node) error {
	b, err := loadBackup(filepath.Join(m.cfg.DataDir, restoreFile))
	if err != nil {
		return err
	}
	var (
		c     *model.Cluster
		set   state.ImportSet
		tasks []*model.Task
	)
	_ = b.View(func(tx state.ReadTx) error {
		c = tx.Cluster()
		set.Nodes, _ = tx.FindNodes(state.All)
		set.Services, _ = tx.FindServices(state.All)
		set.Networks, _ = tx.FindNetworks(state.All)
		set.Secrets, _ = tx.FindSecrets(state.All)
		set.Configs, _ = tx.FindConfigs(state.All)
		tasks, _ = tx.FindTasks(state.All)
		return nil
	})
	nodes := []*model.Node{self}
	for _, n := range set.Nodes {
		cp := n.Copy()
		if cp.Role == model.RoleManager || cp.ManagerStatus != nil {
			cp.Status = model.NodeStatus{State: model.NodeStateDown, Message: "restored from a backup: not a manager of the new cluster; demote and remove it"}
		}
		nodes = append(nodes, cp)
	}
	set.Nodes = nodes
	if err := m.propose(ctx, state.Op{Type: state.OpImport, Cluster: c, Import: &set}); err != nil {
		return err
	}
	for i := 0; i < len(tasks); i += importChunk {
		chunk := tasks[i:min(i+importChunk, len(tasks))]
		if err := m.propose(ctx, state.Op{Type: state.OpImport, Import: &state.ImportSet{Tasks: chunk}}); err != nil {
			return fmt.Errorf("importing tasks: %w", err)
		}
	}
	m.log.Info("cluster restored from a backup", "cluster", c.ID, "nodes", len(set.Nodes), "services", len(set.Services), "tasks", len(tasks),
		"networks", len(set.Networks), "secrets", len(set.Secrets), "configs", len(set.Configs))
	return nil
}

func (m *Manager) propose(ctx context.Context, ops ...state.Op) error {
	res, err := m.raft.Propose(ctx, state.NewCommand(ops...))
	if err == nil {
		err = res.Err()
	}
	return err
}
