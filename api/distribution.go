package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// distribution answers GET /distribution/{image}/json, which the CLI asks
// before it creates or updates a service, to pin the image by digest and
// fill the service's platforms. Managers do not contact registries, so the
// answer comes from what the request and the state know:
//
//   - an image pinned by digest is answered with that digest, and with the
//     platforms of the services that run it, if any;
//   - a tag is answered 404. Answering it with the digest a service
//     recorded earlier would pin moving tags to old images: after a push of
//     app:latest, `docker service update --image app:latest` would change
//     nothing. On a 404 the CLI warns that the image could not be
//     resolved and sends the tag as typed; each node pulls it.
func (s *Server) distribution(w http.ResponseWriter, r *http.Request) error {
	image, ok := strings.CutSuffix(r.PathValue("ref"), "/json")
	if !ok || image == "" {
		return notFound("page not found: %s %s", r.Method, r.URL.Path)
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return paramError("image reference (path)", image, fmt.Sprintf("an image reference such as nginx:1.27 or name@sha256:<digest> (%v)", err))
	}
	canonical, pinned := named.(reference.Canonical)
	if !pinned {
		return notFound("no digest known for image %s: shoal managers do not contact registries, so an image is pinned only if it is given by digest (name@sha256:...); each node will pull %s itself", image, image)
	}
	var platforms []ocispec.Platform
	err = s.view(r.Context(), func(tx state.ReadTx) error {
		services, err := tx.FindServices(state.All)
		if err != nil {
			return err
		}
		seen := map[model.Platform]bool{}
		for _, svc := range services {
			ref, err := reference.ParseNormalizedNamed(svc.Spec.Task.Container.Image)
			c, ok := ref.(reference.Canonical)
			if err != nil || !ok || c.Digest() != canonical.Digest() || c.Name() != canonical.Name() {
				continue
			}
			for _, p := range svc.Spec.Task.Placement.Platforms {
				if !seen[p] {
					seen[p] = true
					platforms = append(platforms, ocispec.Platform{OS: p.OS, Architecture: p.Architecture})
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registry.DistributionInspect{
		Descriptor: ocispec.Descriptor{Digest: canonical.Digest()},
		Platforms:  platforms,
	})
}
