package testimage

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestDockerfileVariants(t *testing.T) {
	with, err := dockerfileFor(Default)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(with), "CMD [\"/demoapp\",\"health\"]") {
		t.Fatalf("default Dockerfile lost its healthcheck:\n%s", with)
	}
	without, err := dockerfileFor(NoHealthcheck)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(without), "HEALTHCHECK NONE") || strings.Contains(string(without), "/demoapp\",\"health") {
		t.Fatalf("no-healthcheck Dockerfile:\n%s", without)
	}
}

func TestEnsure(t *testing.T) {
	cli := Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	tag, err := Ensure(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Ensure: %s in %v", tag, time.Since(start))
	insp, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if hc := insp.Config.Healthcheck; hc == nil || len(hc.Test) == 0 || hc.Test[0] != "CMD" {
		t.Fatalf("%s healthcheck = %+v, want the Dockerfile's CMD", tag, hc)
	}
	if insp.Config.User != "65534" || insp.Config.Labels[HashLabel] == "" {
		t.Fatalf("%s config = %+v", tag, insp.Config)
	}

	nohc, err := EnsureVariant(ctx, cli, NoHealthcheck)
	if err != nil {
		t.Fatal(err)
	}
	insp, err = cli.ImageInspect(ctx, nohc)
	if err != nil {
		t.Fatal(err)
	}
	if hc := insp.Config.Healthcheck; hc == nil || len(hc.Test) == 0 || hc.Test[0] != "NONE" {
		t.Fatalf("%s healthcheck = %+v, want NONE", nohc, hc)
	}

	// A fresh process would find the images by their hash label: forget
	// what this one knows and check that nothing is rebuilt.
	mu.Lock()
	done = map[Variant]bool{}
	mu.Unlock()
	before := insp.ID
	if _, err := EnsureVariant(ctx, cli, NoHealthcheck); err != nil {
		t.Fatal(err)
	}
	insp, err = cli.ImageInspect(ctx, nohc)
	if err != nil {
		t.Fatal(err)
	}
	if insp.ID != before {
		t.Fatalf("cached image rebuilt: %s -> %s", before, insp.ID)
	}
}
