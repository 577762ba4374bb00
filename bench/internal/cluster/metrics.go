package cluster

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/internal/proctest"
)

// Metrics is one scrape of a manager's GET /metrics (Prometheus text
// format): each series, "name{labels}" as written, to its value.
type Metrics map[string]float64

// Scrape reads a manager's metrics through its API socket.
func Scrape(n *proctest.Node) (Metrics, error) {
	hc := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", n.Socket)
		}},
	}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://manager/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := Metrics{}
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, s.Err()
}

// Histogram is the difference of one histogram between two scrapes.
type Histogram struct {
	Count, Sum float64
	// Buckets maps upper bounds to cumulative counts.
	Buckets map[float64]float64
}

// HistogramDelta returns what a histogram recorded between before and
// after. match selects the series by name and a label substring, e.g.
// ("shoal_api_request_duration_seconds", `method="POST"`); matching series
// are added up.
func HistogramDelta(before, after Metrics, name, match string) Histogram {
	h := Histogram{Buckets: map[float64]float64{}}
	for k, v := range after {
		if match != "" && !strings.Contains(k, match) {
			continue
		}
		d := v - before[k]
		switch {
		case strings.HasPrefix(k, name+"_count"):
			h.Count += d
		case strings.HasPrefix(k, name+"_sum"):
			h.Sum += d
		case strings.HasPrefix(k, name+"_bucket"):
			le := k[strings.Index(k, `le="`)+4:]
			le = le[:strings.IndexByte(le, '"')]
			b, err := strconv.ParseFloat(le, 64)
			if le == "+Inf" {
				b, err = math.Inf(1), nil
			}
			if err == nil {
				h.Buckets[b] += d
			}
		}
	}
	return h
}

// Mean is the mean observation.
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	return h.Sum / h.Count
}

// Quantile estimates the q-quantile by linear interpolation within the
// bucket holding it, as Prometheus' histogram_quantile does.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	bounds := make([]float64, 0, len(h.Buckets))
	for b := range h.Buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	rank := q * h.Count
	prevBound, prevCount := 0.0, 0.0
	for _, b := range bounds {
		c := h.Buckets[b]
		if c >= rank {
			if math.IsInf(b, 1) {
				return prevBound
			}
			if c == prevCount {
				return b
			}
			return prevBound + (b-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = b, c
	}
	return prevBound
}
