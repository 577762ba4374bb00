package format

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// Output formats of the ls and ps commands.
const (
	Table = "table"
	JSON  = "json"
)

// ListOptions say how a listing is written.
type ListOptions struct {
	// Format is Table (the default when empty) or JSON: one object per
	// line, with the table's fields, never truncated.
	Format string
	// Quiet writes the IDs only, one a line.
	Quiet bool
	// NoTrunc writes whole IDs and error messages.
	NoTrunc bool
}

// CheckFormat validates a --format value of a listing.
func CheckFormat(f string) error {
	switch f {
	case "", Table, JSON:
		return nil
	}
	return fmt.Errorf("--format %q: want table or json", f)
}

// Listing is a rendered list of objects, ready to write in any format.
type Listing struct {
	// Header and Rows are the table; the cells are already truncated as
	// the options asked.
	Header []string
	Rows   [][]string
	// IDs are what -q prints.
	IDs []string
	// Objects are what --format json prints, one a line: whole IDs,
	// images and errors whatever the options.
	Objects []any
}

// Write writes l to w in the format opts ask for.
func (l *Listing) Write(w io.Writer, opts ListOptions) error {
	switch {
	case opts.Quiet:
		for _, id := range l.IDs {
			if _, err := fmt.Fprintln(w, id); err != nil {
				return err
			}
		}
		return nil
	case opts.Format == JSON:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, o := range l.Objects {
			if err := enc.Encode(o); err != nil {
				return err
			}
		}
		return nil
	}
	var b strings.Builder
	tw := NewTabWriter(&b)
	fmt.Fprintln(tw, strings.Join(l.Header, "\t"))
	for _, r := range l.Rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// An empty last column leaves the padding of the one before it.
	lines := strings.SplitAfter(b.String(), "\n")
	for i, line := range lines {
		lines[i] = strings.TrimRight(strings.TrimSuffix(line, "\n"), " ")
		if strings.HasSuffix(line, "\n") {
			lines[i] += "\n"
		}
	}
	_, err := io.WriteString(w, strings.Join(lines, ""))
	return err
}

// NewTabWriter returns the tabwriter of every table: columns at least 10
// wide, 3 spaces apart, as the docker CLI draws them.
func NewTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
}

// ShortIDLength is how many characters of an ID tables show.
const ShortIDLength = 12

// ShortID cuts id to ShortIDLength characters unless noTrunc.
func ShortID(id string, noTrunc bool) string {
	if noTrunc || len(id) <= ShortIDLength {
		return id
	}
	return id[:ShortIDLength]
}

// Ellipsis cuts s to at most n runes, ending it with "…" when cut.
func Ellipsis(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Capitalize upper-cases the first letter, as Docker shows states
// ("running" becomes "Running").
func Capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

// oneLine replaces newlines, which would break a table row.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
