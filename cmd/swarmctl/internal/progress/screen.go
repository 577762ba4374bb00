package progress

import (
	"fmt"
	"io"
	"strings"
)

// barWidth is the number of cells of a task's bar.
const barWidth = 30

// row is one line of the display: "ID: action [bar]".
type row struct {
	action string
	// current/total fill the bar; total 0 means no bar.
	current, total int64
}

// plain is the row's text without the bar.
func (r row) plain() string { return strings.TrimRight(r.action, " ") }

// fancy is the row's text with its bar, for terminals.
func (r row) fancy() string {
	if r.total <= 0 {
		return r.plain()
	}
	n := min(max(int(r.current*barWidth/r.total), 0), barWidth)
	return fmt.Sprintf("%s [%s>%s]", r.action, strings.Repeat("=", n), strings.Repeat(" ", barWidth-n))
}

// screen keeps the rows of the display and writes them out.
type screen struct {
	out      io.Writer
	terminal bool

	order   []string
	rows    map[string]row
	printed map[string]string // what was last written per ID (plain mode)
	drawn   int               // lines of the block on screen (terminal mode)
	dirty   bool
}

func newScreen(out io.Writer, terminal bool) *screen {
	return &screen{out: out, terminal: terminal, rows: map[string]row{}, printed: map[string]string{}}
}

// set changes the row id, adding it at the bottom if it is new.
func (s *screen) set(id string, r row) {
	old, ok := s.rows[id]
	if !ok {
		s.order = append(s.order, id)
	}
	if !ok || old != r {
		s.rows[id] = r
		s.dirty = true
	}
}

// flush writes what changed since the last flush.
func (s *screen) flush() {
	if !s.dirty {
		return
	}
	s.dirty = false
	if s.terminal {
		var b strings.Builder
		if s.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", s.drawn)
		}
		for _, id := range s.order {
			fmt.Fprintf(&b, "\x1b[2K%s: %s\n", id, s.rows[id].fancy())
		}
		s.drawn = len(s.order)
		io.WriteString(s.out, b.String())
		return
	}
	for _, id := range s.order {
		text := s.rows[id].plain()
		if text == "" || s.printed[id] == text {
			continue
		}
		s.printed[id] = text
		fmt.Fprintf(s.out, "%s: %s\n", id, text)
	}
}

// message flushes the block and writes a line under it; the block is not
// redrawn after a message.
func (s *screen) message(text string) {
	s.flush()
	fmt.Fprintln(s.out, text)
	s.order, s.rows, s.drawn = nil, map[string]row{}, 0
}
