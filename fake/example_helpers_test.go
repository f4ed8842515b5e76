package fake_test

import "github.com/twostage/twostage/registry"

func registryArtifact(digest string) registry.Artifact {
	return registry.Artifact{Repository: "europe-west1-docker.pkg.dev/my-project/apps/api", Digest: digest}
}
