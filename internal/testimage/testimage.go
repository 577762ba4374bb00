// Package testimage builds the demo workload image (cmd/demoapp in a FROM
// scratch image, deploy/demoapp/Dockerfile) through the Docker API, for
// tests that run real containers: executor, agent, end-to-end, benchmarks.
//
// No registry is needed: the binary is compiled here with `go build`
// (CGO_ENABLED=0, for the engine's architecture) and sent in a tar build
// context. Builds are cached: the image carries a label with the hash of
// the binary and Dockerfile, and Ensure does nothing when an image with
// that hash exists. Within one process the work is done once per variant;
// concurrent test processes take turns through a file lock.
//
// Typical use in a test:
//
//	cli := testimage.Client(t)              // skips the test without Docker
//	img, err := testimage.Ensure(ctx, cli)  // "shoal/demoapp:test"
//	nohc, err := testimage.EnsureVariant(ctx, cli, testimage.NoHealthcheck)
//
// The go toolchain must be on PATH and the module's source must be on disk,
// which is the case under `go test`.
package testimage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Image tags of the variants.
const (
	// Tag is the demo image with the Dockerfile's HEALTHCHECK.
	Tag = "shoal/demoapp:test"
	// NoHealthcheckTag is the demo image with HEALTHCHECK NONE.
	NoHealthcheckTag = "shoal/demoapp:nohealth"
)

// HashLabel is the image label holding the hash of the binary and
// Dockerfile the image was built from.
const HashLabel = "io.shoal.testimage.hash"

// Variant is one flavour of the demo image.
type Variant struct {
	// Tag is the reference the image is tagged with.
	Tag string
	// Healthcheck keeps the Dockerfile's HEALTHCHECK; when false it is
	// replaced with HEALTHCHECK NONE.
	Healthcheck bool
}

// The variants tests use.
var (
	// Default is what Ensure builds.
	Default = Variant{Tag: Tag, Healthcheck: true}
	// NoHealthcheck is the image without a healthcheck: its containers are
	// RUNNING as soon as they start.
	NoHealthcheck = Variant{Tag: NoHealthcheckTag, Healthcheck: false}
)

// Errors.
var (
	// ErrNoModule means the module's source could not be found.
	ErrNoModule = errors.New("testimage: module source not found")
	// ErrDockerfile means deploy/demoapp/Dockerfile lacks what a variant
	// needs to change.
	ErrDockerfile = errors.New("testimage: unexpected Dockerfile")
	// ErrBuild means the engine refused or failed the build.
	ErrBuild = errors.New("testimage: image build failed")
)

// Ensure makes sure the Default variant exists and returns its tag.
func Ensure(ctx context.Context, cli *client.Client) (string, error) {
	return EnsureVariant(ctx, cli, Default)
}

// EnsureVariant makes sure the variant's image exists, built from the
// current source, and returns its tag. It is safe for concurrent use.
func EnsureVariant(ctx context.Context, cli *client.Client, v Variant) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if done[v] {
		return v.Tag, nil
	}
	bin, err := demoappBinary(ctx, cli)
	if err != nil {
		return "", err
	}
	dockerfile, err := dockerfileFor(v)
	if err != nil {
		return "", err
	}
	sum := sha256.New()
	sum.Write(bin)
	sum.Write(dockerfile)
	hash := hex.EncodeToString(sum.Sum(nil))

	unlock, err := lockBuilds()
	if err != nil {
		return "", err
	}
	defer unlock()
	fresh, err := cached(ctx, cli, v.Tag, hash)
	if err != nil {
		return "", err
	}
	if !fresh {
		if err := buildImage(ctx, cli, v.Tag, hash, bin, dockerfile); err != nil {
			return "", err
		}
	}
	done[v] = true
	return v.Tag, nil
}

// Client returns a Docker client for a test, or skips the test with the
// reason when no daemon answers. The client is closed when the test ends.
func Client(tb testing.TB) *client.Client {
	tb.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		tb.Skipf("docker: no usable client configuration: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		_ = cli.Close()
		tb.Skipf("docker: no daemon reachable at %s: %v", cli.DaemonHost(), err)
	}
	tb.Cleanup(func() { _ = cli.Close() })
	return cli
}

