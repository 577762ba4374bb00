package service

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
)

// scaleArg is one SERVICE=REPLICAS argument.
type scaleArg struct {
	ref      string
	replicas uint64
}

func parseScaleArgs(args []string) ([]scaleArg, error) {
	out := make([]scaleArg, 0, len(args))
	for _, a := range args {
		ref, n, ok := strings.Cut(a, "=")
		if !ok || ref == "" {
			return nil, fmt.Errorf("%q: want SERVICE=REPLICAS, such as web=5", a)
		}
		r, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %q is not a number of replicas (0 or more)", a, n)
		}
		out = append(out, scaleArg{ref: ref, replicas: r})
	}
	return out, nil
}

func newScaleCommand(env *command.Env) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "scale SERVICE=REPLICAS [SERVICE=REPLICAS...]",
		Short: "Set the number of tasks of replicated services",
		Long: `Set the number of tasks of replicated services, then show them converge
(-d to return at once). Every argument is checked before any service changes.`,
		Example: "  swarmctl service scale web=5 api=3",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			scales, err := parseScaleArgs(args)
			if err != nil {
				return err
			}
			c, err := env.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			type scaled struct{ id, name string }
			var (
				done []scaled
				errs []error
			)
			for _, s := range scales {
				svc, _, err := c.ServiceInspectWithRaw(ctx, s.ref, swarm.ServiceInspectOptions{})
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", s.ref, err))
					continue
				}
				if svc.Spec.Mode.Replicated == nil {
					errs = append(errs, fmt.Errorf("%s: scale applies to replicated services only; this one is %s", s.ref, format.ServiceMode(svc.Spec.Mode)))
					continue
				}
				spec := svc.Spec
				r := s.replicas
				spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &r}
				resp, err := c.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{})
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", s.ref, err))
					continue
				}
				printWarnings(env, resp.Warnings)
				fmt.Fprintf(env.Out, "%s scaled to %d\n", s.ref, s.replicas)
				done = append(done, scaled{svc.ID, s.ref})
			}
			if !detach {
				for _, s := range done {
					if err := watch(ctx, env, c, s.id, s.name); err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
					}
					if ctx.Err() != nil {
						break
					}
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "return at once instead of showing the services converge")
	return cmd
}
