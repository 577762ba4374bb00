package daemon

import (
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/manager"
	"github.com/shoal-dev/shoal/node"
)

// Config configures a node process. The fields are what every node has,
// worker or manager; Manager holds what only the manager components use,
// while the node is a manager.
type Config struct {
	// DataDir holds the node's record, its credentials and, on managers,
	// the Raft log and the API socket.
	DataDir string
	// Settings are the node's addresses and labels. Zero fields get
	// defaults (node.Settings.WithDefaults) and are remembered at init or
	// join; at `run`, non-zero ones override the remembered ones.
	Settings node.Settings
	// NoAgent runs a manager without its local agent (no containers run on
	// it). The default runs one, as Docker does. Workers always run one.
	NoAgent bool
	// DockerHost is the Docker daemon the local agent uses; empty means
	// the environment (DOCKER_HOST) or the default socket.
	DockerHost string
	// RejoinToken, at `run`, renews the node's certificate with a join
	// token if it expired while the node was offline (see ca.Rejoin).
	RejoinToken string
	// JoinTimeout, at join, is how long an unreachable or busy manager is
	// retried (manager.Config.JoinTimeout); 0 means ca.DefaultJoinRetry's.
	JoinTimeout time.Duration
	// Logger receives the node's logs.
	Logger *slog.Logger

	// Manager tunes the manager components: Raft, autolock, restore,
	// shutdown. The daemon fills its DataDir, Settings, JoinTimeout and
	// Logger from the fields above, and its Credentials, Alive, Suspected
	// and OnGossip with its own.
	Manager manager.Config
}

// DefaultConfig returns a node configuration for dataDir with LAN
// defaults.
func DefaultConfig(dataDir string) Config {
	return Config{DataDir: dataDir, Logger: slog.Default(), Manager: manager.DefaultConfig(dataDir)}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	m := c.managerConfig()
	return m.Validate()
}

// managerConfig is c.Manager with the node's own fields.
func (c *Config) managerConfig() manager.Config {
	m := c.Manager
	m.DataDir, m.Settings, m.JoinTimeout, m.Logger = c.DataDir, c.Settings, c.JoinTimeout, c.Logger
	return m
}
