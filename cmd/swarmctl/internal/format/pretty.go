package format

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
)

// prettyWriter writes the "Key:  value" blocks of the --pretty views,
// aligned per block as the docker CLI aligns them.
type prettyWriter struct {
	tw *tabwriter.Writer
}

func newPrettyWriter(w io.Writer) *prettyWriter {
	return &prettyWriter{tw: tabwriter.NewWriter(w, 20, 1, 3, ' ', 0)}
}

// field writes "indent key:\tvalue".
func (p *prettyWriter) field(indent int, key string, value any) {
	fmt.Fprintf(p.tw, "%s%s:\t%v\n", strings.Repeat(" ", indent), key, value)
}

// section writes a heading with no value.
func (p *prettyWriter) section(indent int, key string) {
	fmt.Fprintf(p.tw, "%s%s:\n", strings.Repeat(" ", indent), key)
}

// line writes text as it is.
func (p *prettyWriter) line(indent int, text string) {
	fmt.Fprintf(p.tw, "%s%s\n", strings.Repeat(" ", indent), text)
}

// labels writes a labels block, sorted, or nothing for none.
func (p *prettyWriter) labels(indent int, key string, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	p.section(indent, key)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		p.line(indent+1, "- "+k+"="+labels[k])
	}
}

func (p *prettyWriter) flush() error { return p.tw.Flush() }

// Timestamp shows an absolute time in time.Local, or "" for none.
func Timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 -0700 MST")
}

// Duration shows a duration as Go writes it ("1m30s"), "0s" for none.
func Duration(d time.Duration) string { return d.String() }

// CPUs shows billionths of CPUs as CPUs, "0.5".
func CPUs(nano int64) string {
	s := fmt.Sprintf("%.9f", float64(nano)/1e9)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// Bytes shows a memory size in binary units, "64MiB".
func Bytes(n int64) string { return units.BytesSize(float64(n)) }

// IndentedJSON writes v as JSON indented like `docker inspect`, followed by
// a newline.
func IndentedJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
