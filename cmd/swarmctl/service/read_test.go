package service

import (
	"bytes"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fixtures"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/golden"
)

// TestReadCommands renders what ls, ps and inspect print for the fixtures.
func TestReadCommands(t *testing.T) {
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"ls", []string{"ls"}},
		{"ls-quiet", []string{"ls", "-q"}},
		{"ls-json", []string{"ls", "--format", "json"}},
		{"ps-web", []string{"ps", "web"}},
		{"ps-web-running", []string{"ps", "--filter", "desired-state=running", "web"}},
		{"ps-web-agent-no-trunc", []string{"ps", "--no-trunc", "web", "agent"}},
		{"ps-quiet", []string{"ps", "-q", "agent"}},
		{"inspect-pretty", []string{"inspect", "--pretty", "web", "batch"}},
		{"inspect-json", []string{"inspect", "api"}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			r := run(t, newFake(), c.args...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			golden.Assert(t, c.golden, []byte(r.out))
		})
	}
}

func TestPsSendsFilters(t *testing.T) {
	fc := newFake()
	if r := run(t, fc, "ps", "-f", "desired-state=running", "-f", "node=worker-1", "web", "agent"); r.err != nil {
		t.Fatal(r.err)
	}
	f := fc.TaskListCalls[len(fc.TaskListCalls)-1]
	if !f.ExactMatch("service", fixtures.Web) || !f.ExactMatch("service", fixtures.Agent) || len(f.Get("service")) != 2 ||
		!f.ExactMatch("desired-state", "running") || !f.ExactMatch("node", "worker-1") {
		t.Errorf("filters %v", f)
	}
}

func TestReadErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
		out  string
	}{
		{args: []string{"ls", "--format", "yaml"}, want: `--format "yaml": want table or json`},
		{args: []string{"ls", "--filter", "name"}, want: `--filter "name": want KEY=VALUE`},
		{args: []string{"ps", "nope"}, want: "service nope not found"},
		{args: []string{"ps"}, want: "requires at least 1 arg"},
		{args: []string{"inspect", "nope"}, want: "service nope not found"},
		{args: []string{"inspect", "--format", "yaml", "web"}, want: "inspect writes json"},
		{args: []string{"logs", "--tail", "ten", "web"}, want: `--tail "ten"`},
		{args: []string{"logs", "nope"}, want: "no such service or task: nope"},
		// What exists is shown, what does not is an error.
		{args: []string{"ps", "-q", "agent", "nope"}, want: "service nope not found", out: "agenttask1aa\nagenttask2aa\nagenttask3aa\n"},
	} {
		r := run(t, newFake(), c.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.args, r.err, c.want)
		}
		if r.out != c.out {
			t.Errorf("%q: printed %q, want %q", c.args, r.out, c.out)
		}
	}
}

// logStream is a multiplexed log body as a manager sends it with details.
func logStream(t *testing.T, timestamps bool) []byte {
	var b bytes.Buffer
	out := stdcopy.NewStdWriter(&b, stdcopy.Stdout)
	errOut := stdcopy.NewStdWriter(&b, stdcopy.Stderr)
	line := func(w interface{ Write([]byte) (int, error) }, task, node, msg string) {
		s := "com.docker.swarm.node.id=" + node + ",com.docker.swarm.service.id=" + fixtures.Web + ",com.docker.swarm.task.id=" + task + " " + msg + "\n"
		if timestamps {
			s = "2026-11-23T17:59:58.123456789Z " + s
		}
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	line(out, "webtask1aaaaaaaaaaaaaaaaa", fixtures.Worker1, "GET / 200")
	line(out, "webtask10aaaaaaaaaaaaaaaa", fixtures.Manager1, "starting nginx")
	line(errOut, "webtask2aaaaaaaaaaaaaaaaa", fixtures.Manager2, "warn: slow upstream")
	// A line without details is printed as it came.
	if _, err := out.Write([]byte("no details here\n")); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestLogs(t *testing.T) {
	for _, c := range []struct {
		golden     string
		args       []string
		timestamps bool
	}{
		{"logs", []string{"logs", "web"}, false},
		{"logs-timestamps", []string{"logs", "-t", "--no-task-ids", "web"}, true},
		{"logs-raw", []string{"logs", "--raw", "web"}, false},
	} {
		t.Run(c.golden, func(t *testing.T) {
			fc := newFake()
			fc.Logs = logStream(t, c.timestamps)
			if c.golden == "logs-raw" {
				// Without details, as the manager sends them for --raw.
				var b bytes.Buffer
				w := stdcopy.NewStdWriter(&b, stdcopy.Stdout)
				w.Write([]byte("GET / 200\n"))
				fc.Logs = b.Bytes()
			}
			r := run(t, fc, c.args...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			golden.Assert(t, c.golden, []byte("stdout:\n"+r.out+"stderr:\n"+r.errOut))
		})
	}
}

func TestLogsTTY(t *testing.T) {
	fc := newFake()
	fc.Services[0].Spec.TaskTemplate.ContainerSpec.TTY = true
	if r := run(t, fc, "logs", "web"); r.err == nil || !strings.Contains(r.err.Error(), "--raw") {
		t.Errorf("error %v, want advice to use --raw", r.err)
	}
	fc.Logs = []byte("plain tty output\n")
	if r := run(t, fc, "logs", "--raw", "web"); r.err != nil || r.out != "plain tty output\n" {
		t.Errorf("--raw printed %q, %v", r.out, r.err)
	}
}

func TestLogPrefix(t *testing.T) {
	task := swarm.Task{ID: "webtask1aaaaaaaaaaaaaaaaa", Slot: 1, NodeID: fixtures.Worker1}
	for _, c := range []struct {
		o       logsOptions
		padding int
		want    string
	}{
		{logsOptions{}, 1, "web.1.webtask1aaaa@worker-1"},
		{logsOptions{}, 2, "web.1.webtask1aaaa@worker-1 "},
		{logsOptions{noTrunc: true}, 1, "web.1.webtask1aaaaaaaaaaaaaaaaa@worker-1"},
		{logsOptions{noTaskIDs: true}, 1, "web.1@worker-1"},
	} {
		if got := taskLogPrefix(task, "web", "worker-1", c.padding, c.o); got != c.want {
			t.Errorf("prefix %q, want %q", got, c.want)
		}
	}
	global := swarm.Task{ID: "agenttask1aaaaaaaaaaaaaaa", NodeID: fixtures.Manager1}
	if got := taskLogPrefix(global, "agent", "manager-1", 1, logsOptions{}); got != "agent.m1node000000.agenttask1aa@manager-1" {
		t.Errorf("global prefix %q", got)
	}
	if d, ok := parseLogDetails("a=1,b%3Dc=x%2Cy"); !ok || d["a"] != "1" || d["b=c"] != "x,y" {
		t.Errorf("parseLogDetails = %v, %v", d, ok)
	}
	for _, bad := range []string{"", "novalue", "a=%zz"} {
		if _, ok := parseLogDetails(bad); ok {
			t.Errorf("parseLogDetails(%q) accepted", bad)
		}
	}
}
