package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// secretData is the data of the test's secrets: no answer, no CLI output
// and no log line may hold it, in clear or in base64.
const (
	secretData      = "s3cr3t-Payload-7f1c9e"
	otherSecretData = "an0ther-S3cret-d41d8c"
)

// TestDockerCLINetworksSecretsConfigs drives networks, secrets and
// configs with the stock docker CLI: create, list with filters, inspect,
// remove, the errors users meet (duplicate names, objects in use, unknown
// networks, bad names and sizes), and a service that uses all three.
// Then it checks that the secrets' data appears in nothing the CLI
// printed, nothing the API answered, and no log line of the server.
func TestDockerCLINetworksSecretsConfigs(t *testing.T) {
	e, d := startDockerCLI(t)
	dir := t.TempDir()
	file := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Networks.
	appID := strings.TrimSpace(d.ok("network", "create", "-d", "overlay", "--attachable", "--label", "team=a", "appnet"))
	backID := strings.TrimSpace(d.ok("network", "create", "--driver", "overlay", "--internal", "--subnet", "10.20.0.0/24",
		"--gateway", "10.20.0.1", "--ip-range", "10.20.0.128/25", "backnet"))
	var appnet *model.Network
	e.read(func(tx state.ReadTx) { appnet = tx.GetNetwork(appID) })
	if appnet == nil || appnet.Spec.Name != "appnet" || !appnet.Spec.Attachable || appnet.Spec.Labels["team"] != "a" || appnet.Spec.Driver != "overlay" {
		t.Fatalf("network create printed %q; stored %+v", appID, appnet)
	}
	errOut := d.fails("network", "create", "-d", "overlay", "APPNET")
	wantContains(t, "duplicate network name", errOut, "network with name APPNET already exists")
	errOut = d.fails("network", "create", "plain")
	wantContains(t, "bridge network", errOut, `Driver: "bridge": only overlay networks are supported`)
	// The CLI checks a gateway against the subnets itself; the server
	// checks again.
	errOut = d.fails("network", "create", "-d", "overlay", "--subnet", "10.30.0.0/24", "--gateway", "10.40.0.1", "badgw")
	wantContains(t, "gateway outside the subnet", errOut, "no matching subnet for gateway 10.40.0.1")
	r := e.do("POST", "/networks/create", network.CreateRequest{Name: "badgw", CreateOptions: network.CreateOptions{Driver: "overlay",
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: "10.30.0.0/24", Gateway: "10.40.0.1"}}}}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.message(), "IPAM.Config: ") || !strings.Contains(r.message(), "10.40.0.1") {
		t.Errorf("gateway outside the subnet: %d %s", r.status, r.body)
	}

	out := d.ok("network", "ls")
	wantContains(t, "network ls", out, appID[:12], "appnet", "backnet", "overlay", "swarm")
	for _, tc := range []struct {
		filter    string
		want, not []string
	}{
		{"name=app", []string{"appnet"}, []string{"backnet"}},
		{"id=" + backID[:5], []string{"backnet"}, []string{"appnet"}},
		{"label=team=a", []string{"appnet"}, []string{"backnet"}},
		{"driver=overlay", []string{"appnet", "backnet"}, nil},
		{"scope=swarm", []string{"appnet", "backnet"}, nil},
		{"scope=local", nil, []string{"appnet", "backnet"}},
		{"type=custom", []string{"appnet", "backnet"}, nil},
		{"type=builtin", nil, []string{"appnet"}},
		{"dangling=true", []string{"appnet", "backnet"}, nil},
	} {
		out := d.ok("network", "ls", "--format", "{{.Name}}", "--filter", tc.filter)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("network ls --filter %s lacks %s: %q", tc.filter, w, out)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out, n) {
				t.Errorf("network ls --filter %s shows %s: %q", tc.filter, n, out)
			}
		}
	}
	errOut = d.fails("network", "ls", "--filter", "type=weird")
	wantContains(t, "bad type filter", errOut, "invalid filter: 'type'='weird'")

	var nets []network.Inspect
	if err := json.Unmarshal([]byte(d.ok("network", "inspect", "backnet")), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("network inspect: %v", err)
	}
	if n := nets[0]; n.ID != backID || n.Scope != "swarm" || n.Driver != "overlay" || !n.Internal ||
		len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet != "10.20.0.0/24" || n.IPAM.Config[0].Gateway != "10.20.0.1" || n.IPAM.Config[0].IPRange != "10.20.0.128/25" {
		t.Errorf("network inspect: %+v", n)
	}
	// By ID prefix, as Docker resolves it.
	if got := strings.TrimSpace(d.ok("network", "inspect", "--format", "{{.Name}}", appID[:6])); got != "appnet" {
		t.Errorf("network inspect by prefix: %q", got)
	}

	// Secrets and configs: from a file and from stdin.
	pwID := strings.TrimSpace(d.ok("secret", "create", "--label", "env=prod", "db_password", file("pw", secretData)))
	d.stdin = otherSecretData
	keyID := strings.TrimSpace(d.ok("secret", "create", "tls.key", "-"))
	var pw, key *model.Secret
	e.read(func(tx state.ReadTx) { pw, key = tx.GetSecret(pwID), tx.GetSecret(keyID) })
	if pw == nil || string(pw.Spec.Data) != secretData || pw.Spec.Labels["env"] != "prod" || key == nil || string(key.Spec.Data) != otherSecretData {
		t.Fatalf("secrets not stored as created: %v %v", pw != nil, key != nil)
	}
	errOut = d.fails("secret", "create", "DB_PASSWORD", file("pw2", "x"))
	wantContains(t, "duplicate secret name", errOut, "secret DB_PASSWORD already exists")
	errOut = d.fails("secret", "create", "bad/name", file("pw3", "x"))
	wantContains(t, "bad secret name", errOut, "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]")
	errOut = d.fails("secret", "create", "big", file("big", strings.Repeat("x", 500*1024)))
	wantContains(t, "secret too big", errOut, "secret data must be larger than 0 and less than 512000 bytes")

	out = d.ok("secret", "ls")
	wantContains(t, "secret ls", out, pwID, "db_password", "tls.key")
	if out := d.ok("secret", "ls", "--format", "{{.Name}}", "--filter", "label=env=prod"); strings.TrimSpace(out) != "db_password" {
		t.Errorf("secret ls --filter label: %q", out)
	}
	var secrets []swarm.Secret
	if err := json.Unmarshal([]byte(d.ok("secret", "inspect", "db_password")), &secrets); err != nil || len(secrets) != 1 ||
		secrets[0].ID != pwID || secrets[0].Spec.Data != nil {
		t.Errorf("secret inspect: %v %+v", err, secrets)
	}
	wantContains(t, "secret inspect --pretty", d.ok("secret", "inspect", "--pretty", "tls.key"), "Name:", "tls.key")

	cfgID := strings.TrimSpace(d.ok("config", "create", "site.conf", file("site", "server { listen 80; }")))
	errOut = d.fails("config", "create", "site.conf", file("site2", "x"))
	wantContains(t, "duplicate config name", errOut, "config site.conf already exists")
	var configs []swarm.Config
	if err := json.Unmarshal([]byte(d.ok("config", "inspect", "site.conf")), &configs); err != nil || len(configs) != 1 ||
		configs[0].ID != cfgID || string(configs[0].Spec.Data) != "server { listen 80; }" {
		t.Errorf("config inspect: %v %+v", err, configs)
	}
	wantContains(t, "config inspect --pretty", d.ok("config", "inspect", "--pretty", "site.conf"), "server { listen 80; }")
	wantContains(t, "config ls", d.ok("config", "ls"), cfgID, "site.conf")

	// Labels-only updates, as `docker stack deploy` sends them.
	pwNow := getSecret(e, pwID)
	pwNow.Spec.Labels["rotated"] = "no"
	e.must(http.StatusOK, "POST", "/v1.41/secrets/"+pwID+"/update?version="+itoa(pwNow.Version.Index), pwNow.Spec, nil)
	pwNow = getSecret(e, pwID)
	pwNow.Spec.Data = []byte("new data")
	r = e.do("POST", "/secrets/"+pwID+"/update?version="+itoa(pwNow.Version.Index), pwNow.Spec)
	if r.status != http.StatusBadRequest || r.message() != "only updates to Labels are allowed" {
		t.Errorf("secret data update: %d %s", r.status, r.body)
	}

	// A service using all three, with an ingress port (the CLI's
	// default mode).
	svcID := strings.TrimSpace(d.ok("service", "create", "-d", "--name", "app", "--secret", "db_password",
		"--secret", "source=tls.key,target=server.key,mode=0400", "--config", "src=site.conf,target=/etc/nginx/conf.d/site.conf",
		"--network", "appnet", "--network", "name="+backID[:8]+",alias=api", "-p", "8080:80", "nginx:1.27"))
	svc := e.service("app")
	if svc.ID != svcID {
		t.Fatalf("service create printed %q", svcID)
	}
	task := svc.Spec.Task
	// The CLI sorts the attachments by target.
	attached := map[string][]string{}
	for _, a := range task.Networks {
		attached[a.Target] = a.Aliases
	}
	if _, ok := attached[appID]; len(attached) != 2 || !ok || strings.Join(attached[backID], ",") != "api" {
		t.Errorf("networks not resolved to IDs: %+v", task.Networks)
	}
	// The CLI collects the references in a map: their order is random.
	refs := map[string]*model.SecretReference{}
	for i := range task.Container.Secrets {
		refs[task.Container.Secrets[i].SecretID] = &task.Container.Secrets[i]
	}
	if s := task.Container.Secrets; len(s) != 2 || refs[pwID] == nil || refs[pwID].File.Name != "db_password" ||
		refs[keyID] == nil || refs[keyID].File.Name != "server.key" || refs[keyID].File.Mode != 0o400 {
		t.Errorf("secret references: %+v", s)
	}
	if c := task.Container.Configs; len(c) != 1 || c[0].ConfigID != cfgID || c[0].File.Name != "/etc/nginx/conf.d/site.conf" {
		t.Errorf("config references: %+v", c)
	}
	if p := svc.Spec.Endpoint.Ports; len(p) != 1 || p[0].PublishMode != model.PublishModeIngress || p[0].PublishedPort != 8080 {
		t.Errorf("ports: %+v", p)
	}
	var inspected []swarm.Service
	if err := json.Unmarshal([]byte(d.ok("service", "inspect", "app")), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("service inspect: %v", err)
	}
	if ep := inspected[0].Endpoint; ep.Spec.Mode != swarm.ResolutionModeVIP || len(ep.Ports) != 1 || ep.Ports[0].PublishMode != swarm.PortConfigPublishModeIngress {
		t.Errorf("service endpoint: %+v", ep)
	}
	wantContains(t, "service inspect --pretty", d.ok("service", "inspect", "--pretty", "app"), "db_password", "site.conf", "appnet", "8080")

	errOut = d.fails("service", "create", "-d", "--name", "lost", "--network", "nope", "nginx:1.27")
	wantContains(t, "unknown network", errOut, "network nope not found")
	errOut = d.fails("service", "create", "-d", "--name", "clash", "-p", "8080:81", "nginx:1.27")
	wantContains(t, "ingress port taken", errOut, "port '8080' is already in use by service 'app' ("+svcID+") as an ingress port")
	errOut = d.fails("service", "update", "-d", "--network-add", "nope", "app")
	wantContains(t, "unknown network on update", errOut, "network nope not found")

	// In use: refused with the user of the object.
	errOut = d.fails("network", "rm", "appnet")
	wantContains(t, "network in use", errOut, "network appnet is in use by service app")
	errOut = d.fails("secret", "rm", "db_password")
	wantContains(t, "secret in use", errOut, "secret 'db_password' is in use by the following service: app")
	errOut = d.fails("config", "rm", "site.conf")
	wantContains(t, "config in use", errOut, "config 'site.conf' is in use by the following service: app")

	// An update that drops the secret and a network frees them.
	d.ok("service", "update", "-d", "--secret-rm", "db_password", "--network-rm", "backnet", "app")
	d.ok("secret", "rm", "db_password")
	d.ok("network", "rm", "backnet")

	// Every answer, as the API gives it, holds no secret data.
	var answers strings.Builder
	for _, path := range []string{"/secrets", "/secrets/" + keyID, "/secrets/tls.key", "/services", "/services/app", "/tasks", "/configs"} {
		answers.Write(e.must(http.StatusOK, "GET", path, nil, nil).body)
	}

	// Once the service is gone, everything goes.
	d.ok("service", "rm", "app")
	d.ok("network", "rm", "appnet")
	d.ok("secret", "rm", "tls.key")
	d.ok("config", "rm", "site.conf")
	for _, kind := range []string{"network", "secret", "config"} {
		if out := d.ok(kind, "ls", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("%s ls after rm: %q", kind, out)
		}
	}
	errOut = d.fails("secret", "inspect", "tls.key")
	wantContains(t, "removed secret", errOut, "secret tls.key not found")

	logs := e.logs.String()
	if !strings.Contains(logs, "request refused") {
		t.Fatal("the server logged no refusal: the log check below would check nothing")
	}
	for _, data := range []string{secretData, otherSecretData} {
		for where, text := range map[string]string{"the CLI's output": d.printed.String(), "an API answer": answers.String(), "the server's logs": logs} {
			if strings.Contains(text, data) || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(data))) {
				t.Errorf("secret data in %s", where)
			}
		}
	}
}

