package format

import (
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// NetworkRow is a network as `network ls --format json` prints it.
type NetworkRow struct {
	ID     string
	Name   string
	Driver string
	Scope  string
	// Internal, Attachable and Ingress are the network's flags.
	Internal   bool
	Attachable bool
	Ingress    bool
	Subnets    []string
}

// Networks renders networks, sorted by name, as `docker network ls` shows
// them: NETWORK ID NAME DRIVER SCOPE, and the subnets.
func Networks(nets []network.Summary, opts ListOptions) *Listing {
	sorted := slices.Clone(nets)
	slices.SortStableFunc(sorted, func(a, b network.Summary) int { return strings.Compare(a.Name, b.Name) })
	l := &Listing{Header: []string{"NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET"}}
	for _, n := range sorted {
		row := NetworkRow{ID: n.ID, Name: n.Name, Driver: n.Driver, Scope: n.Scope, Internal: n.Internal, Attachable: n.Attachable, Ingress: n.Ingress}
		for _, c := range n.IPAM.Config {
			row.Subnets = append(row.Subnets, c.Subnet)
		}
		id := ShortID(n.ID, opts.NoTrunc)
		l.IDs = append(l.IDs, id)
		l.Objects = append(l.Objects, row)
		l.Rows = append(l.Rows, []string{id, row.Name, row.Driver, row.Scope, strings.Join(row.Subnets, ",")})
	}
	return l
}

// SecretRow is a secret or config as `secret ls` and `config ls --format
// json` print it.
type SecretRow struct {
	ID        string
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Secrets renders secrets, sorted by name, as `docker secret ls` shows
// them: ID NAME CREATED UPDATED.
func Secrets(secrets []swarm.Secret, now time.Time, opts ListOptions) *Listing {
	rows := make([]SecretRow, len(secrets))
	for i, s := range secrets {
		rows[i] = SecretRow{ID: s.ID, Name: s.Spec.Name, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	}
	return secretRows(rows, now, opts)
}

// Configs renders configs as Secrets renders secrets.
func Configs(configs []swarm.Config, now time.Time, opts ListOptions) *Listing {
	rows := make([]SecretRow, len(configs))
	for i, c := range configs {
		rows[i] = SecretRow{ID: c.ID, Name: c.Spec.Name, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	}
	return secretRows(rows, now, opts)
}

func secretRows(rows []SecretRow, now time.Time, opts ListOptions) *Listing {
	slices.SortStableFunc(rows, func(a, b SecretRow) int { return strings.Compare(a.Name, b.Name) })
	l := &Listing{Header: []string{"ID", "NAME", "CREATED", "UPDATED"}}
	for _, r := range rows {
		// Docker shows secret and config IDs whole.
		l.IDs = append(l.IDs, r.ID)
		l.Objects = append(l.Objects, r)
		l.Rows = append(l.Rows, []string{r.ID, r.Name, Ago(r.CreatedAt, now), Ago(r.UpdatedAt, now)})
	}
	return l
}
