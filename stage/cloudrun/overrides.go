package cloudrun

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// settingsOf returns the settings of template tmpl that [stage.Overrides]
// can express, for the container c (which may be nil): the plain and
// secret environment variables, the service account, the CPU and memory
// limits, the scaling bounds, the concurrency, the port, the request
// timeout, the VPC access, the Cloud SQL instances and the labels. A scaling
// bound or concurrency of 0 means "the server default" in the API and is
// left unset; a min_instance_count of 0 in a scaling block that sets it is
// reported as 0.
func settingsOf(tmpl *runpb.RevisionTemplate, c *runpb.Container) stage.Overrides {
	var out stage.Overrides
	for _, e := range c.GetEnv() {
		switch {
		case e.GetValueSource().GetSecretKeyRef() != nil:
			if out.Secrets == nil {
				out.Secrets = make(map[string]stage.SecretRef)
			}
			ref := e.GetValueSource().GetSecretKeyRef()
			out.Secrets[e.GetName()] = stage.SecretRef{Secret: ref.GetSecret(), Version: ref.GetVersion()}
		default:
			if out.Env == nil {
				out.Env = make(map[string]string)
			}
			out.Env[e.GetName()] = e.GetValue()
		}
	}
	out.ServiceAccount = tmpl.GetServiceAccount()
	out.CPU = c.GetResources().GetLimits()["cpu"]
	out.Memory = c.GetResources().GetLimits()["memory"]
	if sc := tmpl.GetScaling(); sc != nil {
		out.MinInstances = ptr(sc.GetMinInstanceCount())
		if sc.GetMaxInstanceCount() > 0 {
			out.MaxInstances = ptr(sc.GetMaxInstanceCount())
		}
	}
	if n := tmpl.GetMaxInstanceRequestConcurrency(); n > 0 {
		out.Concurrency = ptr(n)
	}
	if ports := c.GetPorts(); len(ports) > 0 && ports[0].GetContainerPort() > 0 {
		out.Port = ptr(ports[0].GetContainerPort())
	}
	out.Timeout = tmpl.GetTimeout().AsDuration()
	if va := tmpl.GetVpcAccess(); va.GetConnector() != "" {
		out.VPCConnector = va.GetConnector()
		// runpb VpcAccess.egress: "If not provided, it defaults to
		// PRIVATE_RANGES_ONLY."
		out.VPCEgress = stage.EgressPrivateRanges
	}
	if tmpl.GetVpcAccess().GetEgress() == runpb.VpcAccess_ALL_TRAFFIC {
		out.VPCEgress = stage.EgressAllTraffic
	}
	if v := cloudSQLVolume(tmpl); v != nil {
		out.CloudSQLInstances = slices.Clone(v.GetCloudSqlInstance().GetInstances())
	}
	out.Labels = maps.Clone(tmpl.GetLabels())
	return out
}

// cloudSQLMount is where the Cloud SQL volume is mounted: runpb
// CloudSqlInstance, "Each one will be available under /cloudsql/[instance]".
const cloudSQLMount = "/cloudsql"

// cloudSQLVolume returns the template's Cloud SQL volume, or nil.
func cloudSQLVolume(tmpl *runpb.RevisionTemplate) *runpb.Volume {
	for _, v := range tmpl.GetVolumes() {
		if v.GetCloudSqlInstance() != nil {
			return v
		}
	}
	return nil
}

