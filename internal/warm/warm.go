package warm

import (
	_ "cloud.google.com/go/artifactregistry/apiv1"
	_ "cloud.google.com/go/iam/apiv1/iampb"
	_ "cloud.google.com/go/longrunning/autogen"
	_ "cloud.google.com/go/monitoring/apiv3/v2"
	_ "cloud.google.com/go/resourcemanager/apiv3"
	_ "cloud.google.com/go/run/apiv2"
	_ "github.com/google/cel-go/cel"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/google"
	_ "github.com/google/go-containerregistry/pkg/v1/layout"
	_ "github.com/google/go-containerregistry/pkg/v1/mutate"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/google/go-containerregistry/pkg/v1/tarball"
	_ "go.uber.org/goleak"
	_ "golang.org/x/oauth2/google/externalaccount"
	_ "golang.org/x/time/rate"
	_ "google.golang.org/api/iam/v1"
	_ "google.golang.org/grpc"
	_ "google.golang.org/protobuf/testing/protocmp"
)
