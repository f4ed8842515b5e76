package cloudmonitoring_test

import (
	"time"

	"github.com/twostage/twostage/traffic"
)

func checkAt(now time.Time) traffic.Check {
	return traffic.Check{Stable: "svc-v1", Candidate: "svc-v2", Step: 1, Percent: 5, Since: t0, Now: now}
}
