// Package format renders swarm objects for people and scripts: the tables
// of the ls and ps commands (aligned with text/tabwriter, IDs cut to 12
// characters), their --format json and -q forms, the --pretty views of
// inspect, and indented JSON.
//
// Every function is pure: it reads the Docker API values it is given,
// never modifies them, and writes to the io.Writer it is handed. Times are
// shown relative to an explicit now, or as absolute times in time.Local,
// so that golden tests render fixed values to fixed text.
package format
