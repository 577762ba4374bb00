package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-dev/shoal/model"
)

// RecordFile is the name of the node's record in its data dir.
const RecordFile = "node.json"

// ErrNoRecord is returned by Load for a data dir that holds no node.
var ErrNoRecord = errors.New("node: data dir holds no node")

// Settings are the flags given at init or join, remembered for `run`.
type Settings struct {
	Hostname      string `json:"hostname"`
	ListenAddr    string `json:"listen_addr"`
	AdvertiseAddr string `json:"advertise_addr"`
	GossipAddr    string `json:"gossip_addr,omitempty"`
	APISocket     string `json:"api_socket,omitempty"`
	APIAddr       string `json:"api_addr,omitempty"`
	// UIAddr is where a manager serves its web dashboard; empty: nowhere.
	UIAddr string            `json:"ui_addr,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Record is what a node keeps of itself in RecordFile: its identity and
// settings. (Not model.Node: that is the cluster's view of a node, in the
// store.)
type Record struct {
	NodeID    string         `json:"node_id"`
	ClusterID string         `json:"cluster_id"`
	Role      model.NodeRole `json:"role"`
	Settings  Settings       `json:"settings"`
	// Managers are the cluster addresses of the managers this node knows,
	// refreshed from its sessions.
	Managers []string `json:"managers,omitempty"`
	// Bootstrap is set by `manager init` until the cluster object is
	// committed.
	Bootstrap bool `json:"bootstrap,omitempty"`
	// JoinRaftVia is set by `manager join` until this manager is a Raft
	// voter: the address of the manager to ask.
	JoinRaftVia string `json:"join_raft_via,omitempty"`
}

// Exists tells whether dir already holds a node.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, RecordFile))
	return err == nil
}

// Load reads the node record in dir.
func Load(dir string) (*Record, error) {
	b, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (run init or join first)", ErrNoRecord, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("node: reading state: %w", err)
	}
	var s Record
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("node: %s is corrupt: %w", filepath.Join(dir, RecordFile), err)
	}
	return &s, nil
}

// Save writes the node record to dir atomically.
func (s *Record) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node: creating data dir: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+RecordFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("node: saving state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("node: saving state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("node: saving state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, RecordFile)); err != nil {
		return fmt.Errorf("node: saving state: %w", err)
	}
	return nil
}

// CheckFresh refuses a data dir that already holds a node, telling the user
// to use run.
func CheckFresh(dir, binary string) error {
	if !Exists(dir) {
		return nil
	}
	s, err := Load(dir)
	id := "?"
	if err == nil {
		id = s.NodeID
	}
	return fmt.Errorf("data dir %s already holds node %s; to restart it use `%s run --data-dir %s`", dir, id, binary, dir)
}
