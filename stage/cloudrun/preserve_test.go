package cloudrun_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
)

// richTemplate is a revision template as Terraform or the console might
// leave it: every kind of setting a deploy must carry over.
func richTemplate() *runpb.RevisionTemplate {
	return &runpb.RevisionTemplate{
		Revision:    "api-seed",
		Labels:      map[string]string{"team": "payments", "cost-center": "cc-42"},
		Annotations: map[string]string{"example.com/owner": "payments", "example.com/runbook": "https://wiki/api"},
		Scaling:     &runpb.RevisionScaling{MinInstanceCount: 2, MaxInstanceCount: 30},
		VpcAccess: &runpb.VpcAccess{
			Connector: "projects/proj/locations/europe-west1/connectors/main",
			Egress:    runpb.VpcAccess_ALL_TRAFFIC,
		},
		Timeout:        durationpb.New(90 * time.Second),
		ServiceAccount: "api-runtime@proj.iam.gserviceaccount.com",
		Containers: []*runpb.Container{
			{
				Name:    "app",
				Image:   "europe-west1-docker.pkg.dev/proj/apps/api:seed",
				Command: []string{"/app/server"},
				Args:    []string{"--listen=:8080"},
				Env: []*runpb.EnvVar{
					{Name: "DB_HOST", Values: &runpb.EnvVar_Value{Value: "10.0.0.5"}},
					{Name: "LOG_LEVEL", Values: &runpb.EnvVar_Value{Value: "info"}},
					{Name: "DB_PASSWORD", Values: &runpb.EnvVar_ValueSource{ValueSource: &runpb.EnvVarSource{
						SecretKeyRef: &runpb.SecretKeySelector{Secret: "db-password", Version: "7"},
					}}},
				},
				Resources: &runpb.ResourceRequirements{
					Limits:          map[string]string{"cpu": "2", "memory": "1Gi"},
					CpuIdle:         true,
					StartupCpuBoost: true,
				},
				Ports:        []*runpb.ContainerPort{{Name: "http1", ContainerPort: 8080}},
				VolumeMounts: []*runpb.VolumeMount{{Name: "tls", MountPath: "/etc/tls"}},
				WorkingDir:   "/app",
				StartupProbe: &runpb.Probe{
					PeriodSeconds: 5, FailureThreshold: 12,
					ProbeType: &runpb.Probe_TcpSocket{TcpSocket: &runpb.TCPSocketAction{Port: 8080}},
				},
				LivenessProbe: &runpb.Probe{
					PeriodSeconds: 30,
					ProbeType:     &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{Path: "/healthz", Port: 8080}},
				},
				DependsOn: []string{"proxy"},
			},
			{
				Name:  "proxy",
				Image: "europe-west1-docker.pkg.dev/proj/apps/proxy:1.2",
				Env:   []*runpb.EnvVar{{Name: "UPSTREAM", Values: &runpb.EnvVar_Value{Value: "localhost:8080"}}},
			},
		},
		Volumes: []*runpb.Volume{{
			Name: "tls",
			VolumeType: &runpb.Volume_Secret{Secret: &runpb.SecretVolumeSource{
				Secret: "tls-cert", Items: []*runpb.VersionToPath{{Path: "cert.pem", Version: "3"}},
			}},
		}},
		ExecutionEnvironment:          runpb.ExecutionEnvironment_EXECUTION_ENVIRONMENT_GEN2,
		EncryptionKey:                 "projects/proj/locations/europe-west1/keyRings/r/cryptoKeys/k",
		MaxInstanceRequestConcurrency: 40,
		SessionAffinity:               true,
	}
}

// richService is the seeded service with service-level settings too.
func richService() *runpb.Service {
	return &runpb.Service{
		Name:        svcName,
		Description: "payments API",
		Labels:      map[string]string{"env": "prod"},
		Annotations: map[string]string{"example.com/managed": "terraform"},
		Ingress:     runpb.IngressTraffic_INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER,
		Template:    richTemplate(),
	}
}

// templateOfRevision gathers the template fields a revision records.
func templateOfRevision(r *runpb.Revision) *runpb.RevisionTemplate {
	return &runpb.RevisionTemplate{
		Labels:                        r.GetLabels(),
		Annotations:                   r.GetAnnotations(),
		Scaling:                       r.GetScaling(),
		VpcAccess:                     r.GetVpcAccess(),
		Timeout:                       r.GetTimeout(),
		ServiceAccount:                r.GetServiceAccount(),
		Containers:                    r.GetContainers(),
		Volumes:                       r.GetVolumes(),
		ExecutionEnvironment:          r.GetExecutionEnvironment(),
		EncryptionKey:                 r.GetEncryptionKey(),
		MaxInstanceRequestConcurrency: r.GetMaxInstanceRequestConcurrency(),
		SessionAffinity:               r.GetSessionAffinity(),
	}
}

