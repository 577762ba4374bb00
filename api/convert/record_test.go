package convert_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api/convert/internal/clirecorder"
)

// record regenerates testdata/cli from the docker CLI installed on this
// machine: go test ./api/convert -run TestRecordCLI -record
var record = flag.Bool("record", false, "run the docker CLI against a recording fake engine and rewrite testdata/cli")

// cliImage is the image every recorded command uses.
const cliImage = "nginx:1.27"

// cliCommand is one recorded docker CLI invocation.
type cliCommand struct {
	// name is the golden file's base name.
	name string
	// setup runs first; its requests are not recorded.
	setup [][]string
	args  []string
}

func create(extra ...string) []string {
	args := []string{"service", "create", "--name", "web", "-d"}
	args = append(args, extra...)
	return append(args, cliImage)
}

var createWeb = create("--replicas", "3")

var cliCommands = []cliCommand{
	{name: "service-create", args: createWeb},
	{name: "service-create-command", args: append(create("--replicas", "1", "--entrypoint", "nginx"), "-g", "daemon off;")},
	{name: "service-create-unresolvable-image", args: []string{"service", "create", "--name", "web", "-d", clirecorder.UnresolvableImage + ":1"}},
	{name: "service-create-constraint", args: create("--constraint", "node.role==worker", "--constraint", "node.labels.zone!=b")},
	{name: "service-create-placement-pref", args: create("--placement-pref", "spread=node.labels.zone")},
	{name: "service-create-replicas-max-per-node", args: create("--replicas", "4", "--replicas-max-per-node", "2")},
	{name: "service-create-env", args: create("--env", "A=1", "--env", "B=two words")},
	{name: "service-create-label", args: create("--label", "com.example.team=web", "--label", "tier")},
	{name: "service-create-shoal-labels", args: create("--label", "io.shoal.rebalance=true", "--label", "io.shoal.placement.strategy=binpack")},
	{name: "service-create-container-label", args: create("--container-label", "com.example.role=frontend")},
	{name: "service-create-resources", args: create("--reserve-cpu", "0.5", "--reserve-memory", "64M", "--limit-cpu", "1.5", "--limit-memory", "128M", "--limit-pids", "100")},
	{name: "service-create-restart", args: create("--restart-condition", "on-failure", "--restart-delay", "3s", "--restart-max-attempts", "4", "--restart-window", "1m")},
	{name: "service-create-update-config", args: create("--update-parallelism", "2", "--update-delay", "10s", "--update-order", "start-first", "--update-failure-action", "rollback", "--update-monitor", "30s", "--update-max-failure-ratio", "0.25")},
	{name: "service-create-rollback-config", args: create("--rollback-parallelism", "0", "--rollback-delay", "2s", "--rollback-order", "start-first", "--rollback-failure-action", "continue", "--rollback-monitor", "10s", "--rollback-max-failure-ratio", "0.5")},
	{name: "service-create-update-delay-only", args: create("--update-delay", "10s")},
	{name: "service-create-rollback-delay-only", args: create("--rollback-delay", "2s")},
	{name: "service-create-replicas-zero", args: create("--replicas", "0")},
	{name: "service-create-global", args: create("--mode", "global")},
	{name: "service-create-replicated-job", args: create("--mode", "replicated-job", "--replicas", "2")},
	{name: "service-create-publish-host", args: create("--publish", "published=8080,target=80,mode=host")},
	{name: "service-create-publish-ingress", args: create("--publish", "8080:80")},
	{name: "service-create-mount-bind", args: create("--mount", "type=bind,source=/srv/data,target=/data,readonly")},
	{name: "service-create-mount-volume", args: create("--mount", "type=volume,source=vol1,target=/var/lib/data")},
	{name: "service-create-mount-tmpfs", args: create("--mount", "type=tmpfs,target=/scratch")},
	{name: "service-create-mount-tmpfs-size", args: create("--mount", "type=tmpfs,target=/scratch,tmpfs-size=64m")},
	{name: "service-create-network", args: create("--network", "appnet")},
	{name: "service-create-secret", args: create("--secret", "dbpass")},
	{name: "service-create-config", args: create("--config", "site.conf")},
	{name: "service-create-cap-add", args: create("--cap-add", "NET_ADMIN")},
	{name: "service-create-sysctl", args: create("--sysctl", "net.core.somaxconn=1024")},
	{name: "service-create-dns", args: create("--dns", "10.0.0.53")},
	{name: "service-create-host", args: create("--host", "db:10.0.0.5")},
	{name: "service-create-generic-resource", args: create("--generic-resource", "gpu=1")},
	{name: "service-create-health", args: create("--health-cmd", "curl -f http://localhost/", "--health-interval", "5s", "--health-timeout", "2s", "--health-retries", "3", "--health-start-period", "10s")},
	{name: "service-create-no-healthcheck", args: create("--no-healthcheck")},
	{name: "service-create-stop-grace-period", args: create("--stop-grace-period", "20s")},
	{name: "service-create-stop-signal", args: create("--stop-signal", "SIGINT")},
	{name: "service-create-user", args: create("--user", "1000:1000")},
	{name: "service-create-workdir", args: create("--workdir", "/app")},
	{name: "service-create-hostname", args: create("--hostname", "{{.Node.Hostname}}-{{.Task.Slot}}")},
	{name: "service-create-init", args: create("--init")},
	{name: "service-create-read-only", args: create("--read-only")},
	{name: "service-create-tty", args: create("--tty")},
	{name: "service-create-with-registry-auth", args: create("--with-registry-auth")},
	{name: "service-create-log-driver", args: create("--log-driver", "json-file", "--log-opt", "max-size=10m")},
	{name: "service-update-image", setup: [][]string{createWeb}, args: []string{"service", "update", "-d", "--image", "nginx:1.28", "web"}},
	{name: "service-update-force", setup: [][]string{createWeb}, args: []string{"service", "update", "-d", "--force", "web"}},
	{name: "service-update-rollback", setup: [][]string{createWeb, {"service", "update", "-d", "--image", "nginx:1.28", "web"}}, args: []string{"service", "update", "-d", "--rollback", "web"}},
	{name: "service-scale", setup: [][]string{createWeb}, args: []string{"service", "scale", "-d", "web=5"}},
	{name: "node-update-drain", args: []string{"node", "update", "--availability", "drain", "node-2"}},
	{name: "node-update-label-add", args: []string{"node", "update", "--label-add", "zone=a", "node-2"}},
	{name: "node-promote", args: []string{"node", "promote", "node-2"}},
	{name: "swarm-update-task-history-limit", args: []string{"swarm", "update", "--task-history-limit", "3"}},
	{name: "swarm-join-token-rotate-worker", args: []string{"swarm", "join-token", "--rotate", "worker"}},
}

