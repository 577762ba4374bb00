package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// logBuffer collects a process's output while the test reads it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startManager builds cmd/manager, runs `manager init` in a temporary data
// dir without an agent, with debug logs, and returns its API socket, its
// cluster address once the API answers, and its logs.
func startManager(t *testing.T) (sock, addr string, logs *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", bin, "github.com/shoal-dev/shoal/cmd/manager")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/manager: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()

	data := filepath.Join(dir, "data")
	sock = filepath.Join(data, "swarm.sock")
	logs = &logBuffer{}
	cmd := exec.Command(bin, "init", "--data-dir", data, "--listen-addr", addr, "--advertise-addr", addr, "--no-agent", "--hostname", "itest-manager", "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("manager logs:\n%s", logs.String())
		}
	})

	hosts := &command.HostOptions{Host: "unix://" + sock}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("manager exited: %v\n%s", err, logs.String())
		default:
		}
		if _, err := os.Stat(sock); err == nil {
			if c, err := hosts.Dial(); err == nil {
				info, err := c.Info(context.Background())
				// The API answers before the first leader has written the
				// cluster and its node: wait for the node too.
				var nodes []swarm.Node
				if err == nil {
					nodes, err = c.NodeList(context.Background(), swarm.NodeListOptions{})
				}
				c.Close()
				if err == nil && info.Swarm.NodeID != "" && info.Swarm.ControlAvailable && len(nodes) > 0 {
					return sock, addr, logs
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the manager's API at %s did not answer in 60s\n%s", sock, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestIntegration drives a real manager through its unix socket with
// swarmctl's commands.
func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a manager process")
	}
	sock, addr, logs := startManager(t)
	driveManager(t, sock, addr, "itest-manager", true)
	driveObjects(t, sock, logs)
}

// driveObjects creates, lists, inspects and removes networks, secrets and
// configs, then checks that the secret's data is in nothing swarmctl
// printed and in no line of the manager's logs (at debug level).
func driveObjects(t *testing.T, sock string, logs *logBuffer) {
	const data = "itest-S3cret-Value-91bd"
	env := map[string]string{command.EnvHost: "unix://" + sock}
	var printed strings.Builder
	run := func(args ...string) (string, error) {
		t.Helper()
		out, err := execute(t, env, nil, args...)
		printed.WriteString(out)
		if err != nil {
			printed.WriteString(command.UserMessage(err, env[command.EnvHost]))
		}
		return out, err
	}
	ok := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("swarmctl %s: %s\n%s", strings.Join(args, " "), command.UserMessage(err, env[command.EnvHost]), out)
		}
		return out
	}
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	netID := strings.TrimSpace(ok("network", "create", "--attachable", "--subnet", "10.50.0.0/24", "itest_net"))
	if out := ok("network", "ls"); !strings.Contains(out, netID[:12]) || !strings.Contains(out, "10.50.0.0/24") {
		t.Errorf("network ls:\n%s", out)
	}
	if out := ok("network", "inspect", "itest_net"); !strings.Contains(out, `"Scope": "swarm"`) || !strings.Contains(out, `"Attachable": true`) {
		t.Errorf("network inspect:\n%s", out)
	}
	secID := strings.TrimSpace(ok("secret", "create", "-l", "env=test", "itest_pw", file("pw", data)))
	if out := ok("secret", "ls"); !strings.Contains(out, secID) || !strings.Contains(out, "itest_pw") {
		t.Errorf("secret ls:\n%s", out)
	}
	if out := ok("secret", "inspect", "itest_pw"); !strings.Contains(out, `"env": "test"`) {
		t.Errorf("secret inspect:\n%s", out)
	}
	if _, err := run("secret", "create", "itest_pw", file("pw2", data)); err == nil || !strings.Contains(command.UserMessage(err, ""), "secret itest_pw already exists") {
		t.Errorf("duplicate secret: %v", err)
	}
	ok("config", "create", "itest.conf", file("conf", "listen 80"))
	if out := ok("config", "inspect", "itest.conf"); !strings.Contains(out, `"Data": "bGlzdGVuIDgw"`) {
		t.Errorf("config inspect:\n%s", out)
	}
	// A service using them: names resolved to IDs, and the objects are
	// in use until it goes.
	ok("service", "create", "-d", "--name", "itest_app", "--network", "itest_net", "--secret", "itest_pw",
		"--config", "source=itest.conf,target=/etc/app.conf", "-p", "published=8082,target=80,mode=ingress", "nginx")
	var svcs []swarm.Service
	if err := json.Unmarshal([]byte(ok("service", "inspect", "itest_app")), &svcs); err != nil || len(svcs) != 1 {
		t.Fatalf("service inspect: %v", err)
	}
	if ts := svcs[0].Spec.TaskTemplate; len(ts.Networks) != 1 || ts.Networks[0].Target != netID ||
		len(ts.ContainerSpec.Secrets) != 1 || ts.ContainerSpec.Secrets[0].SecretID != secID || len(ts.ContainerSpec.Configs) != 1 {
		t.Errorf("service spec: %+v", ts)
	}
	for _, rm := range [][]string{{"network", "rm", "itest_net"}, {"secret", "rm", "itest_pw"}, {"config", "rm", "itest.conf"}} {
		if _, err := run(rm...); err == nil || !strings.Contains(command.UserMessage(err, ""), "in use") {
			t.Errorf("%s while a service uses it: %v", strings.Join(rm, " "), err)
		}
	}
	ok("service", "rm", "itest_app")

	ok("network", "rm", "itest_net")
	ok("secret", "rm", "itest_pw")
	ok("config", "rm", "itest.conf")
	for _, noun := range []string{"secret", "config"} {
		if out := ok(noun, "ls", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("%s ls after rm: %q", noun, out)
		}
	}
	// The ingress network, made at init, stays.
	if out := ok("network", "ls"); strings.Contains(out, "itest_net") || !strings.Contains(out, "ingress") {
		t.Errorf("network ls after rm:\n%s", out)
	}

	l := logs.String()
	if !strings.Contains(l, "level=DEBUG") {
		t.Fatal("the manager logged nothing at debug level: the log check would check nothing")
	}
	for where, text := range map[string]string{"swarmctl's output": printed.String(), "the manager's logs": l} {
		if strings.Contains(text, data) || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(data))) {
			t.Errorf("the secret's data is in %s", where)
		}
	}
}

