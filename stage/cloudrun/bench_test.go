package cloudrun_test

import (
	"strconv"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
)

// BenchmarkDeploy measures a RouteAll deploy of a new revision through the
// official client to the emulator (GetService, UpdateService, GetRevision).
func BenchmarkDeploy(b *testing.B) { benchDeploy(b, newEnv(b, nil)) }

// BenchmarkDeployGRPCvsREST is BenchmarkDeploy over gRPC and over
// REST/JSON (WithREST: the same calls, transcoded by the emulator into its
// gRPC services).
func BenchmarkDeployGRPCvsREST(b *testing.B) {
	b.Run("grpc", func(b *testing.B) { benchDeploy(b, newEnv(b, nil)) })
	b.Run("rest", func(b *testing.B) { benchDeploy(b, newRESTEnv(b, nil)) })
}

func benchDeploy(b *testing.B, e env) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		mustDeploy(b, e.svc, release("r"+strconv.Itoa(i), stage.RouteAll))
	}
}

// BenchmarkDeployAdopt measures a re-run of a deploy that is already done
// (GetService, GetRevision, no write).
func BenchmarkDeployAdopt(b *testing.B) {
	e := newEnv(b, nil)
	r := release("a1", stage.RouteAll, "dev")
	mustDeploy(b, e.svc, r)
	b.ReportAllocs()
	for b.Loop() {
		mustDeploy(b, e.svc, r)
	}
}

// BenchmarkSetSplit measures SetSplit at the version it last returned (one
// UpdateService, no read).
func BenchmarkSetSplit(b *testing.B) { benchSetSplit(b, newEnv(b, nil)) }

// BenchmarkSetSplitGRPCvsREST is BenchmarkSetSplit over gRPC and over
// REST/JSON (WithREST).
func BenchmarkSetSplitGRPCvsREST(b *testing.B) {
	b.Run("grpc", func(b *testing.B) { benchSetSplit(b, newEnv(b, nil)) })
	b.Run("rest", func(b *testing.B) { benchSetSplit(b, newRESTEnv(b, nil)) })
}

func benchSetSplit(b *testing.B, e env) {
	mustDeploy(b, e.svc, release("a1", stage.RouteAll))
	mustDeploy(b, e.svc, release("b2", stage.RouteNone, "candidate"))
	sp, err := e.svc.Split(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	p := 0
	for b.Loop() {
		p = (p + 5) % 100
		sp.Targets = []traffic.Target{{Revision: "api-a1", Percent: 100 - p}, {Revision: "api-b2", Percent: p, Tag: "candidate"}}
		if sp, err = e.svc.SetSplit(b.Context(), sp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIAMEnforcement is BenchmarkDeploy and BenchmarkSetSplit over
// gRPC with the emulator's IAM enforcement off and on (cloudrunfake.WithIAM:
// every call carries a token that resolves to a principal granted
// roles/run.developer on the project).
func BenchmarkIAMEnforcement(b *testing.B) {
	enforced := func(b *testing.B) env {
		iam := emulation.IAM{
			Resolve: func(token string) (emulation.Principal, bool) { return memberPrincipal("user:" + token), token != "" },
			Policy: func(resource string) *iampb.Policy {
				return &iampb.Policy{Bindings: []*iampb.Binding{{Role: "roles/run.developer", Members: []string{"user:ci@example.com"}}}}
			},
			Strict: true,
		}
		return newEnv(b, []cloudrunfake.Option{cloudrunfake.WithIAM(iam)},
			cloudrun.WithClientOptions(option.WithGRPCDialOption(grpc.WithPerRPCCredentials(emulation.Bearer("ci@example.com")))))
	}
	b.Run("deploy/off", func(b *testing.B) { benchDeploy(b, newEnv(b, nil)) })
	b.Run("deploy/on", func(b *testing.B) { benchDeploy(b, enforced(b)) })
	b.Run("setsplit/off", func(b *testing.B) { benchSetSplit(b, newEnv(b, nil)) })
	b.Run("setsplit/on", func(b *testing.B) { benchSetSplit(b, enforced(b)) })
}

// memberPrincipal is a principal that matches one IAM member.
type memberPrincipal string

func (p memberPrincipal) Matches(member string) bool { return member == string(p) }
