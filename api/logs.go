package api

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/shoal-dev/shoal/state"
)

// Keys of the details that say where a line comes from; the CLI reads
// them to name the task ("web.1.abc@node-1").
const (
	logKeyNode    = "com.docker.swarm.node.id"
	logKeyService = "com.docker.swarm.service.id"
	logKeyTask    = "com.docker.swarm.task.id"
)

// rfc3339NanoFixed is Docker's timestamp format for log lines: nanoseconds
// padded, so timestamps line up.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// logParams are the query parameters of a log request.
type logParams struct {
	opts       LogOptions
	timestamps bool
	details    bool
}

// parseLogParams reads stdout, stderr, follow, tail, since, timestamps and
// details as Docker does, refusing what it refuses.
func parseLogParams(r *http.Request) (logParams, error) {
	p := logParams{
		opts: LogOptions{
			Follow: looseBoolParam(r, "follow"),
			Stdout: looseBoolParam(r, "stdout"),
			Stderr: looseBoolParam(r, "stderr"),
			Tail:   TailAll,
		},
		timestamps: looseBoolParam(r, "timestamps"),
		details:    looseBoolParam(r, "details"),
	}
	if !p.opts.Stdout && !p.opts.Stderr {
		return p, paramError("stdout", r.URL.Query().Get("stdout"), "stdout=1 or stderr=1: Bad parameters: you must choose at least one stream")
	}
	q := r.URL.Query()
	switch tail := q.Get("tail"); tail {
	case "", "all":
	default:
		n, err := strconv.Atoi(tail)
		if err != nil || n < 0 {
			return p, paramError("tail", tail, `"all" or a non-negative integer (tail value must be a positive integer or "all")`)
		}
		p.opts.Tail = n
	}
	if since := q.Get("since"); since != "" {
		t, err := parseSince(since)
		if err != nil {
			return p, paramError("since", since, fmt.Sprintf("seconds[.nanoseconds] since the epoch or an RFC 3339 time (could not parse since timestamp: %v)", err))
		}
		p.opts.Since = t
	}
	return p, nil
}

// parseSince reads the CLI's form, seconds[.nanoseconds] since the epoch
// (it converts relative times and dates before sending), and RFC 3339.
func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("want seconds[.nanoseconds] since the epoch or an RFC 3339 time")
	}
	var nsec int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("bad fraction %q", frac)
		}
		nsec = f * int64(math.Pow10(9-len(frac)))
	}
	return time.Unix(sec, nsec), nil
}

// serviceLogs answers GET /services/{id}/logs.
func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request) error {
	p, err := parseLogParams(r)
	if err != nil {
		return err
	}
	var sel LogSelector
	var tty bool
	if err := s.view(r.Context(), func(tx state.ReadTx) error {
		svc, err := findService(tx, r.PathValue("id"))
		if err != nil {
			return err
		}
		sel.ServiceIDs = []string{svc.ID}
		tty = svc.Spec.Task.Container.TTY
		return nil
	}); err != nil {
		return err
	}
	return s.streamLogs(w, r, sel, p, tty)
}

// taskLogs answers GET /tasks/{id}/logs.
func (s *Server) taskLogs(w http.ResponseWriter, r *http.Request) error {
	p, err := parseLogParams(r)
	if err != nil {
		return err
	}
	var sel LogSelector
	var tty bool
	if err := s.view(r.Context(), func(tx state.ReadTx) error {
		t, err := findTask(tx, r.PathValue("id"))
		if err != nil {
			return err
		}
		sel.TaskIDs = []string{t.ID}
		tty = t.Spec.Container.TTY
		return nil
	}); err != nil {
		return err
	}
	return s.streamLogs(w, r, sel, p, tty)
}

// streamLogs subscribes to the logs and writes them as Docker does: lines
// multiplexed with stdcopy headers, or raw for a TTY service (whose output
// has one stream). Until the stream starts, errors are answered with their
// status; after, they are written into the stream, as Docker does.
//
// The content type is Docker's for API 1.41 (raw-stream in both cases;
// Docker only says multiplexed-stream from 1.42, which this server does
// not speak).
func (s *Server) streamLogs(w http.ResponseWriter, r *http.Request, sel LogSelector, p logParams, tty bool) error {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	msgs, err := s.backend.SubscribeLogs(ctx, sel, p.opts)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", types.MediaTypeRawStream)
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()

	var stdout, stderr, syserr io.Writer = w, w, w
	if !tty {
		stdout = stdcopy.NewStdWriter(w, stdcopy.Stdout)
		stderr = stdcopy.NewStdWriter(w, stdcopy.Stderr)
		syserr = stdcopy.NewStdWriter(w, stdcopy.Systemerr)
	}
	for msg := range msgs {
		var err error
		switch {
		case msg.Err != nil:
			_, err = fmt.Fprintf(syserr, "Error grabbing logs: %v\n", msg.Err)
		case msg.Stream == LogStderr && p.opts.Stderr:
			_, err = stderr.Write(formatLogLine(msg, p))
		case msg.Stream != LogStderr && p.opts.Stdout:
			_, err = stdout.Write(formatLogLine(msg, p))
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			// The client went away: end the subscription, and drain the
			// channel until the source closes it.
			s.log.Debug("log stream ended", "err", err)
			cancel()
			for range msgs {
			}
			return nil
		}
	}
	return nil
}

// formatLogLine makes a line as Docker's daemon does: an optional
// timestamp, the details (always sent to the CLI, which asks for them to
// name tasks) as url-escaped key=value pairs sorted by key, then the line.
func formatLogLine(msg LogMessage, p logParams) []byte {
	var b []byte
	if p.timestamps {
		b = append(b, msg.Timestamp.UTC().Format(rfc3339NanoFixed)...)
		b = append(b, ' ')
	}
	if p.details {
		attrs := make([]LogAttr, 0, len(msg.Attrs)+3)
		for _, a := range msg.Attrs {
			switch a.Key {
			case logKeyNode, logKeyService, logKeyTask:
				// The context is authoritative.
			default:
				attrs = append(attrs, a)
			}
		}
		attrs = append(attrs,
			LogAttr{Key: logKeyNode, Value: msg.Context.NodeID},
			LogAttr{Key: logKeyService, Value: msg.Context.ServiceID},
			LogAttr{Key: logKeyTask, Value: msg.Context.TaskID})
		sort.SliceStable(attrs, func(i, j int) bool { return attrs[i].Key < attrs[j].Key })
		for i, a := range attrs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, url.QueryEscape(a.Key)...)
			b = append(b, '=')
			b = append(b, url.QueryEscape(a.Value)...)
		}
		b = append(b, ' ')
	}
	b = append(b, msg.Data...)
	if len(msg.Data) == 0 || msg.Data[len(msg.Data)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}
