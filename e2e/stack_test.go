package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/testimage"
)

// TestStackDeployAcrossHosts is issue 16's acceptance: a compose file with
// a front service (2 replicas, a published port, a secret), a back service
// and the stack's default network, deployed with the stock `docker stack
// deploy` on three hosts. front resolves and reaches back by name and by
// tasks.back; the published port answers on every host and balances over
// both replicas; `docker stack rm` leaves no network, rule, tmpfs or
// container behind on any host.
func TestStackDeployAcrossHosts(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI")
	}
	hc := startHostCluster(t, 3)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	compose := filepath.Join(dir, "compose.yml")
	if err := os.WriteFile(compose, []byte(`services:
  front:
    image: `+testimage.NoHealthcheckTag+`
    deploy:
      replicas: 2
    ports:
      - "8091:8080"
    secrets: [pw]
  back:
    image: `+testimage.NoHealthcheckTag+`
secrets:
  pw:
    file: ./pw.txt
`), 0o600); err != nil {
		t.Fatal(err)
	}
	docker := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("docker", append([]string{"--host", "unix://" + hc.nodes["h1"].Socket}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	docker("stack", "deploy", "--resolve-image", "never", "-c", compose, "app")

	nets, err := hc.cl.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", "app_default"))})
	if err != nil || len(nets) != 1 {
		t.Fatalf("app_default: %v %v", nets, err)
	}
	appNet := nets[0].ID
	ids := map[string]string{}
	for _, name := range []string{"app_front", "app_back"} {
		svcs, err := hc.cl.ServiceList(ctx, serviceListByName(name))
		if err != nil || len(svcs) != 1 {
			t.Fatalf("%s: %v %v", name, svcs, err)
		}
		ids[name] = svcs[0].ID
	}
	front := hc.waitTasks(t, ids["app_front"], appNet, 2)
	back := hc.waitTasks(t, ids["app_back"], appNet, 1)

	for _, f := range front {
		proctest.Eventually(t, time.Minute, f.host+": front resolves and reaches back", func() error {
			if p := hc.probe(t, f, "resolve", "tasks.back"); p.Err != "" || !slices.Equal(p.Addrs, []string{back[0].addr.String()}) {
				return fmt.Errorf("tasks.back: %v %s, want %s", p.Addrs, p.Err, back[0].addr)
			}
			for _, url := range []string{"http://back:8080/", "http://tasks.back:8080/"} {
				if p := hc.probe(t, f, "fetch", url); p.Err != "" || !strings.Contains(p.Body, back[0].id) {
					return fmt.Errorf("%s: %d %s", url, p.Status, p.Err)
				}
			}
			return nil
		})
	}
	for _, from := range hc.bed.Hosts {
		for _, to := range hc.bed.Hosts {
			seen := map[string]bool{}
			proctest.Eventually(t, time.Minute, fmt.Sprintf("%s: %s:8091 reaches both front tasks", from.Name, to.Name), func() error {
				out, err := from.Command("curl", "-sS", "-m", "3", "http://"+to.IP+":8091/").CombinedOutput()
				if err != nil {
					return fmt.Errorf("%v: %s", err, out)
				}
				for _, f := range front {
					if strings.Contains(string(out), f.id) {
						seen[f.id] = true
					}
				}
				if len(seen) < 2 {
					return fmt.Errorf("reached %d of 2", len(seen))
				}
				return nil
			})
		}
	}

	docker("stack", "rm", "app")
	for _, h := range hc.bed.Hosts {
		proctest.Eventually(t, 2*time.Minute, h.Name+" is clean", func() error {
			var left []string
			if out, err := h.Command("iptables-save").CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			} else if s := grepLines(string(out), "SHOAL"); s != "" {
				left = append(left, "rules:\n"+s)
			}
			if out, err := h.Command("docker", "ps", "-aq").CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			} else if strings.TrimSpace(string(out)) != "" {
				left = append(left, "containers: "+string(out))
			}
			if out, err := h.Command("docker", "network", "ls", "-q", "--filter", "name=shoal-"+appNet).CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			} else if strings.TrimSpace(string(out)) != "" {
				left = append(left, "network: "+string(out))
			}
			if mounts, err := os.ReadFile("/proc/self/mounts"); err == nil {
				for _, f := range front {
					if strings.Contains(string(mounts), f.id) {
						left = append(left, "tmpfs of "+f.id)
					}
				}
			}
			if len(left) > 0 {
				return fmt.Errorf("left: %s", strings.Join(left, "; "))
			}
			return nil
		})
	}
}

func serviceListByName(name string) swarm.ServiceListOptions {
	return swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("name", name))}
}

// waitTasks waits for n running tasks of a service with an address on a
// network, wherever they run.
func (hc *hostCluster) waitTasks(t *testing.T, serviceID, networkID string, n int) []overlayTask {
	t.Helper()
	var out []overlayTask
	proctest.Eventually(t, 3*time.Minute, fmt.Sprintf("%d running tasks of %s", n, serviceID), func() error {
		out = hc.overlayTasks(t, serviceID, networkID)
		if len(out) != n {
			return fmt.Errorf("%d running with an address", len(out))
		}
		return nil
	})
	return out
}
