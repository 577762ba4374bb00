package allocator

import (
	"github.com/shoal-dev/shoal/allocator/ipam"
	"github.com/shoal-dev/shoal/model"
)

// IngressNetworkName is the name of the routing mesh's network, Docker's.
const IngressNetworkName = "ingress"

// IngressNetwork returns the ingress network `manager init` creates, with
// ID id: an overlay network on ipam.IngressSubnet, as Docker's. Services
// that publish ingress-mode ports get a virtual IP on it, and their tasks
// an address.
func IngressNetwork(id string) *model.Network {
	return &model.Network{
		ID: id,
		Spec: model.NetworkSpec{
			Annotations: model.Annotations{
				Name:   IngressNetworkName,
				Labels: map[string]string{},
			},
			Driver:  model.DriverOverlay,
			Ingress: true,
			IPAM: &model.IPAMOptions{
				Driver:  "default",
				Configs: []model.IPAMConfig{{Subnet: ipam.IngressSubnet, Gateway: "10.0.0.1"}},
			},
		},
	}
}
