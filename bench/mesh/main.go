// Command mesh measures HTTP through a service's virtual IP and through the
// routing mesh (agent/netlb) across hosts over VXLAN, against direct
// access to a task, in one run. Three hosts of internal/hostbed (network
// namespaces, each with its own dockerd): h1 runs the manager and the
// client task, h2 and h3 one task each of a service "web" with a VIP on
// the overlay network and port 30080 published on the ingress network.
// From inside the client container on h1:
//
//   - direct: to the address of web's task on h2 (VXLAN, no NAT);
//   - VIP: to web's VIP (DNAT on h1 to either task, SNAT to h1's
//     load-balancer address, VXLAN);
//   - mesh: to h1's own address, port 30080 (DNAT on h1 to either task
//     over the ingress network, VXLAN).
//
// Each round runs, per path, `demoapp probe rate` (2000 requests one after
// another, each on a new connection: requests/s, and one request's p50 and
// p99, connection included: the NAT rules only act on a connection's first
// packet) and `demoapp probe latency` (1000 round trips on one kept-alive
// connection: p50 and p99). The paths take turns within a round, so that
// the machine's load falls on each alike. The load average is printed at
// the start and the end: the machine is shared.
//
//	go run ./bench/mesh              # -rounds 5 (root: hostbed)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/bench/internal/benchmain"
	"github.com/shoal-dev/shoal/bench/internal/engine"
	"github.com/shoal-dev/shoal/bench/internal/machine"
	"github.com/shoal-dev/shoal/bench/internal/stats"
	"github.com/shoal-dev/shoal/internal/hostbed"
	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/testimage"
)

// published is web's ingress-published port.
const published = 30080

