package config

import (
	"fmt"
	"io"
)

// Source is one named stream of YAML documents, e.g. a file or stdin.
type Source struct {
	Name   string
	Reader io.Reader
}

// ValidateSources decodes every source as one configuration and builds it.
// It returns the objects that were skipped because they are not part of a
// configuration, and an error that is either a decoding error or Errors.
func ValidateSources(sources []Source) (skipped []string, err error) {
	var res Resources
	for _, src := range sources {
		more, err := DecodeYAML(src.Reader, src.Name, &res)
		skipped = append(skipped, more...)
		if err != nil {
			return skipped, err
		}
	}
	if CountObjects(res) == 0 {
		return skipped, fmt.Errorf("no metallb.io objects found")
	}
	_, err = Build(res)
	return skipped, err
}
