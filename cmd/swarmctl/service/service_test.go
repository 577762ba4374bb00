package service

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fakeclient"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fixtures"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC
	os.Exit(m.Run())
}

// newFake is a manager holding the fixtures.
func newFake() *fakeclient.Client {
	return &fakeclient.Client{
		Services:   fixtures.Services(),
		Tasks:      fixtures.Tasks(),
		Nodes:      fixtures.Nodes(),
		Swarm:      fixtures.Swarm(),
		SystemInfo: fixtures.Info(),
		Index:      100,
		Now:        fixtures.Now,
	}
}

// result is what a command printed and returned.
type result struct {
	out, errOut string
	err         error
}

// run runs `service ARGS...` against fc with a fake clock, as a non-terminal.
func run(t *testing.T, fc *fakeclient.Client, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env := command.NewEnv(&out, &errOut, func() (command.Client, error) { return fc, nil })
	now := fixtures.Now
	env.Now = func() time.Time { return now }
	env.Sleep = func(ctx context.Context, d time.Duration) error {
		now = now.Add(d)
		return ctx.Err()
	}
	cmd := NewCommand(env)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	return result{out.String(), errOut.String(), err}
}

// service returns the service named name in fc.
func service(t *testing.T, fc *fakeclient.Client, name string) swarm.Service {
	t.Helper()
	s, _, err := fc.ServiceInspectWithRaw(context.Background(), name, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
