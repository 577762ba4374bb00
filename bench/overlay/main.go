// Command overlay measures the overlay data plane (agent/netplane) between
// two hosts of internal/hostbed (network namespaces, each with its own
// dockerd; h1 runs the manager, h2 a worker), against the same pair of
// hosts without it, in one run:
//
//   - overlay: a demo task on each host, on a shoal overlay network (VXLAN);
//     the probe runs in h1's task against h2's task address;
//   - bridge: a demo container on each host's default Docker bridge, h2's
//     port published; h1's container fetches h2's host address (NAT on
//     both ends, no tunnel);
//   - host: demo containers in each host's network namespace (--network
//     host); h1's fetches h2's address.
//
// Latency is 1000 HTTP round trips on one connection (p50, p99), from
// inside the client container (`demoapp probe latency`); throughput one
// 256 MB HTTP download (`demoapp probe throughput`). Then, -runs times, a
// one-task service with and without a network: the time from the create
// call to the task RUNNING, and from its assignment (the executor's
// Prepare) to its networks ready on the host, from the node's log line
// "task networks ready".
//
//	go run ./bench/overlay          # needs root, iproute2, nsenter, iptables, dockerd
//	go run ./bench/overlay -runs 10 -repeat 3
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/go-connections/nat"

	"github.com/shoal-dev/shoal/bench/internal/benchmain"
	"github.com/shoal-dev/shoal/bench/internal/engine"
	"github.com/shoal-dev/shoal/bench/internal/stats"
	"github.com/shoal-dev/shoal/internal/hostbed"
	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/testimage"
)

