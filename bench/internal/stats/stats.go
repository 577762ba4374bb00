// Package stats summarises repeated benchmark measurements (median and
// spread) and prints them as aligned tables.
//
//	var s stats.Sample
//	for i := 0; i < runs; i++ { s.Add(measure()) }
//	t := stats.NewTable("benchmark", "median", "min..max", "n")
//	t.Row("failover", stats.Dur(s.Median()), s.SpreadDur(), s.N())
//	t.Print(os.Stdout)
package stats

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Sample is a set of measurements of one quantity. The zero value is empty
// and ready to use. It is not safe for concurrent use.
type Sample struct {
	xs []float64
}

// Add records a measurement.
func (s *Sample) Add(x float64) { s.xs = append(s.xs, x) }

// AddDur records a duration in seconds.
func (s *Sample) AddDur(d time.Duration) { s.Add(d.Seconds()) }

// N is the number of measurements.
func (s *Sample) N() int { return len(s.xs) }

// Values returns the measurements in the order they were added; the
// caller must not modify the slice.
func (s *Sample) Values() []float64 { return s.xs }

// Median is the median, NaN for an empty sample.
func (s *Sample) Median() float64 { return s.Quantile(0.5) }

// Min and Max bound the sample; NaN when it is empty.
func (s *Sample) Min() float64 { return s.Quantile(0) }

// Max is the largest measurement.
func (s *Sample) Max() float64 { return s.Quantile(1) }

// Quantile returns the q-quantile (0 <= q <= 1) with linear interpolation
// between the closest ranks, NaN for an empty sample.
func (s *Sample) Quantile(q float64) float64 {
	if len(s.xs) == 0 {
		return math.NaN()
	}
	xs := slices.Clone(s.xs)
	slices.Sort(xs)
	return quantileSorted(xs, q)
}

func quantileSorted(xs []float64, q float64) float64 {
	if len(xs) == 1 {
		return xs[0]
	}
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return xs[lo] + (xs[hi]-xs[lo])*(pos-float64(lo))
}

// Spread formats the range of the sample with f, "min..max".
func (s *Sample) Spread(f func(float64) string) string {
	if len(s.xs) == 0 {
		return "-"
	}
	return f(s.Min()) + ".." + f(s.Max())
}

// MedianDur and SpreadDur read the sample as seconds.
func (s *Sample) MedianDur() time.Duration { return Seconds(s.Median()) }

// SpreadDur formats the range as durations.
func (s *Sample) SpreadDur() string {
	return s.Spread(func(x float64) string { return Dur(Seconds(x)) })
}

// Seconds converts seconds to a duration.
func Seconds(x float64) time.Duration {
	if math.IsNaN(x) {
		return 0
	}
	return time.Duration(x * float64(time.Second))
}

// Dur formats a duration with three significant digits.
func Dur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.3gs", d.Seconds())
	}
}

// Num formats a number with three significant digits (no exponent below
// a million).
func Num(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	if math.Abs(x) >= 1000 && math.Abs(x) < 1e7 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.3g", x)
}

// Bytes formats a byte count in MiB or GiB.
func Bytes(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.0f MiB", b/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", b/(1<<10))
	}
}

// Ratio formats a/b as "1.23x", "-" when b is zero or either is NaN.
func Ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// Table is a text table printed with aligned columns.
type Table struct {
	head []string
	rows [][]string
}

// NewTable returns a table with the given column headers.
func NewTable(head ...string) *Table { return &Table{head: head} }

// Row adds a row; values are formatted with fmt.Sprint.
func (t *Table) Row(vals ...any) {
	r := make([]string, len(vals))
	for i, v := range vals {
		r[i] = fmt.Sprint(v)
	}
	t.rows = append(t.rows, r)
}

// Print writes the table to w with aligned columns.
func (t *Table) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.head, "\t"))
	seps := make([]string, len(t.head))
	for i, h := range t.head {
		seps[i] = strings.Repeat("-", max(3, len([]rune(h))))
	}
	fmt.Fprintln(tw, strings.Join(seps, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}
