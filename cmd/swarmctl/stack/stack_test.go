package stack

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

const composeFile = `
services:
  web:
    image: nginx:1.27
    ports:
      - "8080:80"
    networks: [front, back]
    secrets:
      - db_password
    configs:
      - source: site
        target: /etc/nginx/conf.d/site.conf
    environment:
      MODE: prod
    deploy:
      replicas: 3
      labels:
        tier: web
  db:
    image: postgres:16
    secrets:
      - source: db_password
        target: pw
        mode: 0400
    deploy:
      mode: global
      endpoint_mode: dnsrr
networks:
  front:
  back:
    internal: true
  outside:
    external: true
secrets:
  db_password:
    file: ./pw.txt
configs:
  site:
    content: "server {}"
`

func writeCompose(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "compose.yml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, ns, content string) *Stack {
	t.Helper()
	p, err := Load(context.Background(), ns, []string{writeCompose(t, content)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Convert(p, ns)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConvertNamesLabelsNetworksAndReferencesAsDockerDoes(t *testing.T) {
	s := load(t, "app", composeFile)
	if got := sortedKeys(s.Networks); !slices.Equal(got, []string{"app_back", "app_default", "app_front"}) {
		t.Fatalf("networks %v, want app_back app_default app_front (db uses the default)", got)
	}
	if n := s.Networks["app_back"]; n.Driver != "overlay" || !n.Internal || n.Labels[LabelNamespace] != "app" {
		t.Fatalf("app_back %+v", n)
	}
	if len(s.External) != 0 {
		t.Fatalf("external networks %v: no service uses outside", s.External)
	}
	web, ok := s.Services["app_web"]
	if !ok {
		t.Fatalf("services %v", sortedKeys(s.Services))
	}
	if web.Labels[LabelNamespace] != "app" || web.Labels["tier"] != "web" || web.TaskTemplate.ContainerSpec.Labels[LabelNamespace] != "app" {
		t.Fatalf("web labels %v / %v", web.Labels, web.TaskTemplate.ContainerSpec.Labels)
	}
	if *web.Mode.Replicated.Replicas != 3 {
		t.Fatalf("web replicas %d", *web.Mode.Replicated.Replicas)
	}
	var nets []string
	for _, n := range web.TaskTemplate.Networks {
		nets = append(nets, n.Target+":"+strings.Join(n.Aliases, ","))
	}
	if !slices.Equal(nets, []string{"app_back:web", "app_front:web"}) {
		t.Fatalf("web networks %v", nets)
	}
	if p := web.EndpointSpec.Ports; len(p) != 1 || p[0].TargetPort != 80 || p[0].PublishedPort != 8080 || p[0].PublishMode != swarm.PortConfigPublishModeIngress {
		t.Fatalf("web ports %+v", p)
	}
	sec := web.TaskTemplate.ContainerSpec.Secrets
	if len(sec) != 1 || sec[0].SecretName != "app_db_password" || sec[0].File.Name != "db_password" || sec[0].File.Mode != 0o444 || sec[0].File.UID != "0" {
		t.Fatalf("web secret %+v %+v", sec[0], sec[0].File)
	}
	cfg := web.TaskTemplate.ContainerSpec.Configs
	if len(cfg) != 1 || cfg[0].ConfigName != "app_site" || cfg[0].File.Name != "/etc/nginx/conf.d/site.conf" {
		t.Fatalf("web config %+v", cfg)
	}
	if env := web.TaskTemplate.ContainerSpec.Env; !slices.Equal(env, []string{"MODE=prod"}) {
		t.Fatalf("env %v", env)
	}
	db := s.Services["app_db"]
	if db.Mode.Global == nil || db.EndpointSpec.Mode != swarm.ResolutionModeDNSRR {
		t.Fatalf("db mode %+v endpoint %+v", db.Mode, db.EndpointSpec)
	}
	if n := db.TaskTemplate.Networks; len(n) != 1 || n[0].Target != "app_default" || n[0].Aliases[0] != "db" {
		t.Fatalf("db networks %+v", n)
	}
	if f := db.TaskTemplate.ContainerSpec.Secrets[0].File; f.Name != "pw" || f.Mode != 0o400 {
		t.Fatalf("db secret file %+v", f)
	}
	if len(s.Secrets) != 1 || s.Secrets[0].Name != "app_db_password" || string(s.Secrets[0].Data) != "s3cret" || s.Secrets[0].Labels[LabelNamespace] != "app" {
		t.Fatalf("secrets %+v", s.Secrets)
	}
	if len(s.Configs) != 1 || string(s.Configs[0].Data) != "server {}" {
		t.Fatalf("configs %+v", s.Configs)
	}
}

func TestConvertRefusals(t *testing.T) {
	for _, tc := range []struct{ name, compose, want string }{
		{"build only", "services:\n  a:\n    build: .\n", "no image"},
		{"undeclared secret", "services:\n  a:\n    image: x\n    secrets: [nope]\n", "nope"},
		{"job mode", "services:\n  a:\n    image: x\n    deploy:\n      mode: global-job\n", "deploy mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Load(context.Background(), "app", []string{writeCompose(t, tc.compose)})
			if err == nil {
				_, err = Convert(p, "app")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestDeployCreatesThenUpdatesAndRmRemovesNetworksLast(t *testing.T) {
	f := newFakeManager()
	ctx := context.Background()
	var out bytes.Buffer
	if err := Deploy(ctx, f, load(t, "app", composeFile), &out); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"network create app_back", "network create app_default", "network create app_front",
		"secret create app_db_password", "config create app_site",
		"service create app_db", "service create app_web",
	}
	if !slices.Equal(f.writes, want) {
		t.Fatalf("writes %v\nwant %v", f.writes, want)
	}
	// Secret IDs were filled in.
	for _, s := range f.services {
		for _, r := range s.Spec.TaskTemplate.ContainerSpec.Secrets {
			if f.secrets[r.SecretID] == nil || f.secrets[r.SecretID].Spec.Name != r.SecretName {
				t.Fatalf("service %s secret reference %+v", s.Spec.Name, r)
			}
		}
	}
	t.Logf("deploy:\n%s", out.String())

	// A second deploy with a changed file updates in place.
	f.writes = nil
	changed := strings.Replace(composeFile, "replicas: 3", "replicas: 5", 1)
	if err := Deploy(ctx, f, load(t, "app", changed), &out); err != nil {
		t.Fatal(err)
	}
	want = []string{"secret update app_db_password", "config update app_site", "service update app_db", "service update app_web"}
	if !slices.Equal(f.writes, want) {
		t.Fatalf("redeploy writes %v\nwant %v", f.writes, want)
	}
	for _, s := range f.services {
		if s.Spec.Name == "app_web" && *s.Spec.Mode.Replicated.Replicas != 5 {
			t.Fatalf("web replicas after update %d", *s.Spec.Mode.Replicated.Replicas)
		}
	}

	// Another stack is left alone by rm.
	if err := Deploy(ctx, f, load(t, "other", "services:\n  x:\n    image: busybox\n"), &out); err != nil {
		t.Fatal(err)
	}
	f.writes = nil
	if err := Remove(ctx, f, "app", &out); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	last := map[string]int{}
	for i, w := range f.writes {
		k := strings.Fields(w)[0]
		kinds[k]++
		last[k] = i
	}
	if kinds["service"] != 2 || kinds["network"] != 3 || kinds["secret"] != 1 || kinds["config"] != 1 {
		t.Fatalf("rm writes %v", f.writes)
	}
	if last["network"] != len(f.writes)-1 || slices.Index(f.writes, "network rm app_back") < last["service"] {
		t.Fatalf("networks not removed last: %v", f.writes)
	}
	if len(f.services) != 1 || len(f.networks) != 1 {
		t.Fatalf("left: %d services, %d networks (want the other stack's)", len(f.services), len(f.networks))
	}
	if err := Remove(ctx, f, "app", &out); err == nil || !strings.Contains(err.Error(), "nothing found in stack: app") {
		t.Fatalf("rm of a removed stack: %v", err)
	}
}

func TestDeployRefusesAMissingExternalNetwork(t *testing.T) {
	f := newFakeManager()
	s := load(t, "app", "services:\n  a:\n    image: x\n    networks: [ext]\nnetworks:\n  ext:\n    external: true\n")
	err := Deploy(context.Background(), f, s, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `network "ext" is declared as external`) {
		t.Fatalf("err = %v", err)
	}
	if len(f.writes) != 0 {
		t.Fatalf("writes %v", f.writes)
	}
}