func getSecret(e *env, ref string) swarm.Secret {
	e.t.Helper()
	var s swarm.Secret
	e.must(http.StatusOK, "GET", "/secrets/"+ref, nil, &s)
	return s
}

// TestDataSizeLimits posts secrets and configs at and over Docker's size
// limits: the largest config fits in a request body.
func TestDataSizeLimits(t *testing.T) {
	e := newEnv(t, 1)
	for _, tc := range []struct {
		path   string
		size   int
		status int
		msg    string
	}{
		{"/secrets/create", 500*1024 - 1, http.StatusCreated, ""},
		{"/secrets/create", 500 * 1024, http.StatusBadRequest, "secret data must be larger than 0 and less than 512000 bytes"},
		{"/secrets/create", 0, http.StatusBadRequest, "secret data must be larger than 0"},
		{"/configs/create", 1000*1024 - 1, http.StatusCreated, ""},
		{"/configs/create", 1000 * 1024, http.StatusBadRequest, "config data must be larger than 0 and less than 1024000 bytes"},
	} {
		name := strings.Trim(strings.ReplaceAll(tc.path, "/", "-"), "-") + "-" + itoa(uint64(tc.size))
		body := swarm.SecretSpec{Annotations: swarm.Annotations{Name: name}, Data: []byte(strings.Repeat("x", tc.size))}
		r := e.do("POST", tc.path, body)
		if r.status != tc.status || !strings.Contains(r.message(), tc.msg) {
			t.Errorf("%s of %d bytes: %d %s", tc.path, tc.size, r.status, r.message())
		}
	}
}

