// Command swarmctl drives a shoal cluster through a manager's Docker Engine
// API (the swarm subset), with the Docker Go client.
//
//	swarmctl service create|ls|ps|inspect|scale|update|rollback|rm|logs
//	swarmctl node ls|inspect|drain|activate|pause|promote|demote|rm|update
//	swarmctl cluster inspect|join-token
//	swarmctl network|secret|config create|ls|inspect|rm
//	swarmctl stack deploy|ls|services|ps|rm
//	swarmctl events
//	swarmctl completion bash|zsh|fish|powershell
//
// The manager is named by -H/--host or $SWARM_HOST: unix:///path/to/swarm.sock
// (a manager's DATA_DIR/swarm.sock) or tcp://HOST:PORT, with --tlscacert,
// --tlscert and --tlskey for a manager that serves the API over mutual TLS.
//
// Layout: one package per noun (service, node, cluster, network, secret,
// config; system for events), one file per verb; internal/command holds the environment the
// commands share, internal/format the tables and --pretty views,
// internal/progress the convergence display, internal/opts the flag value
// parsers.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/moby/term"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/cluster"
	"github.com/shoal-dev/shoal/cmd/swarmctl/config"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/network"
	"github.com/shoal-dev/shoal/cmd/swarmctl/node"
	"github.com/shoal-dev/shoal/cmd/swarmctl/secret"
	"github.com/shoal-dev/shoal/cmd/swarmctl/service"
	"github.com/shoal-dev/shoal/cmd/swarmctl/stack"
	"github.com/shoal-dev/shoal/cmd/swarmctl/system"
)

func main() {
	os.Exit(run())
}

func run() int {
	// Ctrl-C cancels the context: a progress display stops watching and
	// leaves the service as it is, logs -f ends.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	hosts := &command.HostOptions{}
	env := command.NewEnv(os.Stdout, os.Stderr, hosts.Dial)
	env.Terminal = term.IsTerminal(os.Stdout.Fd()) && os.Getenv("TERM") != "dumb"
	root := newRootCommand(env, hosts)
	err := root.ExecuteContext(ctx)
	if cerr := env.Close(); err == nil && cerr != nil {
		err = cerr
	}
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return 130
	}
	host, _ := hosts.ResolveHost()
	fmt.Fprintln(os.Stderr, "swarmctl:", command.UserMessage(err, host))
	return 1
}

// newRootCommand builds the command tree; the Env dials the manager the
// host options name.
func newRootCommand(env *command.Env, hosts *command.HostOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "swarmctl",
		Short: "Drive a shoal cluster",
		Long: `swarmctl drives a shoal cluster through a manager's Docker Engine API.

Name the manager with -H or $SWARM_HOST: unix:///path/to/DATA_DIR/swarm.sock
on the manager's machine, or tcp://HOST:PORT (with --tlscacert, --tlscert and
--tlskey unless it is a loopback address).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	hosts.AddFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help'.", err, cmd.CommandPath())
	})
	root.SetOut(env.Out)
	root.SetErr(env.Err)
	root.AddCommand(
		service.NewCommand(env),
		node.NewCommand(env),
		cluster.NewCommand(env),
		network.NewCommand(env),
		secret.NewCommand(env),
		config.NewCommand(env),
		stack.NewCommand(env),
		system.NewEventsCommand(env),
	)
	root.InitDefaultCompletionCmd()
	// The Use lines already say where the options go.
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableFlagsInUseLine = true
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}