// applyNetwork sets o's port, timeout, VPC and Cloud SQL settings onto
// template tmpl and its container c. A new Cloud SQL volume is named
// "cloudsql" and mounted at /cloudsql, as gcloud's
// --set-cloudsql-instances does; an existing one keeps its name and mount.
func applyNetwork(tmpl *runpb.RevisionTemplate, c *runpb.Container, o stage.Overrides) {
	if o.Port != nil {
		if len(c.Ports) == 0 {
			c.Ports = []*runpb.ContainerPort{{}}
		}
		c.Ports[0].ContainerPort = *o.Port
	}
	if o.Timeout != 0 {
		tmpl.Timeout = durationpb.New(o.Timeout)
	}
	if o.VPCConnector != "" || o.VPCEgress != "" {
		if tmpl.VpcAccess == nil {
			tmpl.VpcAccess = &runpb.VpcAccess{}
		}
		if o.VPCConnector != "" {
			tmpl.VpcAccess.Connector = o.VPCConnector
		}
		switch o.VPCEgress {
		case stage.EgressAllTraffic:
			tmpl.VpcAccess.Egress = runpb.VpcAccess_ALL_TRAFFIC
		case stage.EgressPrivateRanges:
			tmpl.VpcAccess.Egress = runpb.VpcAccess_PRIVATE_RANGES_ONLY
		}
	}
	if len(o.CloudSQLInstances) > 0 {
		v := cloudSQLVolume(tmpl)
		if v == nil {
			v = &runpb.Volume{Name: "cloudsql"}
			tmpl.Volumes = append(tmpl.Volumes, v)
		}
		v.VolumeType = &runpb.Volume_CloudSqlInstance{CloudSqlInstance: &runpb.CloudSqlInstance{
			Instances: slices.Clone(o.CloudSQLInstances),
		}}
		if !slices.ContainsFunc(c.VolumeMounts, func(m *runpb.VolumeMount) bool { return m.GetName() == v.Name }) {
			c.VolumeMounts = append(c.VolumeMounts, &runpb.VolumeMount{Name: v.Name, MountPath: cloudSQLMount})
		}
	}
}

func ptr(v int32) *int32 { return &v }

