package provision

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/internal/syntax"
)

// ReasonConditionRejected is the Mapping.Reason of a token whose
// attribute condition evaluated to false.
const ReasonConditionRejected = "attribute condition rejected the token"

// Mapping is the outcome of [Evaluate]: the Google attributes a token maps
// to, and whether STS would accept it.
type Mapping struct {
	// Attributes are the mapped string attributes by their full key:
	// "google.subject", "attribute.ref", …
	Attributes map[string]string
	// Groups is the value of google.groups, when the mapping has one.
	Groups []string
	// Accepted reports whether the token passes: every mapping evaluated to
	// a string (a list of strings for google.groups), google.subject is
	// non-empty and fits in [wif.MaxSubjectBytes], and the condition is true.
	Accepted bool
	// Reason says why the token was refused; empty when Accepted.
	Reason string
}

// Subject returns the mapped google.subject.
func (m Mapping) Subject() string { return m.Attributes["google.subject"] }

// Evaluate applies a provider's attribute mapping and condition to token
// claims the way STS does, and reports the mapped attributes and whether
// the token is accepted, with a reason when it is not (for example
// "attribute condition rejected the token" or "google.subject is 140
// bytes, more than 127").
//
// The semantics reproduced, from the IAM v1 WorkloadIdentityPoolProvider
// documentation unless marked otherwise:
//
//   - Each mapping value is a CEL expression over `assertion`, the token's
//     claims (a map(string, dyn)), with the standard CEL functions and
//     Google's string extract function (assertion.sub.extract("repo:{repo}:")). Keys are "google.subject",
//     "google.groups" or "attribute.NAME" with NAME of [a-z0-9_], at most
//     100 characters, at most 50 such keys.
//   - Results must be strings; google.groups may be a list of strings.
//     (The refusal of other types, and of a mapping whose evaluation fails,
//     for instance on a missing claim, is unverified.)
//   - google.subject is required (unverified for OIDC providers: gcloud
//     and the console insist on it), must be non-empty (unverified) and at
//     most 127 bytes.
//   - The condition is a CEL expression that "must output a boolean" over
//     `assertion`, `google` (subject, groups) and `attribute` (the custom
//     attributes by NAME), at most 4096 characters. An empty condition
//     accepts every token.
//
// A provider whose expressions do not compile, or whose mapping is
// malformed, is a configuration error: Evaluate then returns an error
// matching [twostage.ErrInvalid] that names the key and expression. A
// token that fails is not an error: Mapping.Accepted is false.
// Evaluate does not check the issuer, audience, signature or expiry; STS
// (and fake/stsfake) does that before mapping.
func Evaluate(p wif.Provider, claims wif.Claims) (Mapping, error) {
	return new(Evaluator).Evaluate(p, claims)
}

// Evaluator is [Evaluate] with a cache of compiled expressions, for
// callers that evaluate the same providers many times (the STS emulator,
// simulations over many tokens). Compiling is most of the cost of
// Evaluate. The zero value is ready to use; an Evaluator is safe for
// concurrent use. Its cache grows with the number of distinct
// expressions it has seen.
type Evaluator struct {
	mu    sync.Mutex // guards env and progs
	env   *cel.Env
	progs map[progKey]compiled
}

type progKind int

const (
	kindMapping progKind = iota
	kindGroups
	kindCondition
)

type progKey struct {
	kind progKind
	expr string
}

type compiled struct {
	prg cel.Program
	err error
}

// program returns the compiled expr, from the cache when it has been
// compiled before (compile errors are cached too).
func (e *Evaluator) program(kind progKind, expr string) (cel.Program, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.progs[progKey{kind, expr}]; ok {
		return c.prg, c.err
	}
	if e.env == nil {
		env, err := newCELEnv()
		if err != nil {
			return nil, fmt.Errorf("wif: creating the CEL environment: %w", err)
		}
		e.env = env
		e.progs = make(map[progKey]compiled)
	}
	var c compiled
	if kind == kindCondition {
		c.prg, c.err = compileCondition(e.env, expr)
	} else {
		c.prg, c.err = compile(e.env, expr, kind == kindGroups)
	}
	e.progs[progKey{kind, expr}] = c
	return c.prg, c.err
}

