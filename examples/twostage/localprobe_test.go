package main

import (
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/examples/twostage/internal/backend"
	"github.com/twostage/twostage/examples/twostage/internal/config"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/pipeline/prober"
)

// TestLocalProbe: in local play on the wall clock with a sequential gate
// reading Cloud Monitoring, promote's gate runs the active probe against
// the tag URLs through the emulator's data plane (issue 17); on a
// simulated clock, against Google Cloud, or with scripted metrics it does
// not. Nothing here waits: the probe starts only with a rollout.
func TestLocalProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		clock     twostage.Clock
		dataPlane string
		source    string
		want      bool
	}{
		{"local play, wall clock, Cloud Monitoring", twostage.SystemClock(), "127.0.0.1:1", config.MetricsCloudMonitoring, true},
		{"simulated clock", fake.NewClock(time.Time{}), "127.0.0.1:1", config.MetricsCloudMonitoring, false},
		{"Google Cloud", twostage.SystemClock(), "", config.MetricsCloudMonitoring, false},
		{"scripted metrics", twostage.SystemClock(), "127.0.0.1:1", config.MetricsFile, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := &config.Config{}
			cfg.Project, cfg.Services.Prod = "test-project", "api"
			cfg.Rollout.Metrics.Source, cfg.Rollout.Metrics.File = tt.source, "traffic.json"
			cfg.Rollout.Gates = []config.Gate{{Type: config.GateSequential}}
			b := &backend.Backend{Emulated: true, DataPlane: tt.dataPlane, MonitoringOptions: []option.ClientOption{
				option.WithEndpoint("127.0.0.1:1"), option.WithoutAuthentication(),
				option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			}}
			t.Cleanup(func() { b.Close() })
			a := &app{cfg: cfg, backend: b, clock: tt.clock}
			gates, err := a.gates(t.Context(), tt.clock, "us-central1", nil)
			if err != nil || len(gates) != 1 {
				t.Fatalf("gates = %v, %v; want one gate", gates, err)
			}
			_, probed := gates[0].(*prober.Gate)
			if probed != tt.want {
				t.Errorf("gate %T: probed %v, want %v", gates[0], probed, tt.want)
			}
		})
	}
}
