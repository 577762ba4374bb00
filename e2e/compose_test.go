package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/internal/testimage"
)

// nodeImageTag is the node image the compose scenario builds. Builds are
// skipped when the binaries have not changed (deploy/build-images.sh), and
// the cluster is started from the image's ID, so another build retagging
// it meanwhile changes nothing for this run.
const nodeImageTag = "shoal/node:e2e"

const composeProjectLabel = "com.docker.compose.project"

// repoRoot is the module root, from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), ".."))
}

// composeCluster is the scenario's cluster as containers, started and
// driven with deploy/compose.sh (docker-compose, deploy/compose/).
type composeCluster struct {
	t          *testing.T
	docker     *client.Client
	project    string
	env        []string
	clients    map[string]*client.Client
	containers map[string]string // node name -> container ID
	nodeIDs    []string          // as m1 listed them after `up`
}

// composeSh runs deploy/compose.sh with the cluster's environment and logs
// what it printed.
func (cc *composeCluster) composeSh(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(repoRoot(), "deploy", "compose.sh"), args...)
	cmd.Env = append(os.Environ(), cc.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	text := strings.TrimSpace(out.String() + "\n" + errb.String())
	cc.t.Logf("compose.sh %s (%v): %v\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err, text)
	return strings.TrimSpace(out.String()), err
}

func (cc *composeCluster) mustComposeSh(args ...string) string {
	cc.t.Helper()
	out, err := cc.composeSh(args...)
	if err != nil {
		cc.t.Fatalf("compose.sh %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// composeRequirements skips the test, saying why, where the compose
// cluster cannot run.
func composeRequirements(t *testing.T) {
	if os.Getenv("SHOAL_E2E_COMPOSE") == "0" {
		t.Skip("SHOAL_E2E_COMPOSE=0")
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		if exec.Command("docker", "compose", "version").Run() != nil {
			t.Skip("neither docker-compose nor the compose plugin is installed")
		}
	}
	// The test reaches the managers' API sockets inside their volumes,
	// under the engine's root dir.
	if os.Geteuid() != 0 {
		t.Skip("needs root, to reach the managers' API sockets in their volumes (/var/lib/docker/volumes)")
	}
}

// buildNodeImage builds the node image with deploy/build-images.sh and
// returns its ID.
func buildNodeImage(t *testing.T, docker *client.Client) string {
	cmd := exec.Command(filepath.Join(repoRoot(), "deploy", "build-images.sh"), "--node", nodeImageTag)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deploy/build-images.sh --node: %v\n%s", err, out)
	}
	img, err := docker.ImageInspect(context.Background(), nodeImageTag)
	if err != nil {
		t.Fatal(err)
	}
	return img.ID
}

// freeSubnet picks a 172.31.X.0/24 that no Docker network and no local
// interface uses, and returns "172.31.X".
func freeSubnet(t *testing.T, docker *client.Client) string {
	ctx := context.Background()
	var used []*net.IPNet
	nets, err := docker.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if _, sn, err := net.ParseCIDR(c.Subnet); err == nil {
				used = append(used, sn)
			}
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				used = append(used, ipn)
			}
		}
	}
	for _, x := range rand.Perm(190) {
		prefix := fmt.Sprintf("172.31.%d", 64+x)
		_, cand, _ := net.ParseCIDR(prefix + ".0/24")
		free := true
		for _, u := range used {
			if u.Contains(cand.IP) || cand.Contains(u.IP) {
				free = false
				break
			}
		}
		if free {
			return prefix
		}
	}
	t.Fatal("no free 172.31.X.0/24 for the compose network")
	return ""
}

