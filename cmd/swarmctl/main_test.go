package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fakeclient"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fixtures"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/golden"
)

// execute runs swarmctl ARGS with the environment variables env.
func execute(t *testing.T, env map[string]string, dial func() (command.Client, error), args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	hosts := &command.HostOptions{Getenv: func(k string) string { return env[k] }}
	e := command.NewEnv(&out, &out, hosts.Dial)
	if dial != nil {
		e.SetDial(dial)
	}
	root := newRootCommand(e, hosts)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestCommandTree records the commands and their flags, so a change to the
// CLI's surface shows in review.
func TestCommandTree(t *testing.T) {
	hosts := &command.HostOptions{}
	root := newRootCommand(command.NewEnv(nil, nil, hosts.Dial), hosts)
	root.InitDefaultCompletionCmd()
	var b strings.Builder
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		fmt.Fprintf(&b, "%s\t%s\n", c.UseLine(), c.Short)
		var flags []string
		c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			name := "--" + f.Name
			if f.Shorthand != "" {
				name = "-" + f.Shorthand + "|" + name
			}
			flags = append(flags, name)
		})
		sort.Strings(flags)
		if len(flags) > 0 {
			fmt.Fprintf(&b, "    %s\n", strings.Join(flags, " "))
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	golden.Assert(t, "commands", []byte(b.String()))
}

func TestNoHost(t *testing.T) {
	_, err := execute(t, nil, nil, "service", "ls")
	if err == nil || !strings.Contains(err.Error(), "set -H/--host or SWARM_HOST") {
		t.Errorf("error %v", err)
	}
}

func TestHostFromEnvAndFlag(t *testing.T) {
	// Nothing listens there: the advice names the host that was used.
	env := map[string]string{command.EnvHost: "unix://" + t.TempDir() + "/env.sock"}
	_, err := execute(t, env, nil, "node", "ls")
	if err == nil || !strings.Contains(command.UserMessage(err, env[command.EnvHost]), "cannot reach the manager") {
		t.Errorf("error %v", err)
	}
	_, err = execute(t, env, nil, "-H", "tcp://nohost", "node", "ls")
	if err == nil || !strings.Contains(err.Error(), `host "tcp://nohost": want tcp://HOST:PORT`) {
		t.Errorf("-H does not take precedence: %v", err)
	}
}

func TestFlagErrorHint(t *testing.T) {
	_, err := execute(t, nil, nil, "service", "create", "--bogus", "x")
	if err == nil || !strings.Contains(err.Error(), "unknown flag: --bogus\nSee 'swarmctl service create --help'.") {
		t.Errorf("error %v", err)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, err := execute(t, nil, nil, "completion", shell)
		if err != nil || !strings.Contains(out, "swarmctl") {
			t.Errorf("completion %s: %v", shell, err)
		}
	}
	// Service and node names complete from the manager.
	fc := &fakeclient.Client{Services: fixtures.Services(), Nodes: fixtures.Nodes()}
	dial := func() (command.Client, error) { return fc, nil }
	out, err := execute(t, nil, dial, "__complete", "service", "ps", "")
	if err != nil || !strings.Contains(out, "web\n") || !strings.Contains(out, "agent\n") {
		t.Errorf("service completion %q, %v", out, err)
	}
	out, err = execute(t, nil, dial, "__complete", "node", "drain", "")
	if err != nil || !strings.Contains(out, "worker-10\n") {
		t.Errorf("node completion %q, %v", out, err)
	}
	out, err = execute(t, nil, dial, "__complete", "cluster", "join-token", "")
	if err != nil || !strings.Contains(out, "worker\nmanager\n") {
		t.Errorf("join-token completion %q, %v", out, err)
	}
}
