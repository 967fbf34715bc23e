package config

import (
	"fmt"
	"sort"
	"strings"
)

// FieldError is one reason a configuration was refused. It names the object
// (kind, namespace, name) and the field, so that a user can find the line to
// change.
type FieldError struct {
	Kind      string
	Namespace string
	Name      string
	// Field is a JSON path inside the object, e.g. "spec.addresses[1]".
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	object := e.Name
	if e.Namespace != "" {
		object = e.Namespace + "/" + e.Name
	}
	if e.Field == "" {
		return fmt.Sprintf("%s %s: %s", e.Kind, object, e.Message)
	}
	return fmt.Sprintf("%s %s: %s: %s", e.Kind, object, e.Field, e.Message)
}

// Errors is every reason a configuration was refused, in a stable order.
type Errors []*FieldError

func (errs Errors) Error() string {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders errors by object and field so output is deterministic
// whatever order the objects were listed in.
func (errs Errors) sorted() Errors {
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i], errs[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Field < b.Field
	})
	return errs
}

// objectRef identifies the object errors are reported against.
type objectRef struct {
	kind, namespace, name string
}

// errorCollector accumulates FieldErrors while a configuration is built.
type errorCollector struct {
	errs Errors
}

func (c *errorCollector) add(obj objectRef, field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{
		Kind:      obj.kind,
		Namespace: obj.namespace,
		Name:      obj.name,
		Field:     field,
		Message:   fmt.Sprintf(format, args...),
	})
}
