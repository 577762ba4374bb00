// Package engine is what the benchmarks that run real containers need from
// the local Docker Engine: a client, the demo images, and removing the
// containers a benchmark made (by label) so that nothing is left behind.
package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/internal/testimage"
)

// The demo images: the one with the Dockerfile's HEALTHCHECK (1 s
// interval, 5 s start period) and the one without.
const (
	HealthImage   = "shoal/demoapp:latest"
	NoHealthImage = testimage.NoHealthcheckTag
)

// Connect returns a client of the local engine (DOCKER_HOST or the
// default socket) after checking that it answers.
func Connect() (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("no Docker daemon at %s: %w", cli.DaemonHost(), err)
	}
	return cli, nil
}

// EnsureImages makes sure the demo images exist: an existing image is
// used as it is (deploy/build-images.sh builds shoal/demoapp:latest);
// a missing one is built from the current source by internal/testimage.
func EnsureImages(ctx context.Context, cli *client.Client) error {
	for _, v := range []testimage.Variant{
		{Tag: HealthImage, Healthcheck: true},
		testimage.NoHealthcheck,
	} {
		if _, err := cli.ImageInspect(ctx, v.Tag); err == nil {
			continue
		}
		if _, err := testimage.EnsureVariant(ctx, cli, v); err != nil {
			return fmt.Errorf("building %s: %w", v.Tag, err)
		}
	}
	return nil
}

// ListByLabel returns the IDs of the containers, running or not, that
// carry label (KEY or KEY=VALUE).
func ListByLabel(ctx context.Context, cli *client.Client, label string) ([]string, error) {
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids, nil
}

// RemoveByLabel force-removes the containers that carry label, 8 at a
// time, and returns how many it removed.
func RemoveByLabel(ctx context.Context, cli *client.Client, label string) (int, error) {
	ids, err := ListByLabel(ctx, cli, label)
	if err != nil {
		return 0, err
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, 8)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
			if err != nil && !client.IsErrNotFound(err) {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return len(ids), firstErr
}

// WaitNone waits until no container carries label.
func WaitNone(ctx context.Context, cli *client.Client, label string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ids, err := ListByLabel(ctx, cli, label)
		if err == nil && len(ids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d containers with label %s still there after %v (err %v)", len(ids), label, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
