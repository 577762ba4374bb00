package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/agent/netplane"
	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/testimage"
)

// overlayTask is a running task of a service on the bed: where it runs and
// its address on a network.
type overlayTask struct {
	id, host, container string
	addr                netip.Addr
}

// overlayTasks waits until the service has one running task per host in
// hosts, each with an address on the network, and returns them.
func (hc *hostCluster) overlayTasks(t *testing.T, serviceID, networkID string, hosts ...string) []overlayTask {
	t.Helper()
	ctx := context.Background()
	hostOf := map[string]string{}
	for h, id := range hc.ids {
		hostOf[id] = h
	}
	var out []overlayTask
	proctest.Eventually(t, 3*time.Minute, "a running task with an address on every host", func() error {
		_, ts, err := hc.running(ctx, serviceID)
		if err != nil {
			return err
		}
		out = out[:0]
		seen := map[string]bool{}
		for _, task := range ts {
			if task.DesiredState != swarm.TaskStateRunning || task.Status.State != swarm.TaskStateRunning || task.Status.ContainerStatus == nil {
				if task.Status.Err != "" && task.DesiredState == swarm.TaskStateRunning {
					return fmt.Errorf("task %s: %s: %s", task.ID, task.Status.State, task.Status.Err)
				}
				continue
			}
			for _, a := range task.NetworksAttachments {
				if a.Network.ID != networkID || len(a.Addresses) == 0 {
					continue
				}
				pfx, err := netip.ParsePrefix(a.Addresses[0])
				if err != nil {
					return err
				}
				h := hostOf[task.NodeID]
				seen[h] = true
				out = append(out, overlayTask{id: task.ID, host: h, container: task.Status.ContainerStatus.ContainerID, addr: pfx.Addr()})
			}
		}
		for _, h := range hosts {
			if !seen[h] {
				return fmt.Errorf("no running task with an address on %s yet (%d running)", h, len(out))
			}
		}
		return nil
	})
	return out
}

