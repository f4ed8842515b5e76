package cloudrun_test

import (
	"strconv"
	"testing"

	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
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
