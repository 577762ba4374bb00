package netplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/vishvananda/netlink"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/model"
)

// TestStaleNetworkMakesRoom: a node killed with SIGKILL leaves its Docker
// networks on the engine, and the next cluster's networks reuse their
// subnets (new IDs, same default pools). Attaching a network of the view
// whose subnet such a leftover holds removes the leftover, with its VXLAN
// device, when it is ours (labelled), not in the view, has no container
// and is older than RemoveGrace; otherwise the leftover stays and the
// error names it and why.
func TestStaleNetworkMakesRoom(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("netplane: needs root (VXLAN devices)")
	}
	cli := testimage.Client(t)
	ctx := context.Background()
	cases := []struct {
		name string
		// The leftover network: labelled as ours, in the view (as another
		// network of the node), with a running container.
		labelled, inView, container bool
		grace                       time.Duration
		// removed: the leftover goes and the attach succeeds; else
		// the attach fails with an error holding every one of errHas.
		removed bool
		errHas  []string
	}{
		{name: "stale and unused", labelled: true, removed: true},
		{name: "stale with a container", labelled: true, container: true,
			errHas: []string{"not in this node's view", "1 container(s) attached", "stop them"}},
		{name: "stale but younger than the grace", labelled: true, grace: time.Hour,
			errHas: []string{"another agent of this engine may be about to use it"}},
		{name: "in the view", labelled: true, inView: true, errHas: []string{"overlapping: "}},
		{name: "not ours", errHas: []string{"overlapping: "}},
	}
	var image string
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
			oldID, newID := "npold"+suffix, "npnew"+suffix
			// 198.18.0.0/15 is for benchmarks: no one routes it.
			subnet := fmt.Sprintf("198.18.%d.0/24", 90+i)
			gateway := fmt.Sprintf("198.18.%d.1", 90+i)
			oldVNI := 5000 + uint32(time.Now().UnixNano()%1000)

			labels := map[string]string{}
			if tc.labelled {
				labels = map[string]string{LabelNetworkID: oldID, LabelNetworkName: "left-behind", LabelVNI: strconv.FormatUint(uint64(oldVNI), 10)}
			}
			oldName := DockerNetworkName(oldID)
			if _, err := cli.NetworkCreate(ctx, oldName, network.CreateOptions{
				Driver: "bridge",
				IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet, Gateway: gateway}}},
				// No routes: the bridge never gets a carrier.
				Internal: true,
				Options:  map[string]string{optBridgeName: bridgeName(oldID)},
				Labels:   labels,
			}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = cli.NetworkRemove(context.Background(), oldName)
				_ = cli.NetworkRemove(context.Background(), DockerNetworkName(newID))
				_ = removeLink(&netlink.Handle{}, vxlanName(oldID))
			})
			// The leftover's VXLAN device, as its owner made it.
			if err := netlink.LinkAdd(&netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: vxlanName(oldID)}, VxlanId: int(oldVNI), Port: VXLANPort}); err != nil {
				t.Fatal(err)
			}
			if tc.container {
				if image == "" {
					var err error
					if image, err = testimage.EnsureVariant(ctx, cli, testimage.NoHealthcheck); err != nil {
						t.Fatal(err)
					}
				}
				c, err := cli.ContainerCreate(ctx, &container.Config{Image: image, Labels: map[string]string{"io.shoal.test": t.Name()}},
					&container.HostConfig{NetworkMode: container.NetworkMode(oldName)}, nil, nil, "npstale-"+suffix)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
				})
				if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
					t.Fatal(err)
				}
			}

			cfg := DefaultConfig()
			cfg.Docker = cli
			cfg.NodeID = "node-a"
			cfg.LockDir = t.TempDir()
			cfg.RemoveGrace = tc.grace
			cfg.UnderlayMTU = 1400
			cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
			p, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			n := &model.Network{ID: newID, VNI: oldVNI, Spec: model.NetworkSpec{Annotations: model.Annotations{Name: "next-cluster"}, Driver: model.DriverOverlay},
				IPAM: []model.IPAMConfig{{Subnet: subnet, Gateway: gateway}}}
			view := &protocol.NetworkView{Networks: []protocol.NetworkState{{Network: n}}}
			if tc.inView {
				// Not a view a manager sends (one cluster's subnets never
				// overlap), but what the plane must not remove.
				view.Networks = append(view.Networks, protocol.NetworkState{Network: &model.Network{ID: oldID, VNI: oldVNI,
					IPAM: []model.IPAMConfig{{Subnet: subnet, Gateway: gateway}}}})
			}
			p.SetView(view)

			_, attachErr := p.Attach(ctx, newID)
			_, inspectErr := cli.NetworkInspect(ctx, oldName, network.InspectOptions{})
			_, linkErr := netlink.LinkByName(vxlanName(oldID))
			if tc.removed {
				if attachErr != nil {
					t.Fatalf("attach: %v", attachErr)
				}
				if inspectErr == nil || linkErr == nil {
					t.Fatalf("the leftover stayed: network %v, device %v", inspectErr, linkErr)
				}
				got, err := cli.NetworkInspect(ctx, DockerNetworkName(newID), network.InspectOptions{})
				if err != nil || len(got.IPAM.Config) != 1 || got.IPAM.Config[0].Subnet != subnet {
					t.Fatalf("the new network: %+v %v", got, err)
				}
				return
			}
			if attachErr == nil {
				t.Fatal("attach succeeded while another network holds the subnet")
			}
			if !exec.IsTemporary(attachErr) {
				t.Errorf("attach: %v, want a temporary error (retried)", attachErr)
			}
			if tc.labelled && !tc.inView && !errors.Is(attachErr, ErrSubnetHeld) {
				t.Errorf("attach: %v, want ErrSubnetHeld", attachErr)
			}
			for _, s := range append(tc.errHas, oldName) {
				if !strings.Contains(attachErr.Error(), s) {
					t.Errorf("attach error %q does not say %q", attachErr, s)
				}
			}
			if tc.container && !strings.Contains(attachErr.Error(), "npstale-"+suffix) {
				t.Errorf("attach error %q does not name the container", attachErr)
			}
			if inspectErr != nil || linkErr != nil {
				t.Fatalf("the leftover was removed: network %v, device %v", inspectErr, linkErr)
			}
			t.Logf("attach refused: %v", attachErr)
		})
	}
}