func main() {
	runs := flag.Int("runs", 10, "services created with and without a network, for the readiness times")
	repeat := flag.Int("repeat", 3, "latency and throughput probes per path")
	flag.Parse()

	r := benchmain.Start("overlay")
	defer r.Close()
	ctx := context.Background()
	if err := hostbed.Check(); err != nil {
		r.Fatal(err)
	}
	dcli, err := engine.Connect()
	if err != nil {
		r.Fatal(err)
	}
	if err := engine.EnsureImages(ctx, dcli); err != nil {
		r.Fatal(err)
	}
	dcli.Close()
	bed, err := hostbed.Start(hostbed.Config{Hosts: 2, Images: []string{engine.NoHealthImage}, Logf: benchmain.Logf})
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
	worker := procs.JoinWorker("h2", sw.JoinTokens.Worker, m)
	cl := m.Client()
	ids := map[string]string{}
	for _, n := range proctest.WaitNodesReady(r, cl, 2, 2*time.Minute) {
		ids[n.ID] = n.Description.Hostname
	}
	h1, h2 := bed.Host("h1"), bed.Host("h2")

	// The overlay pair.
	if _, err := cl.NetworkCreate(ctx, "bench", network.CreateOptions{Driver: "overlay"}); err != nil {
		r.Fatal(err)
	}
	svc, err := cl.ServiceCreate(ctx, swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "pair"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: engine.NoHealthImage},
			Networks: []swarm.NetworkAttachmentConfig{{Target: "bench"}}},
		Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}},
	}, swarm.ServiceCreateOptions{})
	if err != nil {
		r.Fatal(err)
	}
	var clientCtr, serverAddr string
	proctest.Eventually(r, 2*time.Minute, "a pair task running on each host", func() error {
		ts, err := cl.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", svc.ID))})
		if err != nil {
			return err
		}
		clientCtr, serverAddr = "", ""
		for _, t := range ts {
			if t.Status.State != swarm.TaskStateRunning || t.Status.ContainerStatus == nil || len(t.NetworksAttachments) == 0 {
				continue
			}
			switch ids[t.NodeID] {
			case "h1":
				clientCtr = t.Status.ContainerStatus.ContainerID
			case "h2":
				serverAddr = strings.Split(t.NetworksAttachments[0].Addresses[0], "/")[0]
			}
		}
		if clientCtr == "" || serverAddr == "" {
			return fmt.Errorf("not both running yet")
		}
		return nil
	})

	// The bridge and host pairs, on the hosts' engines directly.
	run := func(h *hostbed.Host, name string, hostNet bool, publish string, args ...string) string {
		cfg := &container.Config{Image: engine.NoHealthImage, Cmd: args, Labels: map[string]string{"shoal.bench": "overlay"}}
		hc := &container.HostConfig{}
		if hostNet {
			hc.NetworkMode = "host"
		}
		if publish != "" {
			cfg.ExposedPorts = nat.PortSet{"8080/tcp": {}}
			hc.PortBindings = nat.PortMap{"8080/tcp": {{HostPort: publish}}}
		}
		resp, err := h.Docker.ContainerCreate(ctx, cfg, hc, nil, nil, name)
		if err != nil {
			r.Fatal(err)
		}
		if err := h.Docker.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
			r.Fatal(err)
		}
		return resp.ID
	}
	bridgeClient := run(h1, "bench-bridge-client", false, "")
	run(h2, "bench-bridge-server", false, "18080")
	hostClient := run(h1, "bench-host-client", true, "", "--listen", ":18082")
	run(h2, "bench-host-server", true, "", "--listen", ":18081")
	time.Sleep(time.Second) // the servers listening

	type path struct {
		name, ctr, url string
		host           *hostbed.Host
		p50, p99, mbps stats.Sample
	}
	paths := []*path{
		{name: "overlay (VXLAN, shoal network)", ctr: clientCtr, url: "http://" + serverAddr + ":8080", host: h1},
		{name: "bridge (default bridge, published port)", ctr: bridgeClient, url: "http://" + h2.IP + ":18080", host: h1},
		{name: "host network", ctr: hostClient, url: "http://" + h2.IP + ":18081", host: h1},
	}
	for i := range *repeat {
		for _, p := range paths {
			lat, err := testimage.RunProbe(ctx, p.host.Docker, p.ctr, "latency", p.url+"/health")
			if err != nil || lat.Err != "" {
				r.Fatalf("%s latency: %v %s", p.name, err, lat.Err)
			}
			thr, err := testimage.RunProbe(ctx, p.host.Docker, p.ctr, "throughput", p.url+"/bytes")
			if err != nil || thr.Err != "" {
				r.Fatalf("%s throughput: %v %s", p.name, err, thr.Err)
			}
			p.p50.Add(float64(lat.P50Micros))
			p.p99.Add(float64(lat.P99Micros))
			p.mbps.Add(thr.MBps)
			benchmain.Logf("round %d, %s: p50 %d us, p99 %d us, %.0f MB/s", i+1, p.name, lat.P50Micros, lat.P99Micros, thr.MBps)
		}
	}

	// Readiness: a one-task service on h2, with and without a network.
	var withNet, without, ready stats.Sample
	took := regexp.MustCompile(`msg="task networks ready".* took=([0-9.]+[µnm]?s)`)
	for i := range *runs {
		for _, net := range []bool{true, false} {
			spec := swarm.ServiceSpec{
				Annotations: swarm.Annotations{Name: fmt.Sprintf("ready-%d-%v", i, net)},
				TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: engine.NoHealthImage},
					Placement: &swarm.Placement{Constraints: []string{"node.hostname==h2"}}},
			}
			if net {
				spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "bench"}}
			}
			start := time.Now()
			resp, err := cl.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
			if err != nil {
				r.Fatal(err)
			}
			for {
				ts, err := cl.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", resp.ID))})
				if err == nil && len(ts) == 1 && ts[0].Status.State == swarm.TaskStateRunning {
					break
				}
				if time.Since(start) > time.Minute {
					r.Fatalf("service %s not running after a minute", spec.Name)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if net {
				withNet.AddDur(time.Since(start))
			} else {
				without.AddDur(time.Since(start))
			}
			if err := cl.ServiceRemove(ctx, resp.ID); err != nil {
				r.Fatal(err)
			}
		}
	}
	if b, err := os.ReadFile(worker.LogPath); err == nil {
		for _, m := range took.FindAllStringSubmatch(string(b), -1) {
			if d, err := time.ParseDuration(m[1]); err == nil {
				ready.AddDur(d)
			}
		}
	}

	fmt.Printf("\n## overlay: two hostbed hosts, %d rounds of probes, %d services with and without a network\n\n", *repeat, *runs)
	t := stats.NewTable("path h1 -> h2", "latency p50 (median)", "latency p99 (median)", "throughput (median)", "min..max")
	for _, p := range paths {
		t.Row(p.name, fmt.Sprintf("%.0f us", p.p50.Median()), fmt.Sprintf("%.0f us", p.p99.Median()),
			fmt.Sprintf("%.0f MB/s", p.mbps.Median()), p.mbps.Spread(func(x float64) string { return fmt.Sprintf("%.0f", x) }))
	}
	t.Print(os.Stdout)
	fmt.Println()
	t = stats.NewTable("one-task service on h2", "create to RUNNING (median)", "min..max")
	t.Row("on an overlay network", stats.Dur(withNet.MedianDur()), withNet.SpreadDur())
	t.Row("no network", stats.Dur(without.MedianDur()), without.SpreadDur())
	t.Print(os.Stdout)
	fmt.Printf("\ntask assigned (Prepare) to its networks ready on h2: median %s (%s), %d tasks (the first made the Docker network)\n",
		stats.Dur(ready.MedianDur()), ready.SpreadDur(), ready.N())
}
