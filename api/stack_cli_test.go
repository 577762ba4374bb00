package api_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/allocator"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

const stackCompose = `
services:
  web:
    image: nginx:1.27
    ports:
      - "8080:80"
    networks: [front]
    secrets: [db_password]
    deploy:
      replicas: 2
  db:
    image: postgres:16
    secrets:
      - source: db_password
        target: pw
    configs:
      - source: init
        target: /docker-entrypoint-initdb.d/init.sql
networks:
  front:
secrets:
  db_password:
    file: ./pw.txt
configs:
  init:
    file: ./init.sql
`

// TestDockerCLIStack drives a stack through the stock docker CLI: deploy
// (create, then update), ls, services, ps, rm, and the errors a user
// meets. The tasks of the stack's services are not run here (no agent
// provides networks yet); the stack's objects and their names are what
// is checked.
func TestDockerCLIStack(t *testing.T) {
	e, d := startDockerCLI(t)
	e.propose(state.Op{Type: state.OpCreateNetwork, Network: allocator.IngressNetwork(model.NewID())})
	dir := t.TempDir()
	for name, data := range map[string]string{"pw.txt": secretData, "init.sql": "create table t (id int);", "compose.yml": stackCompose} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	compose := filepath.Join(dir, "compose.yml")

	out := d.ok("stack", "deploy", "-c", compose, "app")
	wantContains(t, "stack deploy", out, "Creating network app_default", "Creating network app_front",
		"Creating secret app_db_password", "Creating config app_init", "Creating service app_web", "Creating service app_db")
	var web, db *model.Service
	e.read(func(tx state.ReadTx) {
		ss, _ := tx.FindServices(state.All)
		for _, s := range ss {
			switch s.Spec.Name {
			case "app_web":
				web = s
			case "app_db":
				db = s
			}
		}
	})
	if web == nil || db == nil {
		t.Fatalf("services after deploy: web %v, db %v", web, db)
	}
	if web.Spec.Labels["com.docker.stack.namespace"] != "app" || len(web.Spec.Task.Networks) != 1 || web.Spec.Task.Networks[0].Aliases[0] != "web" {
		t.Errorf("web: labels %v networks %+v", web.Spec.Labels, web.Spec.Task.Networks)
	}
	var front *model.Network
	e.read(func(tx state.ReadTx) { front = tx.GetNetwork(web.Spec.Task.Networks[0].Target) })
	if front == nil || front.Spec.Name != "app_front" {
		t.Errorf("web's network (names resolved to IDs) is %+v, want app_front", front)
	}
	if len(db.Spec.Task.Container.Secrets) != 1 || db.Spec.Task.Container.Secrets[0].File.Name != "pw" ||
		len(db.Spec.Task.Container.Configs) != 1 {
		t.Errorf("db secrets %+v configs %+v", db.Spec.Task.Container.Secrets, db.Spec.Task.Container.Configs)
	}

	out = d.ok("stack", "ls")
	wantContains(t, "stack ls", out, "NAME", "SERVICES", "app", "2")
	out = d.ok("stack", "services", "app")
	wantContains(t, "stack services", out, "app_web", "app_db", "nginx:1.27", "*:8080->80/tcp")
	// Tasks exist (they wait for their networks, or are pending).
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = d.ok("stack", "ps", "app")
		if strings.Contains(out, "app_web.1") && strings.Contains(out, "app_db.1") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantContains(t, "stack ps", out, "app_web.1", "app_web.2", "app_db.1")

	// A redeploy updates in place.
	if err := os.WriteFile(compose, []byte(strings.Replace(stackCompose, "replicas: 2", "replicas: 3", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out = d.ok("stack", "deploy", "-c", compose, "app")
	wantContains(t, "stack redeploy", out, "Updating service app_web", "Updating service app_db")
	if s := e.service(web.ID); s.Spec.Replicas() != 3 {
		t.Errorf("web replicas after redeploy: %d", s.Spec.Replicas())
	}

	// Errors.
	// The CLI says so on stderr and exits 0, as against Docker.
	_, errOut, err := d.run("stack", "services", "nope")
	if err != nil || !strings.Contains(errOut, "Nothing found in stack: nope") {
		t.Errorf("services of an unknown stack: %v, stderr %q", err, errOut)
	}
	errOut = d.fails("stack", "deploy", "-c", filepath.Join(dir, "missing.yml"), "app")
	wantContains(t, "deploy of a missing file", errOut, "missing.yml")

	out = d.ok("stack", "rm", "app")
	wantContains(t, "stack rm", out, "Removing service app_web", "Removing service app_db", "Removing secret app_db_password",
		"Removing config app_init", "Removing network app_front", "Removing network app_default")
	e.read(func(tx state.ReadTx) {
		ss, _ := tx.FindServices(state.All)
		ns, _ := tx.FindNetworks(state.All)
		sec, _ := tx.FindSecrets(state.All)
		if len(ss) != 0 || len(ns) != 1 || len(sec) != 0 {
			t.Errorf("after stack rm: %d services, %d networks (want ingress only), %d secrets", len(ss), len(ns), len(sec))
		}
	})
	out = d.ok("stack", "ls")
	if strings.Contains(out, "app") {
		t.Errorf("stack ls after rm:\n%s", out)
	}
	for _, where := range []string{out} {
		if strings.Contains(where, secretData) {
			t.Errorf("secret data printed")
		}
	}
}
