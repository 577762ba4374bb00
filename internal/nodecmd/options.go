// Package nodecmd holds what the manager and worker commands share: their
// flags, logging setup, and running a node daemon until a signal.
package nodecmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/daemon"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/state/raft"
)

// Options are the flags shared by init, join and run.
type Options struct {
	dataDir  string
	settings node.Settings
	labels   []string
	noAgent  bool

	raftProfile      string
	heartbeatTimeout time.Duration
	electionTimeout  time.Duration

	dockerHost  string
	rejoinToken string
	joinTimeout time.Duration

	logLevel  string
	logFormat string
}

// Flags says which flags a command takes.
type Flags struct {
	// Addrs adds the address, hostname and label flags (init, join, run).
	Addrs bool
	// API adds the API socket and address flags (managers).
	API bool
	// Socket adds the API socket flag alone (workers).
	Socket bool
	// Raft adds the Raft tuning flags and --no-agent (managers).
	Raft bool
	// Rejoin adds --token to renew an expired certificate (run).
	Rejoin bool
	// Join adds --join-timeout (join).
	Join bool
}

// AddFlags registers the flags on cmd.
func (o *Options) AddFlags(cmd *cobra.Command, which Flags) {
	withAddrs := which.Addrs
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", "", "directory holding the node's state (required)")
	_ = cmd.MarkFlagRequired("data-dir")
	if withAddrs {
		f.StringVar(&o.settings.Hostname, "hostname", "", "node name (default: the machine's hostname)")
		f.StringVar(&o.settings.ListenAddr, "listen-addr", "", "cluster port to listen on (default 0.0.0.0:2377)")
		f.StringVar(&o.settings.AdvertiseAddr, "advertise-addr", "", "cluster address other nodes reach this one at (default: first non-loopback IP, listen port)")
		f.StringVar(&o.settings.GossipAddr, "gossip-addr", "", "gossip address (default: advertise IP, port 7946)")
		f.StringArrayVar(&o.labels, "label", nil, "engine label KEY=VALUE for placement constraints (repeatable)")
	}
	if which.API || which.Socket {
		f.StringVar(&o.settings.APISocket, "api-socket", "", "Docker Engine API unix socket, mode 0600 (default DATA_DIR/swarm.sock; "+node.APISocketOff+": none; remembered by run)")
	}
	if which.API {
		f.StringVar(&o.settings.APIAddr, "api-addr", "", "also serve the API on this TCP address (plain HTTP on loopback only; mutual TLS otherwise)")
		f.StringVar(&o.settings.UIAddr, "ui-addr", "", "serve the read-only web dashboard on this TCP address, e.g. 127.0.0.1:8080 (plain HTTP on loopback only; HTTPS with the manager's certificate otherwise; off by default; remembered by run, where off turns it off)")
	}
	if which.Raft {
		f.BoolVar(&o.noAgent, "no-agent", false, "do not run tasks on this manager")
	}
	f.StringVar(&o.raftProfile, "raft-profile", "lan", "Raft timeouts once this node is a manager: lan (failover ~1 s) or wan (fewer false elections on slow links, failover ~4 s)")
	f.DurationVar(&o.heartbeatTimeout, "raft-heartbeat-timeout", 0, "override: time without a leader before an election")
	f.DurationVar(&o.electionTimeout, "raft-election-timeout", 0, "override: time a candidate waits for votes")
	if which.Join {
		f.DurationVar(&o.joinTimeout, "join-timeout", ca.DefaultJoinRetry().Timeout,
			"how long to retry a manager that cannot be reached or is not ready before giving up (0: the default; a refused token fails at once)")
	}
	if which.Rejoin {
		f.StringVar(&o.rejoinToken, "token", "", "join token to renew the node's certificate if it expired while the node was offline")
	}
	f.StringVar(&o.dockerHost, "docker-host", "", "Docker daemon the node runs tasks on (default: DOCKER_HOST or the local socket)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "text", "text or json")
}

func (o *Options) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", o.logLevel, err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
}

func parseLabels(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: want KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// Config builds the node configuration from the flags.
func (o *Options) Config() (daemon.Config, error) {
	log, err := o.logger()
	if err != nil {
		return daemon.Config{}, err
	}
	slog.SetDefault(log)
	cfg := daemon.DefaultConfig(o.dataDir)
	cfg.Logger = log
	cfg.NoAgent = o.noAgent
	cfg.DockerHost = o.dockerHost
	cfg.RejoinToken = o.rejoinToken
	cfg.JoinTimeout = o.joinTimeout
	cfg.Settings = o.settings
	if cfg.Settings.Labels, err = parseLabels(o.labels); err != nil {
		return cfg, err
	}
	switch o.raftProfile {
	case "lan":
		cfg.Manager.Raft = raft.DefaultConfig()
	case "wan":
		cfg.Manager.Raft = raft.WANConfig()
	default:
		return cfg, fmt.Errorf("--raft-profile %q: want lan or wan", o.raftProfile)
	}
	if o.heartbeatTimeout > 0 {
		cfg.Manager.Raft.HeartbeatTimeout = o.heartbeatTimeout
		if cfg.Manager.Raft.LeaderLeaseTimeout > o.heartbeatTimeout {
			cfg.Manager.Raft.LeaderLeaseTimeout = o.heartbeatTimeout
		}
	}
	if o.electionTimeout > 0 {
		cfg.Manager.Raft.ElectionTimeout = o.electionTimeout
	}
	return cfg, cfg.Validate()
}

// Serve runs d until SIGINT or SIGTERM, then shuts it down cleanly:
// running containers are left alone, a leader hands leadership over.
func Serve(d *daemon.Daemon) error {
	return d.Run(CatchSignals())
}

var (
	signalsOnce sync.Once
	signalsCtx  context.Context
)

// CatchSignals starts catching SIGINT and SIGTERM, once, and returns a
// context they cancel. The commands call it first thing, so that a signal
// that arrives while the node starts (opening its data dir, joining) is
// kept: Serve then shuts the node down cleanly at once, where Go's default
// action would kill the process midway (the robustness suite's restarts
// hit that when they signalled a manager milliseconds after its start).
func CatchSignals() context.Context {
	signalsOnce.Do(func() {
		signalsCtx, _ = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	})
	return signalsCtx
}

// ExplainJoinError adds to a join that gave up what the user can check
// or change.
func ExplainJoinError(err error) error {
	if errors.Is(err, ca.ErrJoinGaveUp) {
		return fmt.Errorf("%w (check the manager address and that a manager is running there; --join-timeout sets how long to retry)", err)
	}
	return err
}

// JoinToken holds a join token given as --token, --token-file, or the
// environment variable SWARM_JOIN_TOKEN. A flag puts the secret in the
// process list; the file and the variable keep it out.
type JoinToken struct {
	value, file string
}

// AddFlags registers --token and --token-file.
func (t *JoinToken) AddFlags(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&t.value, "token", "", what+" (visible in the process list: prefer --token-file or SWARM_JOIN_TOKEN)")
	cmd.Flags().StringVar(&t.file, "token-file", "", "file holding the join token")
}

// Get returns the token from the flag, the file or the environment.
func (t *JoinToken) Get() (string, error) {
	switch {
	case t.value != "":
		return t.value, nil
	case t.file != "":
		b, err := os.ReadFile(t.file)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case os.Getenv("SWARM_JOIN_TOKEN") != "":
		return strings.TrimSpace(os.Getenv("SWARM_JOIN_TOKEN")), nil
	}
	return "", fmt.Errorf("a join token is required: --token, --token-file or SWARM_JOIN_TOKEN")
}