func main() {
	rounds := flag.Int("rounds", 5, "rounds of probes; each runs every probe on every path once")
	flag.Parse()

	r := benchmain.Start("mesh")
	defer r.Close()
	ctx := context.Background()
	if err := hostbed.Check(); err != nil {
		r.Fatal(err)
	}
	dcli, err := engine.Connect()
	if err != nil {
		r.Fatal(err)
	}
	// Built from the current source: the rate probe is recent.
	img, err := testimage.EnsureVariant(ctx, dcli, testimage.NoHealthcheck)
	dcli.Close()
	if err != nil {
		r.Fatal(err)
	}
	bed, err := hostbed.Start(hostbed.Config{Hosts: 3, Images: []string{img}, Logf: benchmain.Logf})
	if err != nil {
		r.Fatal(err)
	}
	r.Cleanup(func() {
		if err := bed.Close(); err != nil {
			benchmain.Logf("closing the host bed: %v", err)
		}
	})
	procs := proctest.New(r)
	procs.Place = bed.Place
	m := procs.InitManager("h1")
	sw := m.WaitReady(60 * time.Second)
	procs.JoinWorker("h2", sw.JoinTokens.Worker, m)
	procs.JoinWorker("h3", sw.JoinTokens.Worker, m)
	cl := m.Client()
	hostOf := map[string]string{}
	for _, n := range proctest.WaitNodesReady(r, cl, 3, 2*time.Minute) {
		hostOf[n.ID] = n.Description.Hostname
	}

	netResp, err := cl.NetworkCreate(ctx, "bench", network.CreateOptions{Driver: "overlay"})
	if err != nil {
		r.Fatal(err)
	}
	service := func(name string, replicas uint64, constraint string, ports ...swarm.PortConfig) string {
		spec := swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: name},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: img},
				Networks:  []swarm.NetworkAttachmentConfig{{Target: "bench"}},
				Placement: &swarm.Placement{Constraints: []string{constraint}}},
			Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		}
		if len(ports) > 0 {
			spec.EndpointSpec = &swarm.EndpointSpec{Ports: ports}
		}
		resp, err := cl.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
		if err != nil {
			r.Fatal(err)
		}
		return resp.ID
	}
	client := service("client", 1, "node.hostname==h1")
	web := service("web", 2, "node.hostname!=h1", swarm.PortConfig{
		Protocol: swarm.PortConfigProtocolTCP, TargetPort: 8080, PublishedPort: published, PublishMode: swarm.PortConfigPublishModeIngress})

	// The client's container, the address of web's task on h2, web's VIP.
	var clientCtr, direct string
	proctest.Eventually(r, 3*time.Minute, "the client on h1 and web's tasks on h2 and h3 running", func() error {
		clientCtr, direct = "", ""
		hosts := map[string]bool{}
		for _, id := range []string{client, web} {
			ts, err := cl.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id))})
			if err != nil {
				return err
			}
			for _, t := range ts {
				if t.DesiredState != swarm.TaskStateRunning || t.Status.State != swarm.TaskStateRunning || t.Status.ContainerStatus == nil {
					continue
				}
				for _, a := range t.NetworksAttachments {
					if a.Network.ID != netResp.ID || len(a.Addresses) == 0 {
						continue
					}
					switch {
					case id == client:
						clientCtr = t.Status.ContainerStatus.ContainerID
					case hostOf[t.NodeID] == "h2":
						direct = strings.Split(a.Addresses[0], "/")[0]
						hosts["h2"] = true
					default:
						hosts[hostOf[t.NodeID]] = true
					}
				}
			}
		}
		if clientCtr == "" || !hosts["h2"] || !hosts["h3"] {
			return fmt.Errorf("client %q, web on %v", clientCtr, hosts)
		}
		return nil
	})
	svc, _, err := cl.ServiceInspectWithRaw(ctx, web, swarm.ServiceInspectOptions{})
	if err != nil {
		r.Fatal(err)
	}
	var vip string
	for _, v := range svc.Endpoint.VirtualIPs {
		if v.NetworkID == netResp.ID {
			vip = strings.Split(v.Addr, "/")[0]
		}
	}
	if vip == "" {
		r.Fatalf("web has no VIP on the bench network: %+v", svc.Endpoint)
	}
	h1 := bed.Host("h1")

	type path struct {
		name, url                       string
		rps, rateP50, rateP99, p50, p99 stats.Sample
	}
	paths := []*path{
		{name: "direct (task on h2, VXLAN)", url: "http://" + direct + ":8080"},
		{name: "VIP (h2 or h3, DNAT+SNAT, VXLAN)", url: "http://" + vip + ":8080"},
		{name: fmt.Sprintf("routing mesh (h1:%d -> h2 or h3)", published), url: fmt.Sprintf("http://%s:%d", h1.IP, published)},
	}
	// Every path answers before anything is measured (the rules and the
	// VXLAN entries are in place).
	for _, p := range paths {
		proctest.Eventually(r, time.Minute, p.name+" answers", func() error {
			pr, err := testimage.RunProbe(ctx, h1.Docker, clientCtr, "fetch", p.url+"/")
			if err != nil {
				return err
			}
			if pr.Err != "" || pr.Status != 200 {
				return fmt.Errorf("%d %s", pr.Status, pr.Err)
			}
			return nil
		})
	}
	loadStart := machine.Describe()
	for i := range *rounds {
		for _, p := range paths {
			rate, err := testimage.RunProbe(ctx, h1.Docker, clientCtr, "rate", p.url+"/health")
			if err != nil || rate.Err != "" {
				r.Fatalf("%s rate: %v %s", p.name, err, rate.Err)
			}
			lat, err := testimage.RunProbe(ctx, h1.Docker, clientCtr, "latency", p.url+"/health")
			if err != nil || lat.Err != "" {
				r.Fatalf("%s latency: %v %s", p.name, err, lat.Err)
			}
			p.rps.Add(rate.RPS)
			p.rateP50.Add(float64(rate.P50Micros))
			p.rateP99.Add(float64(rate.P99Micros))
			p.p50.Add(float64(lat.P50Micros))
			p.p99.Add(float64(lat.P99Micros))
			benchmain.Logf("round %d, %s: %.0f req/s (p50 %d us, p99 %d us); kept alive p50 %d us, p99 %d us (load %s)",
				i+1, p.name, rate.RPS, rate.P50Micros, rate.P99Micros, lat.P50Micros, lat.P99Micros, machine.LoadAvg1())
		}
	}

	us := func(x float64) string { return fmt.Sprintf("%.0f", x) }
	fmt.Printf("\n## mesh: three hostbed hosts, client on h1, web on h2 and h3, %d rounds (medians, min..max)\n", *rounds)
	fmt.Printf("# at the start of the probes: %s", strings.SplitN(loadStart, "\n", 2)[0]+"\n")
	fmt.Printf("# at the end:                 %s", strings.SplitN(machine.Describe(), "\n", 2)[0]+"\n\n")
	t := stats.NewTable("path from h1's client", "req/s, new connection each", "vs direct", "p50 us", "p99 us", "kept alive p50 us", "kept alive p99 us")
	for _, p := range paths {
		t.Row(p.name, us(p.rps.Median())+" ("+p.rps.Spread(us)+")", stats.Ratio(p.rps.Median(), paths[0].rps.Median()),
			us(p.rateP50.Median()), us(p.rateP99.Median())+" ("+p.rateP99.Spread(us)+")",
			us(p.p50.Median()), us(p.p99.Median())+" ("+p.p99.Spread(us)+")")
	}
	t.Print(os.Stdout)
}