// driveManager runs swarmctl's commands against the manager whose API is
// at sock, whose cluster address is addr and hostname host; with
// orchestrated, the manager creates the tasks of services.
func driveManager(t *testing.T, sock, addr, host string, orchestrated bool) {
	env := map[string]string{command.EnvHost: "unix://" + sock}
	ok := func(args ...string) string {
		t.Helper()
		out, err := execute(t, env, nil, args...)
		if err != nil {
			t.Fatalf("swarmctl %s: %s\n%s", strings.Join(args, " "), command.UserMessage(err, env[command.EnvHost]), out)
		}
		return out
	}
	fails := func(args ...string) string {
		t.Helper()
		out, err := execute(t, env, nil, args...)
		if err == nil {
			t.Fatalf("swarmctl %s succeeded:\n%s", strings.Join(args, " "), out)
		}
		msg := command.UserMessage(err, env[command.EnvHost])
		if strings.Contains(msg, "Error response from daemon") {
			t.Errorf("message %q carries the client's prefix", msg)
		}
		return msg
	}
	inspect := func(name string) swarm.Service {
		t.Helper()
		var s []swarm.Service
		if err := json.Unmarshal([]byte(ok("service", "inspect", name)), &s); err != nil || len(s) != 1 {
			t.Fatalf("service inspect %s: %v", name, err)
		}
		return s[0]
	}

	// The cluster and its one node.
	start := time.Now()
	out := ok("node", "ls")
	if !strings.Contains(out, " * ") || !strings.Contains(out, host) || !strings.Contains(out, "Leader") {
		t.Errorf("node ls:\n%s", out)
	}
	out = ok("node", "inspect", "--pretty", "self")
	if !strings.Contains(out, "Hostname:           "+host) || !strings.Contains(out, "Address:           "+addr) {
		t.Errorf("node inspect --pretty self:\n%s", out)
	}
	out = ok("cluster", "inspect", "--pretty")
	if !strings.Contains(out, "Name:") || strings.Contains(out, "SWMTKN") {
		t.Errorf("cluster inspect --pretty:\n%s", out)
	}
	out = ok("cluster", "join-token", "worker")
	if !strings.Contains(out, "worker join --token SWMTKN-1-") || !strings.Contains(out, " "+addr+"\n") {
		t.Errorf("join-token worker:\n%s", out)
	}
	if out := ok("cluster", "join-token", "manager"); !strings.Contains(out, "manager join --token SWMTKN-1-") || !strings.Contains(out, "--data-dir DIR "+addr) {
		t.Errorf("join-token manager:\n%s", out)
	}
	old := strings.TrimSpace(ok("cluster", "join-token", "-q", "worker"))
	rotated := strings.TrimSpace(ok("cluster", "join-token", "-q", "--rotate", "worker"))
	if !strings.HasPrefix(rotated, "SWMTKN-1-") || rotated == old {
		t.Errorf("rotated worker token %q, was %q", rotated, old)
	}

	// A service: create, read, update, scale, roll back, remove.
	id := strings.TrimSpace(ok("service", "create", "-d", "--name", "web", "--replicas", "2", "--env", "A=1",
		"--label", "team=x", "--constraint", "node.role==manager", "--strategy", "binpack",
		"--publish", "8080:80", "--restart-condition", "on-failure", "--update-parallelism", "2", "nginx:1.27", "-g", "daemon off;"))
	if len(id) != 25 {
		t.Fatalf("service create printed %q, want an ID", id)
	}
	out = ok("service", "ls")
	if !strings.Contains(out, id[:12]+"   web ") || !strings.Contains(out, "replicated") || !strings.Contains(out, "/2") || !strings.Contains(out, "*:8080->80/tcp") {
		t.Errorf("service ls:\n%s", out)
	}
	out = ok("service", "ps", "web")
	if orchestrated && (!strings.Contains(out, "web.1") || !strings.Contains(out, "web.2")) {
		t.Errorf("service ps web:\n%s", out)
	}
	if out := ok("service", "inspect", "--pretty", "web"); !strings.Contains(out, "Strategy:          binpack") {
		t.Errorf("service inspect --pretty:\n%s", out)
	}
	created := inspect("web")

	ok("service", "update", "-d", "--env-add", "B=2", "--label-rm", "team", "web")
	updated := inspect("web")
	if got := updated.Spec.TaskTemplate.ContainerSpec.Env; strings.Join(got, " ") != "A=1 B=2" {
		t.Errorf("env after update %q", got)
	}
	if _, ok := updated.Spec.Labels["team"]; ok || updated.Spec.Labels["io.shoal.placement.strategy"] != "binpack" {
		t.Errorf("labels after update %v", updated.Spec.Labels)
	}
	// Fields no flag named are kept.
	for name, pair := range map[string][2]any{
		"args":        {created.Spec.TaskTemplate.ContainerSpec.Args, updated.Spec.TaskTemplate.ContainerSpec.Args},
		"constraints": {created.Spec.TaskTemplate.Placement.Constraints, updated.Spec.TaskTemplate.Placement.Constraints},
		"restart":     {created.Spec.TaskTemplate.RestartPolicy, updated.Spec.TaskTemplate.RestartPolicy},
		"update":      {created.Spec.UpdateConfig, updated.Spec.UpdateConfig},
		"ports":       {created.Spec.EndpointSpec, updated.Spec.EndpointSpec},
		"mode":        {created.Spec.Mode, updated.Spec.Mode},
	} {
		a, _ := json.Marshal(pair[0])
		b, _ := json.Marshal(pair[1])
		if !bytes.Equal(a, b) {
			t.Errorf("%s changed by an update that did not name it: %s -> %s", name, a, b)
		}
	}

	if out := ok("service", "scale", "-d", "web=3"); out != "web scaled to 3\n" {
		t.Errorf("scale printed %q", out)
	}
	if n := *inspect("web").Spec.Mode.Replicated.Replicas; n != 3 {
		t.Errorf("replicas after scale %d", n)
	}
	ok("service", "rollback", "-d", "web")
	if n := *inspect("web").Spec.Mode.Replicated.Replicas; n != 2 {
		t.Errorf("replicas after rollback %d, want the previous spec's 2", n)
	}

	// Without -d the command watches; with no agent the tasks stay
	// pending, and an interrupt leaves the service as it is.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var buf bytes.Buffer
	hosts := &command.HostOptions{}
	e := command.NewEnv(&buf, &buf, hosts.Dial)
	root := newRootCommand(e, hosts)
	root.SetArgs([]string{"-H", "unix://" + sock, "service", "scale", "web=1"})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Errorf("interrupted scale: %v", err)
	}
	e.Close()
	if out := buf.String(); !strings.Contains(out, "web scaled to 1") || !strings.Contains(out, "overall progress: ") ||
		!strings.Contains(out, "Operation continuing in background.") {
		t.Errorf("interrupted scale printed:\n%s", out)
	}
	if n := *inspect("web").Spec.Mode.Replicated.Replicas; n != 1 {
		t.Errorf("replicas after the interrupted scale %d", n)
	}

	// Logs of tasks that never ran: nothing. A manager without a log
	// source says so, and the message comes through as it is.
	if out, err := execute(t, env, nil, "service", "logs", "--tail", "5", "web"); err != nil {
		msg := command.UserMessage(err, env[command.EnvHost])
		if strings.Contains(msg, "Error response from daemon") {
			t.Errorf("service logs: %q carries the client's prefix", msg)
		}
		t.Logf("service logs: %s", msg)
	} else if out != "" {
		t.Errorf("service logs: %q", out)
	}

	// Errors come from the manager, verbatim: a write at a stale version.
	hosts = &command.HostOptions{Host: "unix://" + sock}
	c, err := hosts.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stale := inspect("web")
	ok("service", "update", "-d", "--env-add", "C=3", "web")
	_, err = c.ServiceUpdate(context.Background(), stale.ID, stale.Version, stale.Spec, swarm.ServiceUpdateOptions{})
	if msg := command.UserMessage(err, hosts.Host); msg != "update out of sequence" {
		t.Errorf("stale update: %q, want the manager's message", msg)
	}
	if msg := fails("service", "create", "-d", "--name", "web", "nginx"); !strings.Contains(msg, "web") {
		t.Errorf("duplicate name: %q", msg)
	}
	fails("service", "inspect", "nope")
	fails("node", "drain", "nope")
	// An ingress port is published on every node: a second service cannot
	// take it.
	ok("service", "create", "-d", "--name", "mesh1", "-p", "published=8081,target=80,mode=ingress", "nginx")
	if msg := fails("service", "create", "-d", "--name", "mesh2", "-p", "published=8081,target=80,mode=host", "nginx"); !strings.Contains(msg, "port '8081' is already in use by service 'mesh1'") {
		t.Errorf("ingress port taken: %q", msg)
	}

	// The node: labels and availability.
	ok("node", "update", "--label-add", "zone=a", host)
	ok("node", "drain", "self")
	var nodes []swarm.Node
	if err := json.Unmarshal([]byte(ok("node", "inspect", "self")), &nodes); err != nil || len(nodes) != 1 {
		t.Fatalf("node inspect self: %v", err)
	}
	if nodes[0].Spec.Labels["zone"] != "a" || nodes[0].Spec.Availability != swarm.NodeAvailabilityDrain {
		t.Errorf("node spec %+v", nodes[0].Spec)
	}
	ok("node", "activate", "self")
	if out := ok("node", "promote", "self"); !strings.Contains(out, "is already a manager") {
		t.Errorf("promote self: %q", out)
	}

	ok("service", "rm", "web", "mesh1")
	if out := ok("service", "ls", "-q"); out != "" {
		t.Errorf("service ls after rm: %q", out)
	}

	// The manager's events since the start: the service's life, the
	// node's drain and activation.
	// (--until 0s would be whole seconds, as Docker's client makes it.)
	end := time.Now()
	since, until := fmt.Sprintf("%d.%09d", start.Unix(), start.Nanosecond()), fmt.Sprintf("%d.%09d", end.Unix(), end.Nanosecond())
	out = ok("events", "--since", since, "--until", until, "--filter", "service=web")
	for _, want := range []string{" service create " + id + " (name=web)", " service update " + id + " (", "replicas.new=3",
		" service remove " + id + " (name=web)"} {
		if !strings.Contains(out, want) {
			t.Errorf("events --filter service=web lacks %q:\n%s", want, out)
		}
	}
	out = ok("events", "--since", since, "--until", until, "--filter", "type=node", "--format", "json")
	if !strings.Contains(out, `"availability.new":"drain"`) || strings.Contains(out, `"Type":"service"`) {
		t.Errorf("events --filter type=node --format json:\n%s", out)
	}
	if msg := fails("events", "--filter", "colour=blue", "--until", "0s"); !strings.Contains(msg, `"colour": want a filter this endpoint accepts`) {
		t.Errorf("events with an unknown filter: %s", msg)
	}
}
