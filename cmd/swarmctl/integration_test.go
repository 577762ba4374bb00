package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// startManager builds cmd/manager, runs `manager init` in a temporary data
// dir without an agent, and returns its API socket and cluster address
// once the API answers.
func startManager(t *testing.T) (sock, addr string) {
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
	var logs bytes.Buffer
	cmd := exec.Command(bin, "init", "--data-dir", data, "--listen-addr", addr, "--advertise-addr", addr, "--no-agent", "--hostname", "itest-manager")
	cmd.Stdout, cmd.Stderr = &logs, &logs
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
				c.Close()
				if err == nil && info.Swarm.NodeID != "" && info.Swarm.ControlAvailable {
					return sock, addr
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
	sock, addr := startManager(t)
	driveManager(t, sock, addr, "itest-manager", true)
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
	if msg := fails("service", "create", "-d", "--name", "ingress", "-p", "published=80,target=80,mode=ingress", "nginx"); !strings.Contains(msg, "host") {
		t.Errorf("ingress port: %q", msg)
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

	ok("service", "rm", "web")
	if out := ok("service", "ls", "-q"); out != "" {
		t.Errorf("service ls after rm: %q", out)
	}
}
