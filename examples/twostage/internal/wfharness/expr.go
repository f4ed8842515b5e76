package wfharness

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/rhysd/actionlint"
)

// status is what the status functions see.
type status struct {
	failed, cancelled bool
}

// evaluator evaluates expressions over contexts.
type evaluator struct {
	ctx    map[string]any
	status status
}

// eval evaluates one expression (without ${{ }}).
func (e *evaluator) eval(src string) (any, error) {
	n, perr := actionlint.NewExprParser().Parse(actionlint.NewExprLexer(src + "}}"))
	if perr != nil {
		return nil, fmt.Errorf("expression %q: %s", src, perr.Message)
	}
	return e.node(n)
}

func (e *evaluator) node(n actionlint.ExprNode) (any, error) {
	switch n := n.(type) {
	case *actionlint.VariableNode:
		return e.ctx[strings.ToLower(n.Name)], nil
	case *actionlint.NullNode:
		return nil, nil
	case *actionlint.BoolNode:
		return n.Value, nil
	case *actionlint.IntNode:
		return float64(n.Value), nil
	case *actionlint.FloatNode:
		return n.Value, nil
	case *actionlint.StringNode:
		return n.Value, nil
	case *actionlint.ObjectDerefNode:
		r, err := e.node(n.Receiver)
		if err != nil {
			return nil, err
		}
		return prop(r, n.Property), nil
	case *actionlint.IndexAccessNode:
		r, err := e.node(n.Operand)
		if err != nil {
			return nil, err
		}
		i, err := e.node(n.Index)
		if err != nil {
			return nil, err
		}
		return prop(r, str(i)), nil
	case *actionlint.NotOpNode:
		v, err := e.node(n.Operand)
		return !truthy(v), err
	case *actionlint.LogicalOpNode:
		l, err := e.node(n.Left)
		if err != nil {
			return nil, err
		}
		if n.Kind == actionlint.LogicalOpNodeKindAnd && !truthy(l) || n.Kind == actionlint.LogicalOpNodeKindOr && truthy(l) {
			return l, nil
		}
		return e.node(n.Right)
	case *actionlint.CompareOpNode:
		l, err := e.node(n.Left)
		if err != nil {
			return nil, err
		}
		r, err := e.node(n.Right)
		if err != nil {
			return nil, err
		}
		return compare(n.Kind, l, r), nil
	case *actionlint.FuncCallNode:
		args := make([]any, len(n.Args))
		for i, a := range n.Args {
			v, err := e.node(a)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
		return e.call(strings.ToLower(n.Callee), args)
	}
	return nil, fmt.Errorf("expression node %T is not supported by the harness", n)
}

func (e *evaluator) call(name string, args []any) (any, error) {
	switch name {
	case "success":
		return !e.status.failed && !e.status.cancelled, nil
	case "failure":
		return e.status.failed, nil
	case "cancelled":
		return e.status.cancelled, nil
	case "always":
		return true, nil
	case "contains":
		if l, ok := args[0].([]any); ok {
			for _, x := range l {
				if compare(actionlint.CompareOpNodeKindEq, x, args[1]) == true {
					return true, nil
				}
			}
			return false, nil
		}
		return strings.Contains(strings.ToLower(str(args[0])), strings.ToLower(str(args[1]))), nil
	case "startswith":
		return strings.HasPrefix(strings.ToLower(str(args[0])), strings.ToLower(str(args[1]))), nil
	case "endswith":
		return strings.HasSuffix(strings.ToLower(str(args[0])), strings.ToLower(str(args[1]))), nil
	case "format":
		s := str(args[0])
		for i, a := range args[1:] {
			s = strings.ReplaceAll(s, "{"+strconv.Itoa(i)+"}", str(a))
		}
		return s, nil
	case "tojson":
		b, err := json.MarshalIndent(args[0], "", "  ")
		return string(b), err
	}
	return nil, fmt.Errorf("function %s() is not supported by the harness", name)
}

// prop reads a property, case-insensitively as GitHub does.
func prop(v any, name string) any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if x, ok := m[name]; ok {
		return x
	}
	for k, x := range m {
		if strings.EqualFold(k, name) {
			return x
		}
	}
	return nil
}

// truthy is GitHub's coercion to boolean.
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0
	case string:
		return v != ""
	}
	return true
}

// str is GitHub's coercion to string.
func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// num is GitHub's coercion to number.
func num(v any) float64 {
	switch v := v.(type) {
	case nil:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return v
	case string:
		if strings.TrimSpace(v) == "" {
			return 0
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return -1e308 // NaN in GitHub; never equal
		}
		return f
	}
	return -1e308
}

// compare follows GitHub's loose comparison: strings case-insensitively,
// otherwise as numbers.
func compare(kind actionlint.CompareOpNodeKind, l, r any) any {
	ls, lok := l.(string)
	rs, rok := r.(string)
	var c int
	if lok && rok {
		c = strings.Compare(strings.ToLower(ls), strings.ToLower(rs))
	} else {
		a, b := num(l), num(r)
		switch {
		case a < b:
			c = -1
		case a > b:
			c = 1
		}
	}
	switch kind {
	case actionlint.CompareOpNodeKindEq:
		return c == 0
	case actionlint.CompareOpNodeKindNotEq:
		return c != 0
	case actionlint.CompareOpNodeKindLess:
		return c < 0
	case actionlint.CompareOpNodeKindLessEq:
		return c <= 0
	case actionlint.CompareOpNodeKindGreater:
		return c > 0
	case actionlint.CompareOpNodeKindGreaterEq:
		return c >= 0
	}
	return false
}

var exprRE = regexp.MustCompile(`\$\{\{(.*?)\}\}`)

// interpolate replaces every ${{ expr }} in s by its string value.
func (e *evaluator) interpolate(s string) (string, error) {
	var firstErr error
	out := exprRE.ReplaceAllStringFunc(s, func(m string) string {
		v, err := e.eval(strings.TrimSpace(m[3 : len(m)-2]))
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return str(v)
	})
	return out, firstErr
}

// condition evaluates an if: (with or without ${{ }}); an empty one is
// success(), and one that calls no status function is success() && it.
func (e *evaluator) condition(cond string) (bool, error) {
	c := strings.TrimSpace(cond)
	if strings.HasPrefix(c, "${{") && strings.HasSuffix(c, "}}") {
		c = strings.TrimSpace(c[3 : len(c)-2])
	}
	if c == "" {
		c = "success()"
	}
	if !regexp.MustCompile(`(?i)\b(success|failure|always|cancelled)\(`).MatchString(c) {
		c = "success() && (" + c + ")"
	}
	v, err := e.eval(c)
	return truthy(v), err
}