// Evaluate is [Evaluate] with e's cache.
func (e *Evaluator) Evaluate(p wif.Provider, claims wif.Claims) (Mapping, error) {
	keys, err := checkMappingKeys(p.AttributeMapping)
	if err != nil {
		return Mapping{}, err
	}
	progs := make(map[string]cel.Program, len(keys))
	for _, k := range keys {
		expr := p.AttributeMapping[k]
		kind := kindMapping
		if k == "google.groups" {
			kind = kindGroups
		}
		prg, err := e.program(kind, expr)
		if err != nil {
			return Mapping{}, fmt.Errorf("wif: provider %q: attribute mapping %q = %q: %w", p.ID, k, expr, err)
		}
		progs[k] = prg
	}
	var cond cel.Program
	if p.AttributeCondition != "" {
		if n := len(p.AttributeCondition); n > wif.MaxConditionLen {
			return Mapping{}, fmt.Errorf("wif: provider %q: attribute condition is %d characters, more than %d: %w", p.ID, n, wif.MaxConditionLen, twostage.ErrInvalid)
		}
		cond, err = e.program(kindCondition, p.AttributeCondition)
		if err != nil {
			return Mapping{}, fmt.Errorf("wif: provider %q: attribute condition %q: %w", p.ID, p.AttributeCondition, err)
		}
	}

	m := Mapping{Attributes: make(map[string]string, len(keys))}
	assertion := map[string]any(claims)
	if assertion == nil {
		assertion = map[string]any{}
	}
	vars := map[string]any{"assertion": assertion}
	for _, k := range keys {
		out, _, err := progs[k].Eval(vars)
		if err != nil {
			return m.reject(fmt.Sprintf("attribute mapping %q = %q failed: %v", k, p.AttributeMapping[k], err)), nil
		}
		if k == "google.groups" {
			groups, ok := stringList(out)
			if !ok {
				return m.reject(fmt.Sprintf("attribute mapping %q = %q gave %s, not a string or a list of strings", k, p.AttributeMapping[k], out.Type().TypeName())), nil
			}
			m.Groups = groups
			continue
		}
		s, ok := out.Value().(string)
		if !ok {
			return m.reject(fmt.Sprintf("attribute mapping %q = %q gave %s, not a string", k, p.AttributeMapping[k], out.Type().TypeName())), nil
		}
		m.Attributes[k] = s
	}
	sub := m.Attributes["google.subject"]
	switch {
	case sub == "":
		return m.reject("google.subject is empty"), nil
	case len(sub) > wif.MaxSubjectBytes:
		return m.reject(fmt.Sprintf("google.subject is %d bytes, more than %d", len(sub), wif.MaxSubjectBytes)), nil
	}

	if cond != nil {
		google := map[string]any{"subject": sub}
		if m.Groups != nil {
			google["groups"] = slices.Clone(m.Groups)
		}
		attribute := map[string]any{}
		for k, v := range m.Attributes {
			if name, ok := strings.CutPrefix(k, "attribute."); ok {
				attribute[name] = v
			}
		}
		vars["google"] = google
		vars["attribute"] = attribute
		out, _, err := cond.Eval(vars)
		if err != nil {
			return m.reject(fmt.Sprintf("attribute condition failed: %v", err)), nil
		}
		b, ok := out.Value().(bool)
		if !ok {
			return m.reject(fmt.Sprintf("attribute condition gave %s, not a bool", out.Type().TypeName())), nil
		}
		if !b {
			return m.reject(ReasonConditionRejected), nil
		}
	}
	m.Accepted = true
	return m, nil
}

func (m Mapping) reject(reason string) Mapping {
	m.Accepted = false
	m.Reason = reason
	return m
}

