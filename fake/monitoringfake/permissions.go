package monitoringfake

import (
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"

	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/internal/emulator"
)

// WithIAM enforces IAM on every call (see emulation.IAM): ListTimeSeries
// needs monitoring.timeSeries.list on the project it names, through the
// project's policy (roles/monitoring.viewer holds it; Cloud Monitoring's
// access control, cloud.google.com/monitoring/access-control). The default
// enforces nothing.
func WithIAM(iam emulation.IAM) Option { return func(c *config) { c.IAM = &iam } }

// authz is the server's IAM enforcement, or nil: the emulator holds no
// policies of its own; the project's come from IAM.Policy.
func (s *server) authz() *emulator.Authz {
	return emulator.NewAuthz(s.cfg.Options, func(_ string, req any) []emulator.Need {
		if r, ok := req.(*monitoringpb.ListTimeSeriesRequest); ok {
			return []emulator.Need{{Permission: "monitoring.timeSeries.list", Resource: r.GetName()}}
		}
		return nil
	}, nil)
}