func TestRecordCLI(t *testing.T) {
	if !*record {
		t.Skip("run with -record to regenerate testdata/cli from the docker CLI")
	}
	docker, version := dockerCLI(t)
	if docker == "" {
		t.Fatal("no docker CLI in PATH")
	}
	config := dockerConfig(t)

	var transcript bytes.Buffer
	fmt.Fprintf(&transcript, "# Requests of %s against a fake engine announcing API %s.\n", version, clirecorder.APIVersion)
	fmt.Fprintf(&transcript, "# Regenerate: go test ./api/convert -run TestRecordCLI -record\n")
	for _, c := range cliCommands {
		rec := clirecorder.New()
		run := serveFake(t, docker, config, rec)
		for _, s := range c.setup {
			if out, err := run(s...); err != nil {
				t.Fatalf("%s: setup %v: %v\n%s", c.name, s, err, out)
			}
		}
		rec.Take()
		out, err := run(c.args...)
		if err != nil {
			t.Fatalf("%s: docker %v: %v\n%s", c.name, c.args, err, out)
		}
		reqs := rec.Take()

		fmt.Fprintf(&transcript, "\n## %s\n$ docker %s\n", c.name, shellJoin(c.args))
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			fmt.Fprintf(&transcript, "> %s\n", line)
		}
		var body []byte
		for _, r := range reqs {
			fmt.Fprintf(&transcript, "%s\n", r)
			if r.Method == http.MethodPost {
				if body != nil {
					t.Fatalf("%s: more than one request with a body", c.name)
				}
				body = r.Body
			}
		}
		if body == nil {
			t.Fatalf("%s: no request with a body", c.name)
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, body, "", "  "); err != nil {
			t.Fatalf("%s: body is not JSON: %v\n%s", c.name, err, body)
		}
		pretty.WriteByte('\n')
		if err := os.WriteFile(filepath.Join("testdata", "cli", c.name+".json"), pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join("testdata", "cli", "TRANSCRIPT.txt"), transcript.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dockerCLI returns the path and version line of the docker CLI, or ""
// if there is none.
func dockerCLI(t *testing.T) (path, version string) {
	t.Helper()
	path, err := exec.LookPath("docker")
	if err != nil {
		return "", ""
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		t.Fatalf("docker --version: %v", err)
	}
	return path, strings.TrimSpace(string(out))
}

// dockerConfig returns a DOCKER_CONFIG directory holding a fake Docker Hub
// credential, so --with-registry-auth has one to send and the user's own
// configuration is never read.
func dockerConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	cfg := fmt.Sprintf(`{"auths":{"https://index.docker.io/v1/":{"auth":%q}}}`, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serveFake serves rec on a fresh unix socket until the test ends and
// returns a function that runs the docker CLI against it.
func serveFake(t *testing.T, docker, config string, rec *clirecorder.Recorder) func(args ...string) (string, error) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rec}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return func(args ...string) (string, error) {
		cmd := exec.Command(docker, append([]string{"-H", "unix://" + sock}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+config, "DOCKER_CLI_HINTS=false", "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " ;'\"{}$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		quoted[i] = a
	}
	return strings.Join(quoted, " ")
}
