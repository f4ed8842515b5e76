package cloudrun

import (
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage/stage"
)

// FuzzApplyOverrides checks that applying valid overrides to a template
// (applyOverrides) agrees with applying them to the template's settings
// (stage.Overrides.ApplyTo), and that the fields overrides do not name are
// untouched.
func FuzzApplyOverrides(f *testing.F) {
	f.Add("A", "1", "B", true, "A", "2", "", "", "", "", "", int32(0), int32(0))
	f.Add("DB", "x", "KEY", false, "NEW", "v", "KEY", "db", "3", "2", "4Gi", int32(1), int32(5))
	f.Add("X", "", "Y", true, "Y", "", "X", "s", "latest", "0.5", "", int32(-1), int32(3))
	f.Fuzz(func(t *testing.T, live1, live1Val, live2 string, live2Secret bool, setEnv, setVal, setSecret, secret, version, cpu, mem string, minI, maxI int32) {
		if live1 == live2 {
			return
		}
		c := &runpb.Container{Name: "app", Image: "img", Env: []*runpb.EnvVar{{Name: live1, Values: &runpb.EnvVar_Value{Value: live1Val}}}}
		if live2Secret {
			c.Env = append(c.Env, &runpb.EnvVar{Name: live2, Values: &runpb.EnvVar_ValueSource{ValueSource: &runpb.EnvVarSource{SecretKeyRef: &runpb.SecretKeySelector{Secret: "s2", Version: "1"}}}})
		} else {
			c.Env = append(c.Env, &runpb.EnvVar{Name: live2, Values: &runpb.EnvVar_Value{Value: "v2"}})
		}
		tmpl := &runpb.RevisionTemplate{
			Containers:  []*runpb.Container{c, {Name: "sidecar", Image: "proxy", Env: []*runpb.EnvVar{{Name: setEnv, Values: &runpb.EnvVar_Value{Value: "keep"}}}}},
			Annotations: map[string]string{"a": "b"},
			Labels:      map[string]string{"team": "x"},
			Scaling:     &runpb.RevisionScaling{MaxInstanceCount: 9},
		}
		o := stage.Overrides{CPU: cpu, Memory: mem, RemoveEnv: []string{live1}}
		if setEnv != "" {
			o.Env = map[string]string{setEnv: setVal}
		}
		if setSecret != "" {
			o.Secrets = map[string]stage.SecretRef{setSecret: {Secret: secret, Version: version}}
		}
		if minI != 0 {
			o.MinInstances = &minI
		}
		if maxI != 0 {
			o.MaxInstances = &maxI
		}
		if o.Validate() != nil {
			return
		}
		before := proto.Clone(tmpl).(*runpb.RevisionTemplate)
		want := o.ApplyTo(settingsOf(tmpl, c))
		applyOverrides(tmpl, c, o)
		got := settingsOf(tmpl, c)
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("settings after applyOverrides mismatch (-ApplyTo +applyOverrides):\n%s", diff)
		}
		if !proto.Equal(before.Containers[1], tmpl.Containers[1]) || !cmp.Equal(before.Annotations, tmpl.Annotations) || !cmp.Equal(before.Labels, tmpl.Labels) {
			t.Fatalf("applyOverrides changed what the overrides do not name")
		}
		names := make(map[string]bool)
		for _, e := range c.Env {
			if names[e.GetName()] {
				t.Fatalf("variable %q twice after applyOverrides", e.GetName())
			}
			names[e.GetName()] = true
		}
	})
}
