// Package configtest reads metallb.io YAML into configurations for tests, as
// `controller validate` reads files: one helper instead of a copy per package.
package configtest

import (
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/config"
)

// Resources decodes YAML documents of metallb.io objects (and Secrets),
// failing tb on any error.
func Resources(tb testing.TB, docs string) config.Resources {
	tb.Helper()
	var res config.Resources
	if _, err := config.DecodeYAML(strings.NewReader(docs), "test", &res); err != nil {
		tb.Fatal(err)
	}
	return res
}

// Build decodes docs and builds the configuration, failing tb on any error.
func Build(tb testing.TB, docs string) *config.Config {
	tb.Helper()
	cfg, err := config.Build(Resources(tb, docs))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}
