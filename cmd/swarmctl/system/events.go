package system

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/opts"
)

type eventsOptions struct {
	since, until, format string
	filters              []string
}

// NewEventsCommand returns `swarmctl events`.
func NewEventsCommand(env *command.Env) *cobra.Command {
	var o eventsOptions
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Print the cluster's events as they happen",
		Long: `Print the cluster's events: each create, update and removal of a service or a
node, with what changed (replicas.old=1, replicas.new=3, ...). With --since the
manager first replays the events it kept (the last 10,000, at most an hour
old); with --until the command ends there. Any manager serves the same events.`,
		Example: `  swarmctl events
  swarmctl events --since 10m --until 0s --filter type=service
  swarmctl events --filter node=worker-3 --filter event=update --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.format != "" && o.format != "json" {
				return fmt.Errorf("--format %q: want json, or nothing for one line per event", o.format)
			}
			f, err := opts.ParseFilters(o.filters)
			if err != nil {
				return err
			}
			c, err := env.Client()
			if err != nil {
				return err
			}
			msgs, errs := c.Events(cmd.Context(), events.ListOptions{Since: o.since, Until: o.until, Filters: f})
			return printEvents(cmd.Context(), env.Out, msgs, errs, o.format == "json")
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.since, "since", "", "replay the events since a time (2026-01-02T13:23:37Z, a Unix time) or for a duration (42m)")
	fs.StringVar(&o.until, "until", "", "stop at a time or a duration ago (0s: now)")
	fs.StringArrayVarP(&o.filters, "filter", "f", nil, "filter KEY=VALUE: type (service, node), event (create, update, remove), service, node, scope, label (repeatable)")
	fs.StringVar(&o.format, "format", "", "json: one JSON object a line, as the API sends it")
	return cmd
}

// printEvents prints the events until the stream ends (io.EOF: --until
// reached) or ctx does.
func printEvents(ctx context.Context, out io.Writer, msgs <-chan events.Message, errs <-chan error, asJSON bool) error {
	enc := json.NewEncoder(out)
	for {
		select {
		case m := <-msgs:
			if asJSON {
				if err := enc.Encode(m); err != nil {
					return err
				}
				continue
			}
			if _, err := fmt.Fprintln(out, Line(m)); err != nil {
				return err
			}
		case err := <-errs:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Line is Docker's line for an event: time, type, action, actor and its
// attributes, sorted.
func Line(m events.Message) string {
	var b strings.Builder
	b.WriteString(time.Unix(0, m.TimeNano).UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, " %s %s %s", m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(m.Actor.Attributes)) {
			kv = append(kv, k+"="+m.Actor.Attributes[k])
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(kv, ", "))
	}
	return b.String()
}
