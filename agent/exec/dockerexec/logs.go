package dockerexec

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/shoal-dev/shoal/agent/exec"
)

// Logs returns one of this node's containers' output as lines tagged with
// their stream (see exec.LogSource and exec.ParseLogLine). containerID may
// also be the container's name.
func (e *Executor) Logs(ctx context.Context, containerID string, opts exec.LogsOptions) (io.ReadCloser, error) {
	ctr, err := e.inspect(ctx, containerID)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s", ErrNoContainer, containerID)
	}
	if err != nil {
		return nil, fmt.Errorf("dockerexec: inspect %s: %w", containerID, err)
	}
	if !e.owns(ctr) {
		return nil, fmt.Errorf("%w: %s", ErrNotOwned, containerID)
	}
	o := container.LogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.Follow,
		Timestamps: opts.Timestamps,
		Tail:       "all",
	}
	switch {
	case opts.Tail > 0:
		o.Tail = strconv.Itoa(opts.Tail)
	case opts.Tail < 0:
		o.Tail = "0"
	}
	if !opts.Since.IsZero() {
		o.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	body, err := e.cli.ContainerLogs(ctx, ctr.ID, o)
	if err != nil {
		return nil, fmt.Errorf("dockerexec: logs of %s: %w", containerID, engineErr(err))
	}
	return newLogReader(body, ctr.Config.Tty), nil
}

// logReader turns the engine's log stream into tagged lines, converting in
// a goroutine that ends when the stream ends or the reader is closed.
type logReader struct {
	pr   *io.PipeReader
	body io.Closer
}

func newLogReader(body io.ReadCloser, tty bool) *logReader {
	pr, pw := io.Pipe()
	go func() {
		defer body.Close()
		pw.CloseWithError(demux(body, pw, tty))
	}()
	return &logReader{pr: pr, body: body}
}

func (r *logReader) Read(p []byte) (int, error) { return r.pr.Read(p) }

// Close stops the conversion and closes the engine's stream.
func (r *logReader) Close() error {
	r.pr.Close()
	return r.body.Close()
}

// Stream numbers of the engine's multiplexed log format: each frame is an
// 8-byte header (stream, 3 zero bytes, big-endian payload length) followed
// by the payload. A TTY container's log is one raw stream.
const (
	frameStdout = 1
	frameStderr = 2
	frameSystem = 3 // an engine error, sent in place of more output
)

// demux writes the lines of src to w as "stdout TEXT\n" or "stderr TEXT\n".
// A line split over several frames is joined; a last line without newline
// is written with one.
func demux(src io.Reader, w io.Writer, tty bool) error {
	emit := func(stream string, line []byte) error {
		line = bytes.TrimSuffix(line, []byte("\r")) // TTYs end lines with \r\n
		out := make([]byte, 0, len(stream)+len(line)+2)
		out = append(out, stream...)
		out = append(out, ' ')
		out = append(out, line...)
		out = append(out, '\n')
		_, err := w.Write(out)
		return err
	}

	if tty {
		br := bufio.NewReader(src)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				if werr := emit(exec.Stdout, bytes.TrimSuffix(line, []byte("\n"))); werr != nil {
					return werr
				}
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}

	var pending [3]bytes.Buffer // partial lines per stream
	names := [3]string{"", exec.Stdout, exec.Stderr}
	flush := func() error {
		for s := frameStdout; s <= frameStderr; s++ {
			if pending[s].Len() > 0 {
				if err := emit(names[s], pending[s].Bytes()); err != nil {
					return err
				}
				pending[s].Reset()
			}
		}
		return nil
	}
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return flush()
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("dockerexec: truncated log frame header: %w", err)
			}
			return err
		}
		stream, size := hdr[0], binary.BigEndian.Uint32(hdr[4:])
		switch stream {
		case 0: // stdin never appears in logs; tolerate it as stdout
			stream = frameStdout
		case frameStdout, frameStderr:
		case frameSystem:
			msg, _ := io.ReadAll(io.LimitReader(src, int64(size))) // best effort: the message is the error
			return fmt.Errorf("dockerexec: engine log error: %s", msg)
		default:
			return fmt.Errorf("dockerexec: unknown log stream %d", stream)
		}
		buf := &pending[stream]
		if _, err := io.CopyN(buf, src, int64(size)); err != nil {
			return fmt.Errorf("dockerexec: truncated log frame: %w", err)
		}
		for {
			i := bytes.IndexByte(buf.Bytes(), '\n')
			if i < 0 {
				break
			}
			line := buf.Next(i + 1)
			if err := emit(names[stream], line[:i]); err != nil {
				return err
			}
		}
		if buf.Len() == 0 {
			buf.Reset() // reuse the storage from the start
		}
	}
}
