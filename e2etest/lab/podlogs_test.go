package lab

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// brokenStream yields text, then fails with errBroken (or io.EOF when
// clean).
type brokenStream struct {
	io.Reader
	clean bool
}

var errBroken = errors.New("http2: client connection lost")

func (s *brokenStream) Read(p []byte) (int, error) {
	n, err := s.Reader.Read(p)
	if errors.Is(err, io.EOF) && !s.clean {
		err = errBroken
	}
	return n, err
}

func (s *brokenStream) Close() error { return nil }

// opener serves one stream per call from streams (text, and whether it
// ends cleanly); nil text is a failure to open; past the end, it fails.
func opener(streams []*string, clean []bool) func(context.Context) (io.ReadCloser, error) {
	calls := 0
	return func(context.Context) (io.ReadCloser, error) {
		defer func() { calls++ }()
		if calls >= len(streams) || streams[calls] == nil {
			return nil, errors.New("cannot open")
		}
		if streams[calls] == gone {
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "speaker-x")
		}
		return &brokenStream{Reader: strings.NewReader(*streams[calls]), clean: clean[calls]}, nil
	}
}

func text(s string) *string { return &s }

// gone, as a stream, is a pod that no longer exists.
var gone = text("")

func TestFollowResuming(t *testing.T) {
	full := "line 1\nline 2\nline 3\n"
	for _, tc := range []struct {
		name    string
		streams []*string
		clean   []bool
		want    string
		wantErr bool
	}{
		{"one clean stream", []*string{text(full)}, []bool{true}, full, false},
		{"a broken stream is resumed where it broke", []*string{text("line 1\nli"), nil, text(full)}, []bool{false, false, true}, full, false},
		{"a stream breaking again and again is resumed each time", []*string{text("l"), text("li"), text("lin"), text("line"), text("line "), text("line 1"), text(full)},
			[]bool{false, false, false, false, false, false, true}, full, false},
		{"a shorter stream is a break, not the end", []*string{text("line 1\n"), text("line"), text(full)}, []bool{false, true, true}, full, false},
		{"an outage is waited out", []*string{text("line 1\n"), nil, nil, nil, nil, nil, text(full)},
			[]bool{false, false, false, false, false, false, true}, full, false},
		{"gives up when the pod is gone", []*string{text("line 1\n"), nil, gone}, []bool{false, false, false}, "line 1\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got strings.Builder
			err := followResuming(t.Context(), opener(tc.streams, tc.clean), &got, 0)
			if (err != nil) != tc.wantErr || got.String() != tc.want {
				t.Errorf("followResuming: %q, %v; want %q, error %v", got.String(), err, tc.want, tc.wantErr)
			}
		})
	}
}