// checkMappingKeys validates the keys of a mapping and returns them sorted.
func checkMappingKeys(mapping map[string]string) ([]string, error) {
	keys := slices.Sorted(maps.Keys(mapping))
	custom := 0
	for _, k := range keys {
		switch {
		case k == "google.subject", k == "google.groups":
		case strings.HasPrefix(k, "attribute."):
			name := strings.TrimPrefix(k, "attribute.")
			if len(name) > wif.MaxAttributeNameLen || !syntax.AttributeName(name) {
				return nil, fmt.Errorf("wif: attribute mapping key %q: NAME in attribute.NAME must be 1 to %d characters of [a-z0-9_]: %w", k, wif.MaxAttributeNameLen, twostage.ErrInvalid)
			}
			custom++
		default:
			return nil, fmt.Errorf("wif: attribute mapping key %q: want google.subject, google.groups or attribute.NAME: %w", k, twostage.ErrInvalid)
		}
		if strings.TrimSpace(mapping[k]) == "" {
			return nil, fmt.Errorf("wif: attribute mapping key %q has an empty expression: %w", k, twostage.ErrInvalid)
		}
	}
	if custom > wif.MaxCustomAttributes {
		return nil, fmt.Errorf("wif: attribute mapping has %d custom attributes, more than %d: %w", custom, wif.MaxCustomAttributes, twostage.ErrInvalid)
	}
	if _, ok := mapping["google.subject"]; !ok {
		return nil, fmt.Errorf(`wif: attribute mapping has no google.subject: add one, for example "google.subject": "assertion.sub": %w`, twostage.ErrInvalid)
	}
	return keys, nil
}

// newCELEnv returns the environment of mappings and conditions: the
// standard CEL library, the variables assertion, google and attribute, and
// the string member function extract.
func newCELEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("assertion", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("google", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("attribute", cel.MapType(cel.StringType, cel.StringType)),
		cel.Function("extract",
			cel.MemberOverload("string_extract_string", []*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
				cel.BinaryBinding(func(lhs, rhs ref.Val) ref.Val {
					s, ok1 := lhs.Value().(string)
					tmpl, ok2 := rhs.Value().(string)
					if !ok1 || !ok2 {
						return types.NewErr("extract: want string.extract(string)")
					}
					return types.String(extract(s, tmpl))
				}))),
	)
}

// extract implements the extract function Google documents for attribute
// mappings, as in assertion.sub.extract("repo:{repo}:"): the template holds
// one {name} placeholder, and the result is the text of s between the
// template's prefix and suffix (to the end of s when the suffix is empty),
// or "" when s does not contain them. (The details — first occurrence,
// empty result on no match — are unverified.)
func extract(s, tmpl string) string {
	open := strings.Index(tmpl, "{")
	end := strings.Index(tmpl, "}")
	if open < 0 || end < open {
		return ""
	}
	prefix, suffix := tmpl[:open], tmpl[end+1:]
	i := strings.Index(s, prefix)
	if i < 0 {
		return ""
	}
	rest := s[i+len(prefix):]
	if suffix == "" {
		return rest
	}
	j := strings.Index(rest, suffix)
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// compile compiles a mapping expression. Mappings may only see
// `assertion`: a reference to google or attribute is refused.
func compile(env *cel.Env, expr string, list bool) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%w: %w", twostage.ErrInvalid, iss.Err())
	}
	for _, v := range []string{"google", "attribute"} {
		if referencesVar(ast, v) {
			return nil, fmt.Errorf("a mapping may only refer to assertion, not %s: %w", v, twostage.ErrInvalid)
		}
	}
	t := ast.OutputType()
	ok := t.IsExactType(types.StringType) || t.IsExactType(types.DynType)
	if list {
		ok = ok || t.IsAssignableType(cel.ListType(cel.StringType)) || t.IsExactType(cel.ListType(cel.DynType))
	}
	if !ok {
		return nil, fmt.Errorf("the expression has type %s, not string: %w", t, twostage.ErrInvalid)
	}
	prg, err := env.Program(ast)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", twostage.ErrInvalid, err)
	}
	return prg, nil
}

// compileCondition compiles an attribute condition.
func compileCondition(env *cel.Env, expr string) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%w: %w", twostage.ErrInvalid, iss.Err())
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, fmt.Errorf("the condition has type %s, not bool: %w", t, twostage.ErrInvalid)
	}
	prg, err := env.Program(ast)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", twostage.ErrInvalid, err)
	}
	return prg, nil
}

// referencesVar reports whether a checked expression refers to the
// variable name.
func referencesVar(ast *cel.Ast, name string) bool {
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name == name {
			return true
		}
	}
	return false
}

// stringList converts a CEL value to a list of strings; a single string is a
// list of one.
func stringList(v ref.Val) ([]string, bool) {
	if s, ok := v.Value().(string); ok {
		return []string{s}, true
	}
	native, err := v.ConvertToNative(reflect.TypeFor[[]string]())
	if err != nil {
		return nil, false
	}
	out, ok := native.([]string)
	return out, ok
}
