package netlb

import (
	"bufio"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// BenchmarkConnections measures TCP connections (connect, one line back,
// close) from a client namespace to two backends on the node's bridge:
// directly to a backend, through the VIP, and through the published port
// on the node's address (the routing mesh). Results go to BENCHMARKS.md:
// conns/s and the p99 of one connection.
func BenchmarkConnections(b *testing.B) {
	bd := newBed(b)
	serve(b, bd.be1, "10.9.0.11:7000", "be1")
	serve(b, bd.be2, "10.9.0.12:7000", "be2")
	lb := newBalancer(b, bd)
	if err := lb.Apply(PlanOf(bedView("10.9.0.11", "10.9.0.12"), lb.cfg.Bridge)); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, addr string }{
		{"direct", "10.9.0.11:7000"},
		{"vip", "10.9.0.2:7000"},
		{"mesh", "10.9.0.1:8080"},
	} {
		b.Run(c.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			orig, _ := netns.Get()
			defer orig.Close()
			ns, err := netns.GetFromPath(bd.cli)
			if err != nil {
				b.Fatal(err)
			}
			defer ns.Close()
			if err := netns.Set(ns); err != nil {
				b.Fatal(err)
			}
			defer netns.Set(orig)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				conn, err := net.DialTimeout("tcp4", c.addr, 2*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
					b.Fatal(err)
				}
				conn.Close()
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
		})
	}
}
