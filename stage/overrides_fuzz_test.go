package stage_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
)

// FuzzValidateResources checks that ValidateResources never panics, that
// its errors wrap ErrInvalid, and that it agrees with Overrides.Validate on
// a pair that is set on both sides.
func FuzzValidateResources(f *testing.F) {
	for _, s := range [][2]string{
		{"1", "512Mi"}, {"2", "8Gi"}, {"4", "1Gi"}, {"8", "32Gi"}, {"0.5", "1Gi"}, {"500m", "2Gi"},
		{"", "8Gi"}, {"3", ""}, {"0.08", "128Mi"}, {"1.0005", "1G"}, {"999999m", "1.5Gi"}, {"1", "99999999999Gi"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, cpu, memory string) {
		err := stage.ValidateResources(cpu, memory)
		if err != nil && !errors.Is(err, twostage.ErrInvalid) {
			t.Fatalf("ValidateResources(%q, %q) = %v, not wrapping ErrInvalid", cpu, memory, err)
		}
		if cpu == "" || memory == "" {
			return
		}
		verr := stage.Overrides{CPU: cpu, Memory: memory}.Validate()
		if (err == nil) != (verr == nil) {
			t.Fatalf("ValidateResources(%q, %q) = %v but Overrides.Validate() = %v", cpu, memory, err, verr)
		}
	})
}

// FuzzOverrides checks Validate's errors, the fingerprint's form and
// stability, and that applying valid overrides leaves no drift on any
// declared setting.
func FuzzOverrides(f *testing.F) {
	f.Add("LOG_LEVEL", "debug", "DB_PASSWORD", "db-password", "3", "OLD", "api@p.iam.gserviceaccount.com", "2", "2Gi", int32(1), int32(10), int32(80), "team", "core")
	f.Add("PORT", "1", "K", "projects/123/secrets/s", "latest", "", "", "0.5", "512Mi", int32(-1), int32(0), int32(1), "run.googleapis.com/x", "")
	f.Add("1A", "", "", "", "", "X", "a@b", "", "", int32(3), int32(2), int32(1001), "", "v")
	f.Add("A", "x", "A", "s", "01", "A", "A@B.C", "3", "64Gi", int32(0), int32(1), int32(0), stage.LabelCommit, "x")
	f.Fuzz(func(t *testing.T, env, val, secEnv, secret, version, remove, sa, cpu, mem string, minI, maxI, conc int32, lk, lv string) {
		o := stage.Overrides{ServiceAccount: sa, CPU: cpu, Memory: mem, Labels: map[string]string{}}
		if env != "" {
			o.Env = map[string]string{env: val}
		}
		if secEnv != "" {
			o.Secrets = map[string]stage.SecretRef{secEnv: {Secret: secret, Version: version}}
		}
		if remove != "" {
			o.RemoveEnv = []string{remove}
		}
		if minI != 0 {
			o.MinInstances = &minI
		}
		if maxI != 0 {
			o.MaxInstances = &maxI
		}
		if conc != 0 {
			o.Concurrency = &conc
		}
		if lk != "" {
			o.Labels[lk] = lv
		}
		err := o.Validate()
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) || !strings.HasPrefix(err.Error(), "stage: ") {
				t.Fatalf("Validate() = %v, want a stage error wrapping ErrInvalid", err)
			}
			return
		}
		fp := o.Fingerprint()
		if o.IsZero() != (fp == "") {
			t.Fatalf("Fingerprint() = %q for IsZero() %v", fp, o.IsZero())
		}
		if fp != "" && (len(fp) != 16 || strings.Trim(fp, "0123456789abcdef") != "") {
			t.Fatalf("Fingerprint() = %q, want 16 lower-case hex characters", fp)
		}
		if c := o.Clone(); c.Fingerprint() != fp || !c.Equal(o) {
			t.Fatalf("a clone has another fingerprint")
		}
		live := stage.Overrides{
			Env:     map[string]string{"LIVE": "1", env + "_X": "y"},
			Secrets: map[string]stage.SecretRef{"LIVE_SECRET": {Secret: "s", Version: "1"}},
			CPU:     "1", Memory: "512Mi", Labels: map[string]string{"live": "yes"},
		}
		if remove != "" {
			live.Env[remove] = "gone"
		}
		for _, it := range stage.CompareLive(o, o.ApplyTo(live)) {
			if it.Declared != "" {
				t.Fatalf("after ApplyTo, declared %s still drifts: %v", it.Field, it)
			}
		}
	})
}

func BenchmarkOverrides(b *testing.B) {
	o := richOverrides()
	b.ReportAllocs()
	for b.Loop() {
		if err := o.Validate(); err != nil {
			b.Fatal(err)
		}
		_ = o.Fingerprint()
	}
}

// FuzzOverridesNetwork checks the port, timeout, VPC and Cloud SQL
// settings: Validate's errors wrap ErrInvalid, valid settings have a
// fingerprint that does not depend on the order of the instances, and
// applying them leaves no drift.
func FuzzOverridesNetwork(f *testing.F) {
	f.Add(int32(8080), int64(300), "projects/my-project/locations/us-central1/connectors/c1", "all-traffic", "my-project:us-central1:db", "my-project:europe-west1:db2")
	f.Add(int32(0), int64(0), "", "", "", "")
	f.Add(int32(70000), int64(7200), "c1", "all", "db", "db")
	f.Add(int32(-1), int64(1), "projects/1/locations/x/connectors/-", "private-ranges-only", "example.com:p-roj:us:db", ":::")
	f.Fuzz(func(t *testing.T, port int32, seconds int64, connector, egress, sql1, sql2 string) {
		o := stage.Overrides{Timeout: time.Duration(seconds) * time.Second, VPCConnector: connector, VPCEgress: egress}
		if port != 0 {
			o.Port = &port
		}
		for _, s := range []string{sql1, sql2} {
			if s != "" {
				o.CloudSQLInstances = append(o.CloudSQLInstances, s)
			}
		}
		if err := o.Validate(); err != nil {
			if !errors.Is(err, twostage.ErrInvalid) || !strings.HasPrefix(err.Error(), "stage: ") {
				t.Fatalf("Validate() = %v, want a stage error wrapping ErrInvalid", err)
			}
			return
		}
		r := o.Clone()
		slices.Reverse(r.CloudSQLInstances)
		if r.Fingerprint() != o.Fingerprint() {
			t.Fatalf("the order of the Cloud SQL instances changes the fingerprint")
		}
		live := stage.Overrides{Port: new(int32), Timeout: time.Minute, VPCEgress: stage.EgressPrivateRanges, CloudSQLInstances: []string{"p-live1:r:i"}}
		for _, it := range stage.CompareLive(o, o.ApplyTo(live)) {
			if it.Declared != "" {
				t.Fatalf("after ApplyTo, declared %s still drifts: %v", it.Field, it)
			}
		}
	})
}