// serviceSettings keeps the service-level settings a deploy or a traffic
// change must not touch: all but the template, the traffic, the rollout
// State annotation and the output-only fields.
func serviceSettings(s *runpb.Service) *runpb.Service {
	ann := maps.Clone(s.GetAnnotations())
	delete(ann, cloudrun.StateAnnotation)
	return &runpb.Service{
		Description: s.GetDescription(),
		Labels:      s.GetLabels(),
		Annotations: ann,
		Ingress:     s.GetIngress(),
		Scaling:     s.GetScaling(),
	}
}

// TestTemplateSurvivesTheReleaseStory seeds a service with a rich template
// and checks, field by field, that a dev deploy, a release, a promotion, a
// rollback and a release with overrides change only what they should: the
// image of the deployed container, the revision name and our labels (plus,
// for overrides, exactly the fields they name), in the service's template
// and in each new revision; and that traffic changes touch no template or
// service setting at all.
func TestTemplateSurvivesTheReleaseStory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, cloudrun.WithContainer("app"))
	ctx := t.Context()
	if err := e.srv.SetService(richService()); err != nil {
		t.Fatalf("SetService: %v", err)
	}
	wantSettings := serviceSettings(richService())

	// check compares the service's template with want, the service's
	// settings with the seed's, and, if rev is set, that revision's
	// template fields with want.
	check := func(t *testing.T, step string, want *runpb.RevisionTemplate, rev string) {
		t.Helper()
		svc, ok := e.srv.Service(svcName)
		if !ok {
			t.Fatalf("%s: service gone", step)
		}
		if diff := cmp.Diff(want, svc.GetTemplate(), protocmp.Transform()); diff != "" {
			t.Errorf("%s: service template mismatch (-want +got):\n%s", step, diff)
		}
		if diff := cmp.Diff(wantSettings, serviceSettings(svc), protocmp.Transform()); diff != "" {
			t.Errorf("%s: service settings mismatch (-want +got):\n%s", step, diff)
		}
		if rev == "" {
			return
		}
		var found *runpb.Revision
		for _, r := range e.srv.Revisions(svcName) {
			if r.GetName() == svcName+"/revisions/"+rev {
				found = r
			}
		}
		if found == nil {
			t.Fatalf("%s: revision %s not found", step, rev)
		}
		wantRev := proto.Clone(want).(*runpb.RevisionTemplate)
		wantRev.Revision = ""
		if diff := cmp.Diff(wantRev, templateOfRevision(found), protocmp.Transform()); diff != "" {
			t.Errorf("%s: revision %s template fields mismatch (-want +got):\n%s", step, rev, diff)
		}
	}
	// next returns prev with only what a deploy of r as revision name
	// changes.
	next := func(prev *runpb.RevisionTemplate, name string, r stage.Release, commit, ref string) *runpb.RevisionTemplate {
		w := proto.Clone(prev).(*runpb.RevisionTemplate)
		w.Revision = name
		w.Containers[0].Image = r.Artifact.String()
		w.Labels[stage.LabelCommit] = commit
		w.Labels[stage.LabelRef] = ref
		w.Labels[stage.LabelManagedBy] = cloudrun.ManagedByValue
		return w
	}
	check(t, "seed", richTemplate(), "api-seed")

	// 1. Dev deploy.
	dev := release("aaaaaaa", stage.RouteAll)
	dev.Labels = map[string]string{stage.LabelCommit: "aaaaaaa", stage.LabelRef: "main"}
	mustDeploy(t, e.svc, dev)
	afterDev := next(richTemplate(), "api-aaaaaaa", dev, "aaaaaaa", "main")
	check(t, "dev deploy", afterDev, "api-aaaaaaa")

	// 2. Release with no traffic, tagged candidate.
	rel := release("v1-0-0-aaaaaaa", stage.RouteNone, traffic.TagCandidate)
	rel.Artifact = dev.Artifact // build once: the same image
	rel.Labels = map[string]string{stage.LabelCommit: "aaaaaaa", stage.LabelRef: "v1-0-0"}
	mustDeploy(t, e.svc, rel)
	afterRel := next(afterDev, "api-v1-0-0-aaaaaaa", rel, "aaaaaaa", "v1-0-0")
	check(t, "release", afterRel, "api-v1-0-0-aaaaaaa")

	// 3. Promotion: a rollout to 100% writes traffic and State only.
	ro, err := traffic.NewRollout(e.svc, traffic.WithClock(e.clock))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ro.Run(ctx, "api-v1-0-0-aaaaaaa")
	if err != nil {
		t.Fatalf("promotion: %v", err)
	}
	if got := traffic.Shares(res.Split)["api-v1-0-0-aaaaaaa"]; got != 100 {
		t.Fatalf("promotion: candidate serves %d%%, want 100", got)
	}
	check(t, "promotion", afterRel, "")

	// 4. A second release, rolled back by a failing gate.
	rel2 := release("v1-1-0-bbbbbbb", stage.RouteNone, traffic.TagCandidate)
	rel2.Labels = map[string]string{stage.LabelCommit: "bbbbbbb", stage.LabelRef: "v1-1-0"}
	mustDeploy(t, e.svc, rel2)
	afterRel2 := next(afterRel, "api-v1-1-0-bbbbbbb", rel2, "bbbbbbb", "v1-1-0")
	check(t, "second release", afterRel2, "api-v1-1-0-bbbbbbb")
	fail := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		return traffic.Verdict{Gate: "test", Outcome: traffic.Fail, Reason: "error rate"}, nil
	})
	ro2, err := traffic.NewRollout(e.svc, traffic.WithClock(e.clock), traffic.WithGates(fail))
	if err != nil {
		t.Fatal(err)
	}
	res, err = ro2.Run(ctx, "api-v1-1-0-bbbbbbb")
	if !errors.Is(err, traffic.ErrRolledBack) {
		t.Fatalf("rollout with a failing gate: %v, want ErrRolledBack", err)
	}
	if got := traffic.Shares(res.Split)["api-v1-0-0-aaaaaaa"]; got != 100 {
		t.Fatalf("rollback: stable serves %d%%, want 100", got)
	}
	// The rollback points the template back at the stable revision in the
	// same write (traffic.Split.Template), so it no longer runs the
	// rolled-back image (issue 15.4; the old code left afterRel2).
	check(t, "rollback", afterRel, "")

	// 5. A release with overrides: exactly the named fields change too.
	o := stage.Overrides{
		Env:       map[string]string{"LOG_LEVEL": "warn", "FEATURE_X": "on"},
		RemoveEnv: []string{"DB_HOST"},
		Secrets:   map[string]stage.SecretRef{"API_KEY": {Secret: "projects/other-proj/secrets/api-key", Version: "latest"}},
		Memory:    "2Gi",
		Labels:    map[string]string{"tier": "gold"},
	}
	rel3 := release("v1-2-0-ccccccc", stage.RouteNone, traffic.TagCandidate)
	rel3.Labels = map[string]string{stage.LabelCommit: "ccccccc", stage.LabelRef: "v1-2-0"}
	rel3.Overrides = o
	mustDeploy(t, e.svc, rel3)
	afterRel3 := next(afterRel2, "api-v1-2-0-ccccccc", rel3, "ccccccc", "v1-2-0")
	afterRel3.Labels["tier"] = "gold"
	afterRel3.Labels[stage.LabelConfig] = o.Fingerprint()
	app := afterRel3.Containers[0]
	app.Env = []*runpb.EnvVar{
		// DB_HOST removed; LOG_LEVEL replaced in place; new ones appended
		// by name.
		{Name: "LOG_LEVEL", Values: &runpb.EnvVar_Value{Value: "warn"}},
		app.Env[2], // DB_PASSWORD, untouched
		{Name: "API_KEY", Values: &runpb.EnvVar_ValueSource{ValueSource: &runpb.EnvVarSource{
			SecretKeyRef: &runpb.SecretKeySelector{Secret: "projects/other-proj/secrets/api-key", Version: "latest"},
		}}},
		{Name: "FEATURE_X", Values: &runpb.EnvVar_Value{Value: "on"}},
	}
	app.Resources.Limits["memory"] = "2Gi"
	check(t, "release with overrides", afterRel3, "api-v1-2-0-ccccccc")

	// 6. The next release without overrides keeps the template as the last
	// one left it, dropping only the config fingerprint.
	rel4 := release("v1-3-0-ddddddd", stage.RouteNone, traffic.TagCandidate)
	rel4.Labels = map[string]string{stage.LabelCommit: "ddddddd", stage.LabelRef: "v1-3-0"}
	mustDeploy(t, e.svc, rel4)
	afterRel4 := next(afterRel3, "api-v1-3-0-ddddddd", rel4, "ddddddd", "v1-3-0")
	delete(afterRel4.Labels, stage.LabelConfig)
	check(t, "release after overrides", afterRel4, "api-v1-3-0-ddddddd")
}
