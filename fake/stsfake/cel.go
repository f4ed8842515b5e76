package stsfake

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// The emulator judges attribute mappings and conditions with its own CEL
// environment, written from Google's documentation of
// WorkloadIdentityPoolProvider.attributeMapping and .attributeCondition
// (google.golang.org/api/iam/v1), and deliberately not with package wif's
// evaluator: it is the judge the code under test is held against, so the
// two are kept independent and a shared table of (claims, mapping,
// condition) → verdict runs against both.

// maxSubjectBytes is the documented limit of google.subject: "The maximum
// length of this attribute is 127 bytes" (iam/v1 attributeMapping).
const maxSubjectBytes = 127

// verdict is the outcome of applying a provider to a token's claims.
type verdict struct {
	attributes map[string]string // "google.subject", "attribute.NAME", …
	groups     []string
	accepted   bool
	// reason says why a token was refused: reasonCondition, reasonSubject
	// or the mapping that failed.
	reason string
}

const (
	reasonCondition = "condition"
	reasonSubject   = "subject"
)

// judge caches compiled programs by expression. It is safe for concurrent
// use; the zero value is ready.
type judge struct {
	mu    sync.Mutex // guards env and progs
	env   *cel.Env
	progs map[string]celProgram // by kind + "\x00" + expression
}

type celProgram struct {
	prg cel.Program
	err error
}

func (j *judge) program(kind, expr string) (cel.Program, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	key := kind + "\x00" + expr
	if p, ok := j.progs[key]; ok {
		return p.prg, p.err
	}
	if j.env == nil {
		env, err := cel.NewEnv(
			// "assertion": the claims of the external token (mapping and
			// condition); "google" and "attribute": the mapped attributes
			// (condition only).
			cel.Variable("assertion", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("google", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("attribute", cel.MapType(cel.StringType, cel.DynType)),
			cel.Function("extract", cel.MemberOverload("stsfake_string_extract",
				[]*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
				cel.BinaryBinding(func(s, tmpl ref.Val) ref.Val {
					return types.String(extractTemplate(fmt.Sprint(s.Value()), fmt.Sprint(tmpl.Value())))
				}))),
		)
		if err != nil {
			return nil, err
		}
		j.env, j.progs = env, map[string]celProgram{}
	}
	var p celProgram
	ast, iss := j.env.Compile(expr)
	if iss.Err() != nil {
		p.err = iss.Err()
	} else if kind == "mapping" && (mentions(ast, "google") || mentions(ast, "attribute")) {
		p.err = fmt.Errorf("an attribute mapping may refer only to assertion")
	} else {
		p.prg, p.err = j.env.Program(ast)
	}
	j.progs[key] = p
	return p.prg, p.err
}

func mentions(ast *cel.Ast, name string) bool {
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name == name {
			return true
		}
	}
	return false
}

// apply maps claims through mapping and checks condition. An error means
// the provider's configuration is invalid (an expression that does not
// compile, a key that is not google.subject, google.groups or
// attribute.NAME).
func (j *judge) apply(mapping map[string]string, condition string, claims map[string]any) (verdict, error) {
	v := verdict{attributes: map[string]string{}}
	if claims == nil {
		claims = map[string]any{}
	}
	vars := map[string]any{"assertion": claims}
	keys := make([]string, 0, len(mapping))
	for k := range mapping {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if _, ok := mapping["google.subject"]; !ok {
		return v, fmt.Errorf("the attribute mapping has no google.subject")
	}
	for _, k := range keys {
		if k != "google.subject" && k != "google.groups" && !strings.HasPrefix(k, "attribute.") {
			return v, fmt.Errorf("attribute mapping key %q is not google.subject, google.groups or attribute.NAME", k)
		}
		prg, err := j.program("mapping", mapping[k])
		if err != nil {
			return v, fmt.Errorf("attribute mapping %q: %w", k, err)
		}
		out, _, err := prg.Eval(vars)
		if err != nil {
			v.reason = fmt.Sprintf("attribute mapping %q: %v", k, err)
			return v, nil
		}
		if k == "google.groups" {
			if s, ok := out.Value().(string); ok {
				v.groups = []string{s}
				continue
			}
			list, err := out.ConvertToNative(reflect.TypeFor[[]string]())
			if err != nil {
				v.reason = fmt.Sprintf("attribute mapping %q is not a list of strings", k)
				return v, nil
			}
			v.groups = list.([]string)
			continue
		}
		s, ok := out.Value().(string)
		if !ok {
			v.reason = fmt.Sprintf("attribute mapping %q is not a string", k)
			return v, nil
		}
		v.attributes[k] = s
	}
	sub := v.attributes["google.subject"]
	if sub == "" || len(sub) > maxSubjectBytes {
		v.reason = reasonSubject
		return v, nil
	}
	if condition != "" {
		prg, err := j.program("condition", condition)
		if err != nil {
			return v, fmt.Errorf("attribute condition: %w", err)
		}
		google := map[string]any{"subject": sub}
		if v.groups != nil {
			google["groups"] = v.groups
		}
		attribute := map[string]any{}
		for k, val := range v.attributes {
			if name, ok := strings.CutPrefix(k, "attribute."); ok {
				attribute[name] = val
			}
		}
		vars["google"], vars["attribute"] = google, attribute
		out, _, err := prg.Eval(vars)
		if b, ok := out.Value().(bool); err != nil || !ok || !b {
			// "If the condition evaluates to false or errors, the
			// credential is rejected" (the emulator's reading of the
			// attributeCondition documentation: it must output a boolean
			// and the credential is accepted only when it is true).
			v.reason = reasonCondition
			return v, nil
		}
	}
	v.accepted = true
	return v, nil
}

// extractTemplate is the extract function of attribute mappings
// ("assertion.sub.extract('repo:{repo}:')"): the text of s after the
// template's text before its {placeholder} and up to the text after it
// (the rest of s when that is empty); "" when s does not contain them or
// the template has no placeholder.
func extractTemplate(s, tmpl string) string {
	before, rest, ok := strings.Cut(tmpl, "{")
	if !ok {
		return ""
	}
	_, after, ok := strings.Cut(rest, "}")
	if !ok {
		return ""
	}
	_, tail, ok := strings.Cut(s, before)
	if !ok {
		return ""
	}
	if after == "" {
		return tail
	}
	val, _, ok := strings.Cut(tail, after)
	if !ok {
		return ""
	}
	return val
}
