package objcmd

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/filters"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
)

// Kind describes one noun, with O the Docker object (swarm.Secret,
// swarm.Config).
type Kind[O any] struct {
	// Noun is the noun in commands and messages ("secret"); Plural its
	// plural ("secrets").
	Noun, Plural string
	// MaxRead bounds what create reads: twice the manager's limit, so that
	// a larger input is refused by the manager with its message, not cut.
	MaxRead int64
	// CreateLong and InspectLong are the long help of create and inspect,
	// which say what becomes of the data.
	CreateLong, InspectLong string

	List    func(ctx context.Context, c command.Client, f filters.Args) ([]O, error)
	Create  func(ctx context.Context, c command.Client, name string, labels map[string]string, data []byte) (id string, err error)
	Inspect func(ctx context.Context, c command.Client, ref string) (O, error)
	Remove  func(ctx context.Context, c command.Client, ref string) error
	// Name is an object's name, for completion.
	Name func(o O) string
	// Listing is the ls table.
	Listing func(list []O, now time.Time, lo format.ListOptions) *format.Listing
}
