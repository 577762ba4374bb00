package agent

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
)

// Config configures an Agent. Start from DefaultConfig.
type Config struct {
	// DataDir is the node's state directory. The agent keeps the managers
	// it learnt from sessions in DataDir/managers.json, so that a
	// restarted agent reaches managers other than the one it joined
	// through.
	DataDir string

	// Managers are cluster addresses (host:port) to start from, typically
	// the one given to join. The managers named by sessions are added.
	Managers []string

	// TLS returns the client configuration with the node's certificate
	// (ca.ClientTLSConfig). It is called for every new connection, so a
	// renewed certificate is used as soon as TLS returns it.
	TLS func() (*tls.Config, error)

	// NodeID is the node's ID. Empty means the CN of the certificate TLS
	// returns, which is what managers identify the node by anyway.
	NodeID string

	// Executor runs the node's tasks (dockerexec.Executor). It must act
	// for NodeID.
	Executor exec.Executor

	// Hostname, if set, replaces the engine's host name in the node's
	// description (several agents sharing one engine in tests and demos).
	Hostname string
	// Labels are added to the engine labels of the node's description.
	Labels map[string]string

	// OnNode, if set, is called with what the cluster says about the node
	// (role, spec) each time a session tells it: at the start of every
	// session and after every change. The node's daemon uses it to follow
	// promotions. It runs on the session's goroutine and must not block.
	OnNode func(protocol.NodeInfo)
	// OnManagers, if set, is called with the managers a session names
	// (cluster and gossip addresses); OnGossip with the gossip keys,
	// primary first. Same contract as OnNode.
	OnManagers func([]protocol.Manager)
	OnGossip   func(keys [][]byte)
	// OnSecrets, if set, is called with each whole set of secrets and
	// configs a session sends (the node side of secret files will mount
	// from it). Same contract as OnNode; it must not keep the data
	// anywhere but in memory.
	OnSecrets func(*protocol.Secrets)

	// Logger receives the agent's logs, with component=agent and node,
	// task and session IDs as fields.
	Logger *slog.Logger

	// BackoffInitial and BackoffMax bound the wait between attempts to
	// open a session (and between retries of a task step that failed for
	// a temporary reason): 100 ms doubling up to 8 s, with ±20 % jitter
	// so that nodes cut off together do not come back in step. Swarm's
	// values: the first retry is quick enough to hide a blip, the cap
	// keeps a node from hammering managers that are down.
	BackoffInitial time.Duration
	BackoffMax     time.Duration

	// DialTimeout bounds connecting to a manager (TCP and TLS) and
	// waiting for the answer to a session request. 5 s: a manager that
	// does not answer by then is down or cut off; another is tried.
	DialTimeout time.Duration

	// EngineCheckInterval is how often the container engine is asked to
	// describe the node. A failure makes the node report the engine
	// unavailable (managers mark it DOWN and replace its tasks) until an
	// answer comes again. 2 s: an engine outage is seen about as fast as
	// a lost heartbeat, for one cheap call.
	EngineCheckInterval time.Duration

	// MaxConcurrentStarts is the most task steps that call the engine to
	// make or start a container (Prepare: pull and create; Start) in
	// flight at once; the other tasks wait their turn, in no set order.
	// The engine serializes much of that work itself, so beyond a few
	// tens of calls more concurrency only queues inside the daemon, where
	// calls time out (issue 21: thousands at once gave thousands of
	// "Cannot connect to the Docker daemon" errors and a container the
	// daemon could no longer remove). 32 keeps a small node's daemon busy
	// without flooding it. Stopping and removing are not paced: they
	// free resources.
	MaxConcurrentStarts int
}

// DefaultConfig returns the settings for production; DataDir, Managers,
// TLS and Executor must still be set.
func DefaultConfig() Config {
	return Config{
		Logger:              slog.Default(),
		BackoffInitial:      100 * time.Millisecond,
		BackoffMax:          8 * time.Second,
		DialTimeout:         5 * time.Second,
		EngineCheckInterval: 2 * time.Second,
		MaxConcurrentStarts: 32,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if c.TLS == nil {
		errs = append(errs, errors.New("TLS function is nil"))
	}
	if c.Executor == nil {
		errs = append(errs, errors.New("executor is nil"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("logger is nil"))
	}
	if c.BackoffInitial <= 0 || c.BackoffMax < c.BackoffInitial {
		errs = append(errs, errors.New("backoff must be positive and at most the max backoff"))
	}
	if c.DialTimeout <= 0 || c.EngineCheckInterval <= 0 {
		errs = append(errs, errors.New("dial timeout and engine check interval must be positive"))
	}
	if c.MaxConcurrentStarts < 1 {
		errs = append(errs, errors.New("max concurrent starts must be at least 1"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("agent: invalid config: %w", errors.Join(errs...))
	}
	return nil
}