var (
	mu     sync.Mutex           // serialises builds within the process
	done   = map[Variant]bool{} // variants known to be up to date
	binary []byte               // the compiled demoapp, built once per process
)

// demoappBinary compiles cmd/demoapp for the engine's architecture, once.
func demoappBinary(ctx context.Context, cli *client.Client) ([]byte, error) {
	if binary != nil {
		return binary, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	ver, err := cli.ServerVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("testimage: engine version: %w", err)
	}
	dir, err := os.MkdirTemp("", "shoal-testimage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "demoapp")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w",
		"-o", out, "./cmd/demoapp")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+ver.Arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testimage: go build ./cmd/demoapp: %w\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	binary = b
	return binary, nil
}

// moduleRoot finds the module's directory: from this file's path when the
// build kept it, else from `go env GOMOD` in the working directory.
func moduleRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Join(filepath.Dir(file), "..", "..")
		if _, err := os.Stat(filepath.Join(root, "cmd", "demoapp")); err == nil {
			return root, nil
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("%w: go env GOMOD: %w", ErrNoModule, err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("%w: not inside the module", ErrNoModule)
	}
	root := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, "cmd", "demoapp")); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoModule, err)
	}
	return root, nil
}

// dockerfileFor returns deploy/demoapp/Dockerfile, rewritten for v.
func dockerfileFor(v Variant) ([]byte, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	df, err := os.ReadFile(filepath.Join(root, "deploy", "demoapp", "Dockerfile"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDockerfile, err)
	}
	if v.Healthcheck {
		return df, nil
	}
	var out bytes.Buffer
	replaced := 0
	sc := bufio.NewScanner(bytes.NewReader(df))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(line)), "HEALTHCHECK ") {
			line = "HEALTHCHECK NONE"
			replaced++
		}
		out.WriteString(line + "\n")
	}
	if replaced != 1 {
		return nil, fmt.Errorf("%w: want one HEALTHCHECK line, found %d", ErrDockerfile, replaced)
	}
	return out.Bytes(), nil
}

// cached reports whether tag already names an image with the hash; when
// another image has the hash, it is tagged and counts as cached.
func cached(ctx context.Context, cli *client.Client, tag, hash string) (bool, error) {
	insp, err := cli.ImageInspect(ctx, tag)
	switch {
	case err == nil:
		if insp.Config != nil && insp.Config.Labels[HashLabel] == hash {
			return true, nil
		}
	case !client.IsErrNotFound(err):
		return false, fmt.Errorf("testimage: inspect %s: %w", tag, err)
	}
	imgs, err := cli.ImageList(ctx, image.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", HashLabel+"="+hash)),
	})
	if err != nil {
		return false, fmt.Errorf("testimage: list images: %w", err)
	}
	if len(imgs) == 0 {
		return false, nil
	}
	if err := cli.ImageTag(ctx, imgs[0].ID, tag); err != nil {
		return false, fmt.Errorf("testimage: tag %s: %w", tag, err)
	}
	return true, nil
}

// buildImage sends a build context of the binary and Dockerfile.
func buildImage(ctx context.Context, cli *client.Client, tag, hash string, bin, dockerfile []byte) error {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, dockerfile},
		{"demoapp", 0o755, bin},
	} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}

	resp, err := cli.ImageBuild(ctx, &tarball, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Labels:      map[string]string{HashLabel: hash},
		Remove:      true,
		ForceRemove: true,
		// The classic builder needs no BuildKit session and pulls nothing
		// for FROM scratch.
		Version: build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBuild, tag, err)
	}
	defer resp.Body.Close()
	if err := readBuildStream(resp.Body); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBuild, tag, err)
	}
	insp, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		return fmt.Errorf("%w: %s not found after the build: %w", ErrBuild, tag, err)
	}
	if insp.Config == nil || insp.Config.Labels[HashLabel] != hash {
		return fmt.Errorf("%w: %s does not carry the built hash", ErrBuild, tag)
	}
	return nil
}

// readBuildStream drains the engine's JSON progress stream and returns the
// error it reports, if any: a failed build still answers 200.
func readBuildStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	var log strings.Builder
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading build output: %w", err)
		}
		log.WriteString(msg.Stream)
		if msg.Error != "" {
			return fmt.Errorf("%s\n%s", msg.Error, log.String())
		}
	}
}
