package objcmdtest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fakeclient"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fixtures"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/golden"
)

// Suite is one noun's commands under test.
type Suite struct {
	Noun       string // "secret"
	NewCommand func(env *command.Env) *cobra.Command
	// NewFake returns a client holding the noun's fixtures.
	NewFake func() *fakeclient.Client
	// Existing is the name of a fixture, ExistingID its ID.
	Existing, ExistingID string
	// Sent returns what a create wrote: the name and labels, the data, and
	// the manager's conversion's error for that spec.
	Sent func(w fakeclient.Write) (swarm.Annotations, []byte, error)
}

func (s Suite) run(t *testing.T, fc *fakeclient.Client, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := command.NewEnv(&out, &errOut, func() (command.Client, error) { return fc, nil })
	env.Now = func() time.Time { return fixtures.Now }
	cmd := s.NewCommand(env)
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// ReadCommands checks ls and inspect against the package's golden files.
func (s Suite) ReadCommands(t *testing.T) {
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"ls", []string{"ls"}},
		{"ls-quiet", []string{"ls", "-q"}},
		{"ls-json", []string{"ls", "--format", "json"}},
		{"inspect", []string{"inspect", s.Existing}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			out, err := s.run(t, s.NewFake(), "", c.args...)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, c.golden, []byte(out))
		})
	}
}

// Create checks what create sends, from a file and from standard input:
// the name, labels and data, which the manager's conversion accepts.
func (s Suite) Create(t *testing.T) {
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, []byte("from a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, stdin string
		args        []string
		data        string
	}{
		{"file", "", []string{"create", "-l", "env=prod", "key", file}, "from a file"},
		{"stdin", "from stdin", []string{"create", "-l", "env=prod", "key", "-"}, "from stdin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fc := s.NewFake()
			out, err := s.run(t, fc, c.stdin, c.args...)
			if err != nil || out != fc.NextID+"\n" {
				t.Fatalf("printed %q, %v", out, err)
			}
			w := fc.LastWrite()
			a, data, convErr := s.Sent(w)
			if w.Op != s.Noun+" create" || a.Name != "key" || a.Labels["env"] != "prod" || string(data) != c.data {
				t.Errorf("sent %s %+v %q", w.Op, a, data)
			}
			if convErr != nil {
				t.Errorf("the manager would refuse it: %v", convErr)
			}
		})
	}
}

// Rm checks that rm removes what it finds and names what it does not.
func (s Suite) Rm(t *testing.T) {
	fc := s.NewFake()
	out, err := s.run(t, fc, "", "rm", s.Existing, "nope")
	if err == nil || err.Error() != "nope: "+s.Noun+" nope not found" || out != s.Existing+"\n" {
		t.Errorf("printed %q, %v", out, err)
	}
	if w := fc.LastWrite(); w.Op != s.Noun+" rm" || w.ID != s.ExistingID {
		t.Errorf("sent %+v", w)
	}
}

// Errors checks the commands' refusals.
func (s Suite) Errors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create", s.Existing, "-"}, s.Noun + " " + s.Existing + " already exists"},
		{[]string{"create", "x", "/nonexistent/file"}, "no such file"},
		{[]string{"create", "x"}, "accepts 2 arg"},
		{[]string{"inspect", "nope"}, s.Noun + " nope not found"},
		{[]string{"ls", "--format", "yaml"}, "want table or json"},
	} {
		_, err := s.run(t, s.NewFake(), "data", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}