// TestDockerStackDeploy deploys a compose file with the stock CLI: the
// stack's network, secret and config are created with the namespace
// label, the services attach to them by ID, a second deploy updates in
// place, and `docker stack rm` removes everything, the network last.
func TestDockerStackDeploy(t *testing.T) {
	e, d := startDockerCLI(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("pw.txt", secretData)
	write("site.conf", "server { listen 80; }")
	compose := func(replicas int) string {
		return write("compose.yml", `services:
  web:
    image: nginx:1.27
    deploy:
      replicas: `+itoa(uint64(replicas))+`
    ports:
      - "8088:80"
    networks: [back]
    secrets: [db_pw]
    configs:
      - source: site
        target: /etc/nginx/conf.d/site.conf
  worker:
    image: nginx:1.27
    networks: [back]
networks:
  back: {}
secrets:
  db_pw:
    file: ./pw.txt
configs:
  site:
    file: ./site.conf
`)
	}
	out := d.ok("stack", "deploy", "-c", compose(2), "app")
	wantContains(t, "stack deploy", out, "Creating network app_back", "Creating secret app_db_pw", "Creating config app_site", "Creating service app_web", "Creating service app_worker")

	var net *model.Network
	var web *model.Service
	e.read(func(tx state.ReadTx) {
		nets, _ := tx.FindNetworks(state.ByName("app_back"))
		if len(nets) == 1 {
			net = nets[0]
		}
		ss, _ := tx.FindServices(state.ByName("app_web"))
		if len(ss) == 1 {
			web = ss[0]
		}
	})
	if net == nil || net.Spec.Labels["com.docker.stack.namespace"] != "app" || net.Spec.Driver != "overlay" {
		t.Fatalf("stack network: %+v", net)
	}
	if web == nil || len(web.Spec.Task.Networks) != 1 || web.Spec.Task.Networks[0].Target != net.ID ||
		len(web.Spec.Task.Container.Secrets) != 1 || len(web.Spec.Task.Container.Configs) != 1 ||
		web.Spec.Endpoint == nil || web.Spec.Endpoint.Ports[0].PublishMode != model.PublishModeIngress {
		t.Fatalf("stack service: %+v", web)
	}
	wantContains(t, "stack ls", d.ok("stack", "ls"), "app", "2")
	wantContains(t, "stack services", d.ok("stack", "services", "app"), "app_web", "app_worker", "*:8088->80/tcp")

	// A second deploy updates the service and keeps the objects.
	out = d.ok("stack", "deploy", "-c", compose(3), "app")
	wantContains(t, "stack deploy again", out, "Updating service app_web")
	if s := e.service("app_web"); s.Spec.Replicas() != 3 {
		t.Errorf("replicas after the second deploy: %d", s.Spec.Replicas())
	}

	out = d.ok("stack", "rm", "app")
	wantContains(t, "stack rm", out, "Removing service app_web", "Removing secret app_db_pw", "Removing config app_site", "Removing network app_back")
	e.read(func(tx state.ReadTx) {
		nets, _ := tx.FindNetworks(state.All)
		secs, _ := tx.FindSecrets(state.All)
		cfgs, _ := tx.FindConfigs(state.All)
		svcs, _ := tx.FindServices(state.All)
		if len(nets)+len(secs)+len(cfgs)+len(svcs) != 0 {
			t.Errorf("after stack rm: %d networks, %d secrets, %d configs, %d services", len(nets), len(secs), len(cfgs), len(svcs))
		}
	})
	if strings.Contains(d.printed.String(), secretData) || strings.Contains(e.logs.String(), secretData) {
		t.Error("the secret's data was printed or logged")
	}
}