// startComposeCluster runs `deploy/compose.sh up` in a project of its own.
// Whatever the test's outcome, `compose.sh down` runs at its end, then
// anything of the project or its nodes still there is removed.
func startComposeCluster(t *testing.T, docker *client.Client, imageID string) *composeCluster {
	cc := &composeCluster{
		t: t, docker: docker,
		project: "shoale2e" + randomSuffix(),
		clients: map[string]*client.Client{}, containers: map[string]string{},
	}
	t.Cleanup(cc.cleanup)
	for attempt := 1; ; attempt++ {
		cc.env = []string{
			"SHOAL_PROJECT=" + cc.project,
			"SHOAL_NET=" + freeSubnet(t, docker),
			"SHOAL_IMAGE=" + imageID,
			"SHOAL_SKIP_BUILD=1",
		}
		out, err := cc.composeSh("up")
		if err == nil {
			break
		}
		// Another test may have taken the subnet since it was picked.
		if attempt < 3 && strings.Contains(out, "overlaps") {
			cc.composeSh("down")
			continue
		}
		t.Fatalf("compose.sh up: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := cc.Client("m1").NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		t.Fatalf("node ls after compose.sh up: %v", err)
	}
	for _, n := range nodes {
		cc.nodeIDs = append(cc.nodeIDs, n.ID)
	}
	return cc
}

func (cc *composeCluster) cleanup() {
	t := cc.t
	ctx := context.Background()
	// compose.sh down reads the node IDs from the volumes, so it removes the
	// task containers even when the nodes never answered the API.
	if _, err := cc.composeSh("down"); err != nil {
		t.Errorf("cleanup: compose.sh down: %v", err)
	}
	removeNodeContainers(t, cc.docker, cc.nodeIDs)
	cs, _ := cc.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: cc.projectFilter()})
	for _, c := range cs {
		_ = cc.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
	nets, _ := cc.docker.NetworkList(ctx, network.ListOptions{Filters: cc.projectFilter()})
	for _, n := range nets {
		_ = cc.docker.NetworkRemove(ctx, n.ID)
	}
	vols, _ := cc.docker.VolumeList(ctx, volume.ListOptions{Filters: cc.projectFilter()})
	for _, v := range vols.Volumes {
		_ = cc.docker.VolumeRemove(ctx, v.Name, true)
	}
}

func (cc *composeCluster) projectFilter() filters.Args {
	return filters.NewArgs(filters.Arg("label", composeProjectLabel+"="+cc.project))
}

func (cc *composeCluster) Kind() string { return "containers" }

func (cc *composeCluster) Client(name string) *client.Client {
	if cl, ok := cc.clients[name]; ok {
		return cl
	}
	sock := cc.mustComposeSh("socket", name)
	cl, err := client.NewClientWithOpts(client.WithHost("unix://"+sock), client.WithAPIVersionNegotiation())
	if err != nil {
		cc.t.Fatal(err)
	}
	cc.t.Cleanup(func() { cl.Close() })
	cc.clients[name] = cl
	return cl
}

// container returns the ID of a node's container.
func (cc *composeCluster) container(t *testing.T, name string) string {
	t.Helper()
	if id, ok := cc.containers[name]; ok {
		return id
	}
	cs, err := cc.docker.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", composeProjectLabel+"="+cc.project),
		filters.Arg("label", "com.docker.compose.service="+name))})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("%d containers for node %s", len(cs), name)
	}
	cc.containers[name] = cs[0].ID
	return cs[0].ID
}

// Kill is `compose.sh kill NAME` (docker kill --signal KILL) through the
// API: the kill's time is then known to the millisecond, without
// docker-compose's start-up time.
func (cc *composeCluster) Kill(t *testing.T, name string) {
	t.Helper()
	if err := cc.docker.ContainerKill(context.Background(), cc.container(t, name), "KILL"); err != nil {
		t.Fatalf("killing %s: %v", name, err)
	}
}

// Start is `compose.sh start NAME` through the API.
func (cc *composeCluster) Start(t *testing.T, name string) {
	t.Helper()
	if err := cc.docker.ContainerStart(context.Background(), cc.container(t, name), container.StartOptions{}); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
}

func (cc *composeCluster) Teardown(t *testing.T) { cc.mustComposeSh("down") }

// Leftovers lists the project's containers, networks and volumes.
func (cc *composeCluster) Leftovers(ctx context.Context) ([]string, error) {
	var out []string
	cs, err := cc.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: cc.projectFilter()})
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		out = append(out, fmt.Sprintf("container %s %v", c.ID[:12], c.Names))
	}
	nets, err := cc.docker.NetworkList(ctx, network.ListOptions{Filters: cc.projectFilter()})
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		out = append(out, "network "+n.Name)
	}
	vols, err := cc.docker.VolumeList(ctx, volume.ListOptions{Filters: cc.projectFilter()})
	if err != nil {
		return nil, err
	}
	for _, v := range vols.Volumes {
		out = append(out, "volume "+v.Name)
	}
	return out, nil
}

// TestScenarioCompose runs the end-to-end scenario on the compose cluster
// (deploy/compose.sh: three managers and two workers as containers on a
// private network), whose nodes run their tasks on the local engine. Run it
// with -v to see the timing table; SHOAL_E2E_COMPOSE=0 skips it.
func TestScenarioCompose(t *testing.T) {
	composeRequirements(t)
	docker := testimage.Client(t)
	tm := &timings{cluster: "containers (deploy/compose.sh)"}
	t.Cleanup(func() { tm.report(t) })
	start := time.Now()
	imageID := buildNodeImage(t, docker)
	tm.add("build the node image (not a step)", time.Since(start))
	newScenario(t, func() cluster { return startComposeCluster(t, docker, imageID) }, docker, tm).run()
}
