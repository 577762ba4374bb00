package service

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
)

// The details a manager attaches to every log line, which say where it
// comes from (Docker's names).
const (
	detailNodeID    = "com.docker.swarm.node.id"
	detailServiceID = "com.docker.swarm.service.id"
	detailTaskID    = "com.docker.swarm.task.id"
)

type logsOptions struct {
	follow, timestamps, noTrunc, noTaskIDs, raw bool
	tail, since                                 string
}

func newLogsCommand(env *command.Env) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] SERVICE|TASK",
		Short: "Show the output of a service's tasks",
		Long: `Show the output of a service's tasks, or of one task, each line prefixed with
the task that wrote it: SERVICE.SLOT.TASKID@NODE |.`,
		Example:           `  swarmctl service logs --tail 20 -f web`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeServices(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.tail != "all" {
				if n, err := strconv.Atoi(o.tail); err != nil || n < 0 {
					return fmt.Errorf("--tail %q: want a number of lines or all", o.tail)
				}
			}
			c, err := env.Client()
			if err != nil {
				return err
			}
			return runLogs(cmd.Context(), env, c, args[0], o)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.follow, "follow", "f", false, "keep printing new output")
	fs.StringVarP(&o.tail, "tail", "n", "all", "lines to show from the end of each task's output")
	fs.BoolVarP(&o.timestamps, "timestamps", "t", false, "show the time of each line")
	fs.StringVar(&o.since, "since", "", `show lines since a time (2026-01-02T13:23:37Z) or for a duration (42m)`)
	fs.BoolVar(&o.noTrunc, "no-trunc", false, "show whole task IDs")
	fs.BoolVar(&o.noTaskIDs, "no-task-ids", false, "leave task IDs out of the prefix")
	fs.BoolVar(&o.raw, "raw", false, "print the lines only, without prefix")
	return cmd
}

func runLogs(ctx context.Context, env *command.Env, c command.Client, ref string, o logsOptions) error {
	lo := container.LogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Since:      o.since,
		Timestamps: o.timestamps,
		Follow:     o.follow,
		Tail:       o.tail,
		// The details carry the task and node of each line.
		Details: !o.raw,
	}
	var (
		body    io.ReadCloser
		tty     bool
		padding = 1
	)
	svc, _, err := c.ServiceInspectWithRaw(ctx, ref, swarm.ServiceInspectOptions{})
	switch {
	case err == nil:
		if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
			tty = cs.TTY
		}
		if n, ok := format.DesiredReplicas(svc.Spec.Mode); ok {
			padding = len(strconv.FormatUint(n, 10))
		}
		if tty && !o.raw {
			return fmt.Errorf("the tasks of %s run with a TTY, whose output cannot be told apart per task: use --raw", ref)
		}
		body, err = c.ServiceLogs(ctx, svc.ID, lo)
	case client.IsErrNotFound(err):
		task, _, terr := c.TaskInspectWithRaw(ctx, ref)
		if terr != nil {
			if client.IsErrNotFound(terr) {
				return fmt.Errorf("no such service or task: %s", ref)
			}
			return terr
		}
		if cs := task.Spec.ContainerSpec; cs != nil {
			tty = cs.TTY
		}
		if tty && !o.raw {
			return fmt.Errorf("task %s runs with a TTY: use --raw", ref)
		}
		body, err = c.TaskLogs(ctx, task.ID, lo)
	}
	if err != nil {
		return err
	}
	defer body.Close()
	if tty {
		_, err = io.Copy(env.Out, body)
		return err
	}
	var stdout, stderr io.Writer = env.Out, env.Err
	if !o.raw {
		p := &logPrefixer{ctx: ctx, c: c, o: o, padding: padding, cache: map[logContext]string{}}
		stdout = &logWriter{w: env.Out, timestamps: o.timestamps, prefix: p.prefix}
		stderr = &logWriter{w: env.Err, timestamps: o.timestamps, prefix: p.prefix}
	}
	_, err = stdcopy.StdCopy(stdout, stderr, body)
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// logContext is where a line comes from.
type logContext struct {
	nodeID, serviceID, taskID string
}

// logPrefixer names the task of a line, asking the manager once per task.
type logPrefixer struct {
	ctx     context.Context
	c       command.Client
	o       logsOptions
	padding int
	cache   map[logContext]string
}

func (p *logPrefixer) prefix(lc logContext) (string, error) {
	if s, ok := p.cache[lc]; ok {
		return s, nil
	}
	task, _, err := p.c.TaskInspectWithRaw(p.ctx, lc.taskID)
	if err != nil {
		return "", err
	}
	serviceName := lc.serviceID
	if svc, _, err := p.c.ServiceInspectWithRaw(p.ctx, lc.serviceID, swarm.ServiceInspectOptions{}); err == nil {
		serviceName = svc.Spec.Name
	}
	nodeName := lc.nodeID
	if n, _, err := p.c.NodeInspectWithRaw(p.ctx, lc.nodeID); err == nil && n.Description.Hostname != "" {
		nodeName = n.Description.Hostname
	}
	s := taskLogPrefix(task, serviceName, nodeName, p.padding, p.o)
	p.cache[lc] = s
	return s, nil
}

// taskLogPrefix is "web.1.abcdef123456@node-1", padded so the lines of a
// service with 10 or more replicas stay aligned.
func taskLogPrefix(task swarm.Task, serviceName, nodeName string, padding int, o logsOptions) string {
	name := serviceName + "." + strconv.Itoa(task.Slot)
	width := len(strconv.Itoa(task.Slot))
	if task.Slot == 0 {
		name = serviceName + "." + format.ShortID(task.NodeID, o.noTrunc)
		width = padding
	}
	if !o.noTaskIDs {
		name += "." + format.ShortID(task.ID, o.noTrunc)
	}
	return name + "@" + nodeName + strings.Repeat(" ", max(padding-width, 0))
}

// logWriter rewrites the lines of a log stream, "[TIMESTAMP ]DETAILS
// MESSAGE", as "[TIMESTAMP ]PREFIX    | MESSAGE". stdcopy writes one frame,
// which the manager makes one line, per Write.
type logWriter struct {
	w          io.Writer
	timestamps bool
	prefix     func(logContext) (string, error)
}

func (lw *logWriter) Write(b []byte) (int, error) {
	out, err := formatLogLine(b, lw.timestamps, lw.prefix)
	if err != nil {
		return 0, err
	}
	if _, err := lw.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// formatLogLine rewrites one line; a line without the details naming its
// task is written as it came.
func formatLogLine(b []byte, timestamps bool, prefix func(logContext) (string, error)) ([]byte, error) {
	n := 2
	if timestamps {
		n = 3
	}
	parts := bytes.SplitN(b, []byte(" "), n)
	if len(parts) != n {
		return b, nil
	}
	details, ok := parseLogDetails(string(parts[n-2]))
	if !ok {
		return b, nil
	}
	lc := logContext{nodeID: details[detailNodeID], serviceID: details[detailServiceID], taskID: details[detailTaskID]}
	if lc.taskID == "" {
		return b, nil
	}
	p, err := prefix(lc)
	if err != nil {
		return nil, err
	}
	var out []byte
	if timestamps {
		out = append(append(out, parts[0]...), ' ')
	}
	out = append(out, p+"    | "...)
	return append(out, parts[n-1]...), nil
}

// parseLogDetails parses Docker's details: comma-separated KEY=VALUE
// pairs, each side query-escaped.
func parseLogDetails(s string) (map[string]string, bool) {
	if s == "" {
		return nil, false
	}
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, false
		}
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}
