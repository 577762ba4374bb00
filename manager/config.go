package manager

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/state/raft"
)

// Default ports, as Docker's.
const (
	DefaultClusterPort = 2377
	DefaultGossipPort  = 7946
)

// Config configures a manager process.
type Config struct {
	// DataDir holds the node's state, credentials, Raft log and API socket.
	DataDir string
	// Settings are the node's addresses and labels. Zero fields get
	// defaults (see Defaults); they are remembered at init/join.
	Settings node.Settings
	// Raft tunes consensus timeouts; NodeID, Addr and DataDir are filled in.
	Raft raft.Config
	// NoAgent runs the manager without its local agent (no containers run
	// on it). The default runs one, as Docker does.
	NoAgent bool
	// DockerHost is the Docker daemon the local agent uses; empty means
	// the environment (DOCKER_HOST) or the default socket.
	DockerHost string
	// Alive, if set, tells whether gossip sees a node alive; the leader's
	// dispatcher then holds a silent node up (see dispatcher.Config.Alive).
	Alive func(nodeID string) bool
	// OnGossip, if set, is called with the cluster's gossip keys (primary
	// first) and the other managers' gossip addresses whenever they
	// change, from this manager's store.
	OnGossip func(keys [][]byte, peers []string)
	// Credentials, if set, are the node's credentials, shared with its
	// agent and renewed by the node's daemon. Nil loads them from DataDir.
	Credentials *node.Credentials
	// RejoinToken, at `run`, renews the node's certificate with a join
	// token if it expired while the node was offline (see ca.Rejoin).
	RejoinToken string
	// RestoreFrom, at init, starts the new cluster from a backup made by
	// `swarmctl cluster backup`: same cluster ID, CA, tokens, nodes,
	// services and tasks, with this node as its only manager.
	RestoreFrom string
	// AutoLock, at init, turns autolock on: the managers' Raft data keys
	// are wrapped with an unlock key that must be given on restart.
	AutoLock bool
	// UnlockKey unwraps the Raft data key of a locked manager (autolock).
	UnlockKey *encryption.UnlockKey
	// ShutdownTimeout bounds a clean shutdown.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// DefaultConfig returns a manager configuration for dataDir with LAN
// defaults.
func DefaultConfig(dataDir string) Config {
	return Config{
		DataDir:         dataDir,
		Raft:            raft.DefaultConfig(),
		ShutdownTimeout: 10 * time.Second,
		Logger:          slog.Default(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required"))
	}
	for _, a := range []struct{ name, v string }{
		{"--listen-addr", c.Settings.ListenAddr},
		{"--advertise-addr", c.Settings.AdvertiseAddr},
		{"--gossip-addr", c.Settings.GossipAddr},
		{"--api-addr", c.Settings.APIAddr},
	} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want IP:PORT: %w", a.name, a.v, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("manager: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// Defaults fills the zero settings: cluster port 2377 on all interfaces,
// advertised on the first non-loopback address, gossip on 7946, the API
// socket in the data dir.
func Defaults(s node.Settings, dataDir string) (node.Settings, error) {
	if s.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return s, fmt.Errorf("hostname: %w", err)
		}
		s.Hostname = h
	}
	if s.ListenAddr == "" {
		s.ListenAddr = net.JoinHostPort("0.0.0.0", strconv.Itoa(DefaultClusterPort))
	}
	if s.AdvertiseAddr == "" {
		host, port, err := net.SplitHostPort(s.ListenAddr)
		if err != nil {
			return s, fmt.Errorf("--listen-addr %q: %w", s.ListenAddr, err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host, err = defaultAdvertiseIP()
			if err != nil {
				return s, err
			}
		}
		s.AdvertiseAddr = net.JoinHostPort(host, port)
	}
	if s.GossipAddr == "" {
		host, _, _ := net.SplitHostPort(s.AdvertiseAddr)
		s.GossipAddr = net.JoinHostPort(host, strconv.Itoa(DefaultGossipPort))
	}
	if s.APISocket == "" && dataDir != "" {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return s, err
		}
		s.APISocket = filepath.Join(abs, "swarm.sock")
	}
	return s, nil
}

// defaultAdvertiseIP returns the first non-loopback IPv4 address of an up
// interface, or 127.0.0.1 on a machine that has none.
func defaultAdvertiseIP() (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("listing interfaces for the advertise address: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP.String(), nil
			}
		}
	}
	return "127.0.0.1", nil
}
