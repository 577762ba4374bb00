package netdns

import (
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkAnswers measures one client's A queries over UDP to a
// network's listener on loopback: a cluster name (answered from the
// table) and tasks.NAME. Results go to BENCHMARKS.md: answers/s and the
// p99 of one exchange.
func BenchmarkAnswers(b *testing.B) {
	for _, name := range []string{"back", "tasks.back"} {
		b.Run(name, func(b *testing.B) {
			s := startServer(b, testView())
			addr := waitAddr(b, s, "netA")
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			conn, err := c.Dial(addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			m := new(dns.Msg)
			m.SetQuestion(dns.Fqdn(name), dns.TypeA)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				r, _, err := c.ExchangeWithConn(m, conn)
				if err != nil || len(r.Answer) == 0 {
					b.Fatalf("%s: %v %v", name, r, err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
		})
	}
}

func waitAddr(b *testing.B, s *Server, id string) string {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if a, ok := s.Addr(id); ok {
			return a.String()
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("no listener for %s", id)
	return ""
}
