// Command dashboard measures the web dashboard at scale: a cluster of
// three manager processes, N simulated worker nodes (internal/simnode)
// and a service of T replicas, with a follower serving the dashboard
// (--ui-addr), looked at in a real headless Chromium (internal/browser).
//
//	go run ./bench/dashboard -nodes 1000 -tasks 10000
//	go run ./bench/dashboard -nodes 20 -tasks 200        # smoke test
//
// Reported: the size of the stream's first message (the snapshot) and how
// long the manager takes to send it; the page's first render (from the
// navigation until every node column and task card is in the DOM) as
// seen from the test and as the page's own performance.now(); the page's
// JavaScript heap, DOM node count, script and layout time
// (Performance.getMetrics of the DevTools protocol); then the time for a
// scale-up of S replicas to show on the page, against the time the
// cluster's API (a follower's `service ls`) shows it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/bench/internal/benchmain"
	"github.com/shoal-dev/shoal/bench/internal/cluster"
	"github.com/shoal-dev/shoal/bench/internal/stats"
	"github.com/shoal-dev/shoal/internal/browser"
	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/simnode"
)

func main() {
	nodes := flag.Int("nodes", 1000, "simulated worker nodes")
	tasks := flag.Int("tasks", 10000, "replicas of the service")
	scale := flag.Int("scale-up", 1000, "replicas added once the page is up")
	shots := flag.String("screenshots", "", "directory for a screenshot of the page (default: a temp dir, kept)")
	flag.Parse()

	r := benchmain.Start("dashboard")
	defer r.Close()
	benchmain.Logf("RLIMIT_NOFILE %d", benchmain.RaiseFileLimit())
	chromium, err := browser.Find()
	if err != nil {
		r.Fatal(err)
	}

	c := cluster.Start(r, cluster.Options{Managers: 3, NoAgent: true})
	leader := c.Leader()
	follower := c.Followers(leader)[0]
	// The follower serves the dashboard: restart it with --ui-addr.
	uiAddr := fmt.Sprintf("127.0.0.1:%d", proctest.FreePort(r))
	if err := follower.Stop(30 * time.Second); err != nil {
		r.Fatal(err)
	}
	follower.Restart(append(c.RestartArgs(), "--ui-addr", uiAddr)...)
	c.WaitReachable(60 * time.Second)
	url := "http://" + uiAddr + "/"
	benchmain.Logf("cluster up: leader %s, dashboard on %s at %s", leader.Name, follower.Name, url)

	ctx := context.Background()
	t0 := time.Now()
	fleet, err := simnode.Join(ctx, simnode.Config{
		Managers: c.Addrs(), Token: c.WorkerToken, Nodes: *nodes, DataDir: r.TempDir(),
		NanoCPUs: 4e9, MemoryBytes: 8 << 30,
	})
	if err != nil {
		r.Fatal(err)
	}
	fleet.Start(ctx, time.Duration(*nodes)*time.Millisecond)
	r.Cleanup(fleet.Stop)
	readCl := c.Client(follower)
	proctest.Eventually(r, 5*time.Minute, "every simulated node READY", func() error { return cluster.WorkersReady(readCl, *nodes) })
	benchmain.Logf("%d nodes READY in %v", *nodes, time.Since(t0).Round(time.Millisecond))

	n := uint64(*tasks)
	resp, err := c.Client(leader).ServiceCreate(ctx, cluster.ReplicatedSpec("web", "shoal/demoapp:latest", n), swarm.ServiceCreateOptions{})
	if err != nil {
		r.Fatal(err)
	}
	if err := cluster.WaitRunning(readCl, resp.ID, n, 200*time.Millisecond, 5*time.Minute); err != nil {
		r.Fatal(err)
	}
	benchmain.Logf("%d tasks RUNNING", n)
	time.Sleep(2 * time.Second) // let the last status reports settle

	snapBytes, snapTime := snapshotSize(r, url+"api/stream")
	benchmain.Logf("snapshot: %s in %v", stats.Bytes(float64(snapBytes)), snapTime.Round(time.Millisecond))

	b, err := browser.Start(ctx, browser.Config{ExecPath: chromium, Width: 1600, Height: 1000})
	if err != nil {
		r.Fatal(err)
	}
	defer b.Close()
	all := fmt.Sprintf(`document.body.dataset.rendered === "true" && document.querySelectorAll('.node').length >= %d && document.querySelectorAll('.task[data-state="running"]').length === %d`, *nodes+3, n)
	t0 = time.Now()
	if err := b.Navigate(url); err != nil {
		r.Fatal(err)
	}
	benchmain.Logf("page loaded in %v", time.Since(t0).Round(time.Millisecond))
	if err := b.WaitFor(all, 2*time.Minute); err != nil {
		r.Fatal(err)
	}
	render := time.Since(t0)
	pageMs, _ := browser.Eval[float64](b, `Number(document.body.dataset.firstRenderMs)`)
	time.Sleep(time.Second) // a Raft view or two: the page at rest
	m1, err := b.Metrics()
	if err != nil {
		r.Fatal(err)
	}
	dir := *shots
	if dir == "" {
		dir, _ = os.MkdirTemp("", "shoal-dashboard-bench-")
	}
	_ = os.MkdirAll(dir, 0o755)
	shot := filepath.Join(dir, fmt.Sprintf("dashboard-%dx%d.png", *nodes, *tasks))
	if err := b.ViewportScreenshot(shot); err != nil {
		benchmain.Logf("screenshot: %v", err)
	}

	// A scale-up, seen by the API and by the page.
	total := n + uint64(*scale)
	svc, _, err := c.Client(leader).ServiceInspectWithRaw(ctx, resp.ID, swarm.ServiceInspectOptions{})
	if err != nil {
		r.Fatal(err)
	}
	svc.Spec.Mode.Replicated.Replicas = &total
	t0 = time.Now()
	if _, err := c.Client(leader).ServiceUpdate(ctx, resp.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{}); err != nil {
		r.Fatal(err)
	}
	apiDone := make(chan time.Duration, 1)
	go func() {
		_ = cluster.WaitRunning(readCl, resp.ID, total, 50*time.Millisecond, 5*time.Minute)
		apiDone <- time.Since(t0)
	}()
	if err := b.WaitFor(fmt.Sprintf(`document.querySelectorAll('.task[data-state="running"]').length === %d`, total), 5*time.Minute); err != nil {
		r.Fatal(err)
	}
	pageScale := time.Since(t0)
	apiScale := <-apiDone
	time.Sleep(time.Second)
	m2, err := b.Metrics()
	if err != nil {
		r.Fatal(err)
	}

	mib := func(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }
	ms := func(v float64) string { return fmt.Sprintf("%.0f ms", v*1000) }
	fmt.Printf("\n## dashboard: %d nodes x %d tasks (Chromium headless, follower's dashboard)\n\n", *nodes, n)
	t := stats.NewTable("metric", "value")
	t.Row("stream snapshot size", stats.Bytes(float64(snapBytes)))
	t.Row("stream snapshot, request to last byte", stats.Dur(snapTime))
	t.Row("first render: navigate to every card in the DOM", stats.Dur(render))
	t.Row("first render: page's performance.now()", fmt.Sprintf("%.0f ms", pageMs))
	t.Row("JS heap used / total after first render", mib(m1["JSHeapUsedSize"])+" / "+mib(m1["JSHeapTotalSize"]))
	t.Row("DOM nodes", fmt.Sprintf("%.0f", m1["Nodes"]))
	t.Row("script / layout / style time to first render", ms(m1["ScriptDuration"])+" / "+ms(m1["LayoutDuration"])+" / "+ms(m1["RecalcStyleDuration"]))
	t.Row(fmt.Sprintf("scale-up +%d: API shows all running", *scale), stats.Dur(apiScale))
	t.Row(fmt.Sprintf("scale-up +%d: page shows all running", *scale), stats.Dur(pageScale))
	t.Row("JS heap used after the scale-up", mib(m2["JSHeapUsedSize"]))
	t.Row("script / layout time during the scale-up", ms(m2["ScriptDuration"]-m1["ScriptDuration"])+" / "+ms(m2["LayoutDuration"]-m1["LayoutDuration"]))
	t.Print(os.Stdout)
	fmt.Printf("\nscreenshot: %s\n", shot)
}

// snapshotSize opens the event stream and measures its first snapshot.
func snapshotSize(r *proctest.Runner, url string) (int, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	inSnapshot := false
	for sc.Scan() {
		line := sc.Text()
		if line == "event: snapshot" {
			inSnapshot = true
		}
		if inSnapshot && strings.HasPrefix(line, "data: ") {
			return len(line) - len("data: "), time.Since(t0)
		}
	}
	r.Fatalf("no snapshot in the stream: %v", sc.Err())
	return 0, 0
}
