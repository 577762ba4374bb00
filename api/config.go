package api

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// API versions. The stock docker CLI uses min(its own, APIVersion), so
// announcing 1.41 (Docker 20.10) makes docker 28 talk 1.41, the version the
// request bodies in api/convert/testdata/cli were recorded with.
const (
	// APIVersion is the highest Engine API version served, announced in
	// the Api-Version header.
	APIVersion = "1.41"
	// MinAPIVersion is the lowest version accepted in a /vX.Y/ prefix;
	// 1.24 is where Docker's swarm API took its current shape.
	MinAPIVersion = "1.24"
)

// Config configures a Server. Start from DefaultConfig.
type Config struct {
	// Version is shoal's version, reported as the engine version by
	// /version and /info and in the Server header.
	Version string

	// MaxBodyBytes is the largest request body accepted; larger ones are
	// refused with 413. A service spec the CLI sends is a few kilobytes;
	// the largest body is a config of just under 1000 KiB (Docker's
	// limit), 1.33 MB once base64-encoded in its JSON. 2 MiB takes it
	// while keeping a misbehaving client from making a manager buffer (and
	// Raft replicate) many megabytes.
	MaxBodyBytes int64

	// RequestTimeout bounds each request except log streams: the read
	// barrier, the Raft write and the reads. It is well above a Raft
	// leader's wait for a quorum (raft.Config.LeaderWaitTimeout, 3 s by
	// default), so a request fails with the Raft layer's clear no-quorum
	// error rather than a bare timeout.
	RequestTimeout time.Duration

	// Clock tells time for the commands the server writes (CreatedAt,
	// UpdatedAt, UpdateStatus.StartedAt). Tests inject a fixed clock.
	Clock func() time.Time

	// Logger receives the server's logs, with component=api.
	Logger *slog.Logger
}

// DefaultMaxBodyBytes is the default Config.MaxBodyBytes.
const DefaultMaxBodyBytes = 2 << 20

// DefaultConfig returns the settings for production.
func DefaultConfig() Config {
	return Config{
		Version:        "dev",
		MaxBodyBytes:   DefaultMaxBodyBytes,
		RequestTimeout: 30 * time.Second,
		Clock:          time.Now,
		Logger:         slog.Default(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Version == "" {
		errs = append(errs, errors.New("version is empty"))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("max body bytes must be positive"))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, errors.New("request timeout must be positive"))
	}
	if c.Clock == nil {
		errs = append(errs, errors.New("clock is nil"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("logger is nil"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("api: invalid config: %w", errors.Join(errs...))
	}
	return nil
}