// applyOverrides sets o onto template tmpl and its container c, keeping
// everything o does not name: environment variables keep their order (a
// replaced one stays in place, new ones are appended by name), and a
// container without resources gets cpu_idle true along with its limits,
// which is the API's default only when resources are unset (runpb
// ResourceRequirements.cpu_idle: "if ResourceRequirements is set, the
// caller must explicitly set this field to true to preserve the default
// behavior"). Labels are not touched here (see prepare). The caller has
// validated o.
func applyOverrides(tmpl *runpb.RevisionTemplate, c *runpb.Container, o stage.Overrides) {
	if len(o.RemoveEnv) > 0 || len(o.Env) > 0 || len(o.Secrets) > 0 {
		set := make(map[string]*runpb.EnvVar, len(o.Env)+len(o.Secrets))
		for k, v := range o.Env {
			set[k] = &runpb.EnvVar{Name: k, Values: &runpb.EnvVar_Value{Value: v}}
		}
		for k, ref := range o.Secrets {
			set[k] = &runpb.EnvVar{Name: k, Values: &runpb.EnvVar_ValueSource{ValueSource: &runpb.EnvVarSource{
				SecretKeyRef: &runpb.SecretKeySelector{Secret: ref.Secret, Version: ref.Version},
			}}}
		}
		env := make([]*runpb.EnvVar, 0, len(c.Env)+len(set))
		done := make(map[string]bool, len(set))
		for _, e := range c.Env {
			switch n := e.GetName(); {
			case slices.Contains(o.RemoveEnv, n):
			case set[n] != nil:
				if !done[n] {
					env = append(env, set[n])
					done[n] = true
				}
			default:
				env = append(env, e)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(set)) {
			if !done[k] {
				env = append(env, set[k])
			}
		}
		c.Env = env
	}
	if o.ServiceAccount != "" {
		tmpl.ServiceAccount = o.ServiceAccount
	}
	if o.CPU != "" || o.Memory != "" {
		if c.Resources == nil {
			c.Resources = &runpb.ResourceRequirements{CpuIdle: true}
		}
		if c.Resources.Limits == nil {
			c.Resources.Limits = make(map[string]string, 2)
		}
		if o.CPU != "" {
			c.Resources.Limits["cpu"] = o.CPU
		}
		if o.Memory != "" {
			c.Resources.Limits["memory"] = o.Memory
		}
	}
	if o.MinInstances != nil || o.MaxInstances != nil {
		if tmpl.Scaling == nil {
			tmpl.Scaling = &runpb.RevisionScaling{}
		}
		if o.MinInstances != nil {
			tmpl.Scaling.MinInstanceCount = *o.MinInstances
		}
		if o.MaxInstances != nil {
			tmpl.Scaling.MaxInstanceCount = *o.MaxInstances
		}
	}
	if o.Concurrency != nil {
		tmpl.MaxInstanceRequestConcurrency = *o.Concurrency
	}
	applyNetwork(tmpl, c, o)
}

// Drift compares declared with the settings of the service's current
// revision template, which the next deploy inherits, by
// [stage.CompareLive] (see [stage.Drifter]); the labels this package sets
// are ignored. It costs one GetService. Invalid declared overrides fail
// with [twostage.ErrInvalid] before any call; a missing service with
// [twostage.ErrNotFound].
func (s *Service) Drift(ctx context.Context, declared stage.Overrides) (stage.Drift, error) {
	if err := declared.Validate(); err != nil {
		return nil, fmt.Errorf("cloudrun: comparing the declared overrides with service %q: %w", s.short, err)
	}
	svc, err := s.getService(ctx)
	if err != nil {
		return nil, fmt.Errorf("cloudrun: comparing the declared overrides with the service: %w", err)
	}
	tmpl := svc.GetTemplate()
	d := stage.CompareLive(declared, settingsOf(tmpl, containerOf(tmpl.GetContainers(), s.container)))
	item, ok, err := s.imageDrift(ctx, svc)
	if err != nil {
		return nil, fmt.Errorf("cloudrun: comparing the template's image with the serving revisions' of service %q: %w", s.short, err)
	}
	if ok {
		d = append(d, item)
	}
	return d, nil
}

// imageDrift reports a template running an image that no serving revision
// runs ([stage.TemplateImageDrift]): free when the template's revision
// serves, else one GetRevision per serving revision.
func (s *Service) imageDrift(ctx context.Context, svc *runpb.Service) (stage.DriftItem, bool, error) {
	tmpl := svc.GetTemplate()
	c := containerOf(tmpl.GetContainers(), s.container)
	if c == nil || tmpl.GetRevision() == "" {
		return stage.DriftItem{}, false, nil
	}
	digest := artifactOf(c.GetImage()).Digest
	sp := splitOf(svc)
	serving := traffic.Serving(sp)
	if serving[tmpl.GetRevision()] > 0 {
		return stage.DriftItem{}, false, nil
	}
	var digests []string
	for name := range serving {
		rev, err := s.getRevision(ctx, name)
		if err != nil {
			return stage.DriftItem{}, false, err
		}
		if rc := containerOf(rev.GetContainers(), s.container); rc != nil {
			digests = append(digests, artifactOf(rc.GetImage()).Digest)
		}
	}
	item, ok := stage.TemplateImageDrift(tmpl.GetRevision(), digest, digests, traffic.AwaitsPromotion(sp, tmpl.GetRevision()))
	return item, ok, nil
}

// Revision returns the revision called name, the full "<service>-<suffix>"
// or only the suffix (see [stage.Getter]), with one GetRevision. Its URL
// and TagURLs come from the service as this Service last read or wrote it
// (Split, SetSplit, Deploy, Revisions, Drift), and are empty if it has not
// yet. A missing revision fails with [twostage.ErrNotFound], a malformed
// name with [twostage.ErrInvalid].
func (s *Service) Revision(ctx context.Context, name string) (stage.Revision, error) {
	if name == "" {
		return stage.Revision{}, invalidf("reading a revision of service %q: the name is empty; give \"<service>-<suffix>\" or the suffix", s.short)
	}
	full, err := revisionName(s.short, name)
	if err != nil {
		return stage.Revision{}, err
	}
	rev, err := s.getRevision(ctx, full)
	if err != nil {
		return stage.Revision{}, err
	}
	return s.revisionOf(rev, s.snapshot()), nil
}
