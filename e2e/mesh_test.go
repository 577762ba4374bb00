package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/testimage"
)

// TestServiceDiscoveryVIPsAndRoutingMesh runs three hosts and checks
// names, VIPs and the routing mesh end to end:
//   - from a task on every host, the service name resolves to the
//     service's VIP and tasks.NAME to its running tasks' addresses;
//   - requests to the name (the VIP) reach both tasks of back, wherever
//     they run;
//   - the published port answers on every host's address, from every
//     host, and on localhost, also on hosts that run no task of front,
//     and balances across front's tasks;
//   - once the services are removed, no rule of ours is left on any host.
func TestServiceDiscoveryVIPsAndRoutingMesh(t *testing.T) {
	hc := startHostCluster(t, 3)
	ctx := context.Background()
	netResp, err := hc.cl.NetworkCreate(ctx, "app", network.CreateOptions{Driver: "overlay"})
	if err != nil {
		t.Fatal(err)
	}
	app := netResp.ID
	service := func(name string, replicas uint64, ports ...swarm.PortConfig) string {
		t.Helper()
		spec := swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: name},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: testimage.NoHealthcheckTag},
				Networks: []swarm.NetworkAttachmentConfig{{Target: "app", Aliases: []string{name}}}},
		}
		if replicas == 0 {
			spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
		} else {
			spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}}
		}
		if len(ports) > 0 {
			spec.EndpointSpec = &swarm.EndpointSpec{Ports: ports}
		}
		resp, err := hc.cl.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.ID
	}
	client := service("client", 0)
	back := service("back", 2)
	front := service("front", 2, swarm.PortConfig{Protocol: swarm.PortConfigProtocolTCP, TargetPort: 8080, PublishedPort: 8090, PublishMode: swarm.PortConfigPublishModeIngress})
	clients := hc.overlayTasks(t, client, app, "h1", "h2", "h3")
	for _, id := range []string{back, front} {
		proctest.Eventually(t, 3*time.Minute, "2 running tasks of "+id, func() error {
			n, ts, err := hc.running(ctx, id)
			if err != nil {
				return err
			}
			total := 0
			for _, c := range n {
				total += c
			}
			if total != 2 {
				var errs []string
				for _, task := range ts {
					if task.Status.Err != "" {
						errs = append(errs, task.Status.Err)
					}
				}
				return fmt.Errorf("%d running; errors %v", total, errs)
			}
			return nil
		})
	}
	backTasks, frontTasks := hc.overlayTasks(t, back, app), hc.overlayTasks(t, front, app)
	if len(backTasks) != 2 || len(frontTasks) != 2 {
		t.Fatalf("tasks with an address on app: back %d, front %d", len(backTasks), len(frontTasks))
	}

	// The VIP as service inspect shows it.
	svc, _, err := hc.cl.ServiceInspectWithRaw(ctx, back, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var vip string
	for _, v := range svc.Endpoint.VirtualIPs {
		if v.NetworkID == app {
			vip = netip.MustParsePrefix(v.Addr).Addr().String()
		}
	}
	if vip == "" {
		t.Fatalf("back has no VIP on app: %+v", svc.Endpoint)
	}
	fsvc, _, err := hc.cl.ServiceInspectWithRaw(ctx, front, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fsvc.Endpoint.Ports) != 1 || fsvc.Endpoint.Ports[0].PublishedPort != 8090 {
		t.Errorf("front's Endpoint.Ports: %+v", fsvc.Endpoint.Ports)
	}
	var backAddrs []string
	for _, b := range backTasks {
		backAddrs = append(backAddrs, b.addr.String())
	}
	slices.Sort(backAddrs)

	for _, c := range clients {
		proctest.Eventually(t, time.Minute, c.host+": back resolves to its VIP, tasks.back to its tasks", func() error {
			p := hc.probe(t, c, "resolve", "back")
			if p.Err != "" || !slices.Equal(p.Addrs, []string{vip}) {
				return fmt.Errorf("back: %v %s (VIP %s)", p.Addrs, p.Err, vip)
			}
			p = hc.probe(t, c, "resolve", "tasks.back")
			got := slices.Clone(p.Addrs)
			slices.Sort(got)
			if p.Err != "" || !slices.Equal(got, backAddrs) {
				return fmt.Errorf("tasks.back: %v %s, want %v", got, p.Err, backAddrs)
			}
			return nil
		})
		seen := map[string]bool{}
		proctest.Eventually(t, time.Minute, c.host+": requests to back reach both its tasks", func() error {
			p := hc.probe(t, c, "fetch", "http://back:8080/")
			if p.Err != "" || p.Status != 200 {
				return fmt.Errorf("fetch back: %d %s", p.Status, p.Err)
			}
			for _, b := range backTasks {
				if strings.Contains(p.Body, b.id) {
					seen[b.id] = true
				}
			}
			if len(seen) < 2 {
				return fmt.Errorf("reached %d of back's 2 tasks so far", len(seen))
			}
			return nil
		})
	}

	// A third task of back: its name follows. Measured from the task's
	// RUNNING as the manager saw it to tasks.back listing it in a client
	// (an upper bound: a probe is a docker exec).
	svc, _, err = hc.cl.ServiceInspectWithRaw(ctx, back, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	three := uint64(3)
	svc.Spec.Mode.Replicated.Replicas = &three
	if _, err := hc.cl.ServiceUpdate(ctx, back, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var third overlayTask
	var runningAt time.Time
	proctest.Eventually(t, 2*time.Minute, "back's third task running", func() error {
		_, ts, err := hc.running(ctx, back)
		if err != nil {
			return err
		}
		for _, task := range ts {
			if task.Status.State != swarm.TaskStateRunning || task.DesiredState != swarm.TaskStateRunning || slices.ContainsFunc(backTasks, func(b overlayTask) bool { return b.id == task.ID }) {
				continue
			}
			for _, a := range task.NetworksAttachments {
				if a.Network.ID == app && len(a.Addresses) > 0 {
					third = overlayTask{id: task.ID, addr: netip.MustParsePrefix(a.Addresses[0]).Addr()}
					runningAt = task.Status.Timestamp
					return nil
				}
			}
		}
		return fmt.Errorf("no third task running yet")
	})
	proctest.Eventually(t, 30*time.Second, "tasks.back lists the third task on "+clients[0].host, func() error {
		p := hc.probe(t, clients[0], "resolve", "tasks.back")
		if !slices.Contains(p.Addrs, third.addr.String()) {
			return fmt.Errorf("tasks.back: %v %s", p.Addrs, p.Err)
		}
		return nil
	})
	t.Logf("a new task's name resolved %v after its RUNNING (manager's timestamp)", time.Since(runningAt).Round(time.Millisecond))

	// The published port, from every host to every host and localhost.
	curl := func(from, addr string) (string, error) {
		out, err := hc.bed.Host(from).Command("curl", "-sS", "-m", "3", "http://"+addr+"/").CombinedOutput()
		return string(out), err
	}
	for _, from := range hc.bed.Hosts {
		targets := []string{"127.0.0.1:8090"}
		for _, to := range hc.bed.Hosts {
			targets = append(targets, to.IP+":8090")
		}
		for _, addr := range targets {
			seen := map[string]bool{}
			proctest.Eventually(t, time.Minute, fmt.Sprintf("%s: %s reaches both front tasks", from.Name, addr), func() error {
				body, err := curl(from.Name, addr)
				if err != nil {
					return fmt.Errorf("%v: %s", err, body)
				}
				for _, f := range frontTasks {
					if strings.Contains(body, f.id) {
						seen[f.id] = true
					}
				}
				if len(seen) < 2 {
					return fmt.Errorf("reached %d of front's 2 tasks so far", len(seen))
				}
				return nil
			})
		}
	}

	// Everything removed: no rule of ours is left on any host.
	for _, id := range []string{front, back, client} {
		if err := hc.cl.ServiceRemove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hc.bed.Hosts {
		proctest.Eventually(t, 2*time.Minute, h.Name+" has no SHOAL rule left", func() error {
			out, err := h.Command("iptables-save").CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if strings.Contains(string(out), "SHOAL") {
				return fmt.Errorf("rules left:\n%s", grepLines(string(out), "SHOAL"))
			}
			return nil
		})
	}
	_ = exec.ErrNotFound
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