// probe runs a demo probe in a task's container, on its host's engine.
func (hc *hostCluster) probe(t *testing.T, task overlayTask, kind, arg string) testimage.Probe {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := testimage.RunProbe(ctx, hc.bed.Host(task.host).Docker, task.container, kind, arg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// reaches tells whether from reaches to's demo server (its answer names
// to's task).
func (hc *hostCluster) reaches(t *testing.T, from, to overlayTask) (bool, string) {
	p := hc.probe(t, from, "fetch", "http://"+to.addr.String()+":8080/")
	return p.Err == "" && p.Status == 200 && strings.Contains(p.Body, to.id), p.Err
}

// fdb lists a host's forwarding entries of a network's VXLAN device:
// "MAC dst HOSTADDR" lines.
func (hc *hostCluster) fdb(host, networkID string) ([]string, error) {
	out, err := hc.bed.Host(host).Command("bridge", "fdb", "show", "dev", "shx"+networkID[:12]).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("bridge fdb on %s: %v: %s", host, err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, " dst ") {
			lines = append(lines, strings.Join(strings.Fields(l)[:3], " "))
		}
	}
	return lines, nil
}

// TestOverlayNetworksSecretsAndConfigsAcrossHosts runs three hosts (each a
// network namespace with its own dockerd) and checks the node side of
// networks, secrets and configs end to end:
//   - a global service on an overlay network: every task reaches every
//     other by address, across hosts, through VXLAN;
//   - a service on a second, internal network reaches its own peers on
//     other hosts, but neither the first network's tasks nor anything
//     outside the cluster;
//   - the secret and config files are in the containers with their
//     content and mode;
//   - a host's node killed, its data plane (VXLAN devices) destroyed and
//     the node started again: the plane is rebuilt and the others drop the
//     entries of the tasks that moved.
func TestOverlayNetworksSecretsAndConfigsAcrossHosts(t *testing.T) {
	hc := startHostCluster(t, 3)
	ctx := context.Background()
	mk := func(name string, internal bool) string {
		t.Helper()
		resp, err := hc.cl.NetworkCreate(ctx, name, network.CreateOptions{Driver: "overlay", Internal: internal})
		if err != nil {
			t.Fatal(err)
		}
		return resp.ID
	}
	front, back := mk("front", false), mk("back", true)
	sec, err := hc.cl.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: "db_password"}, Data: []byte("hunter2")})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := hc.cl.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app.conf"}, Data: []byte("color=blue\n")})
	if err != nil {
		t.Fatal(err)
	}
	service := func(name string, nets []string, replicas uint64) string {
		t.Helper()
		spec := swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: name},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: testimage.NoHealthcheckTag,
				Secrets: []*swarm.SecretReference{{SecretID: sec.ID, SecretName: "db_password",
					File: &swarm.SecretReferenceFileTarget{Name: "db_password", UID: "65534", GID: "65534", Mode: 0o400}}},
				Configs: []*swarm.ConfigReference{{ConfigID: cfg.ID, ConfigName: "app.conf",
					File: &swarm.ConfigReferenceFileTarget{Name: "/etc/app.conf", UID: "0", GID: "0", Mode: 0o444}}},
			}},
		}
		for _, n := range nets {
			spec.TaskTemplate.Networks = append(spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: n})
		}
		if replicas == 0 {
			spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
		} else {
			spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}}
		}
		resp, err := hc.cl.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.ID
	}
	web := service("web", []string{"front"}, 0)
	start := time.Now()
	webTasks := hc.overlayTasks(t, web, front, "h1", "h2", "h3")
	t.Logf("3 web tasks running with their network in %v", time.Since(start).Round(time.Millisecond))

	// Every task reaches every other, across hosts.
	for _, from := range webTasks {
		for _, to := range webTasks {
			if from.id == to.id {
				continue
			}
			proctest.Eventually(t, 30*time.Second, fmt.Sprintf("%s (%s) reaches %s (%s)", from.host, from.addr, to.host, to.addr), func() error {
				if ok, why := hc.reaches(t, from, to); !ok {
					return fmt.Errorf("not reached: %s", why)
				}
				return nil
			})
		}
	}

	// Secret and config files.
	for _, c := range []struct {
		path, mode, content string
		uid                 int
	}{
		{"/run/secrets/db_password", "0400", "hunter2", 65534}, // the demo image's user
		{"/etc/app.conf", "0444", "color=blue\n", 0},
	} {
		p := hc.probe(t, webTasks[1], "file", c.path)
		if p.Err != "" || p.Mode != c.mode || p.UID != c.uid || p.GID != c.uid || p.Content != c.content {
			t.Errorf("%s in a web container: %+v, want mode %s and the content", c.path, p, c.mode)
		}
	}

	// The internal network: its tasks reach each other across hosts, not
	// the front network's tasks, nor the outside.
	db := service("db", []string{"back"}, 0)
	dbTasks := hc.overlayTasks(t, db, back, "h1", "h2", "h3")
	proctest.Eventually(t, 30*time.Second, "db tasks reach each other on the internal network", func() error {
		if ok, why := hc.reaches(t, dbTasks[0], dbTasks[1]); !ok {
			return fmt.Errorf("%s to %s: %s", dbTasks[0].host, dbTasks[1].host, why)
		}
		return nil
	})
	for _, c := range []struct {
		from overlayTask
		to   string
	}{
		{dbTasks[0], "http://" + webTasks[1].addr.String() + ":8080/"}, // another network
		{webTasks[0], "http://" + dbTasks[1].addr.String() + ":8080/"}, // and back
		{dbTasks[0], "http://" + hc.bed.Host("h2").IP + ":80/"},        // a host, outside the cluster's networks
	} {
		if p := hc.probe(t, c.from, "fetch", c.to); p.Err == "" {
			t.Errorf("%s task on %s reached %s: %+v", c.from.id, c.from.host, c.to, p)
		}
	}

	// The db service removed: its tasks' secret tmpfs are gone. The
	// hosts share the machine's mounts (nsenter --net only), so the test
	// sees them.
	for _, task := range dbTasks {
		if !taskFilesMounted(t, task.id) {
			t.Fatalf("no secret tmpfs mounted for running task %s on %s", task.id, task.host)
		}
	}
	if err := hc.cl.ServiceRemove(ctx, db); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, time.Minute, "the db tasks' secret tmpfs unmounted", func() error {
		for _, task := range dbTasks {
			if taskFilesMounted(t, task.id) {
				return fmt.Errorf("task %s on %s still has its tmpfs", task.id, task.host)
			}
		}
		return nil
	})

	// Kill h3's node, destroy its VXLAN devices as a reboot would, and
	// move a replicated service's tasks off it; start it again.
	rep := service("rep", []string{"front"}, 3)
	repTasks := hc.overlayTasks(t, rep, front, "h1", "h2", "h3")
	var onH3 []overlayTask
	for _, task := range repTasks {
		if task.host == "h3" {
			onH3 = append(onH3, task)
		}
	}
	h1Has := func(task overlayTask) (bool, error) {
		lines, err := hc.fdb("h1", front)
		if err != nil {
			return false, err
		}
		want := netplane.MAC(task.addr).String() + " dst " + hc.bed.Host(task.host).IP
		return slices.Contains(lines, want), nil
	}
	proctest.Eventually(t, 30*time.Second, "h1 has the entries of h3's tasks", func() error {
		for _, task := range onH3 {
			if ok, err := h1Has(task); err != nil || !ok {
				return fmt.Errorf("no entry for %s on h1 (%v)", task.addr, err)
			}
		}
		return nil
	})
	hc.nodes["h3"].Kill()
	for _, n := range []string{front, back} {
		if out, err := hc.bed.Host("h3").Command("ip", "link", "del", "shx"+n[:12]).CombinedOutput(); err != nil {
			t.Fatalf("delete h3's vxlan of %s: %v: %s", n, err, out)
		}
	}
	proctest.Eventually(t, 2*time.Minute, "h1 has no entry of h3's moved tasks", func() error {
		for _, task := range onH3 {
			if ok, err := h1Has(task); err != nil || ok {
				return fmt.Errorf("h1 still has the entry of %s (%v)", task.addr, err)
			}
		}
		return nil
	})
	hc.nodes["h3"].Restart()
	proctest.Eventually(t, 2*time.Minute, "h3's data plane rebuilt", func() error {
		lines, err := hc.fdb("h3", front)
		if err != nil {
			return err
		}
		if len(lines) == 0 {
			return fmt.Errorf("no entries on h3 yet")
		}
		return nil
	})
	webTasks = hc.overlayTasks(t, web, front, "h1", "h2", "h3")
	for _, from := range webTasks {
		if from.host != "h3" {
			continue
		}
		for _, to := range webTasks {
			if to.host == "h3" {
				continue
			}
			proctest.Eventually(t, time.Minute, fmt.Sprintf("h3 reaches %s again", to.host), func() error {
				if ok, why := hc.reaches(t, from, to); !ok {
					return fmt.Errorf("not reached: %s", why)
				}
				return nil
			})
		}
	}
}

// taskFilesMounted tells whether a task's secrets tmpfs is mounted.
func taskFilesMounted(t *testing.T, taskID string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasSuffix(f[4], "/tasks/"+taskID) && strings.Contains(f[4], "/run/shoal/nodes/") {
			return true
		}
	}
	return false
}
