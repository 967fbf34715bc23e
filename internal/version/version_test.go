package version

import (
	"regexp"
	"testing"
)

func TestVersionIsASemverTag(t *testing.T) {
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(Version) {
		t.Errorf("Version %q is not a vMAJOR.MINOR.PATCH tag", Version)
	}
}

func TestImageAndLine(t *testing.T) {
	if got, want := Image("speaker"), "ghcr.io/ironlb/speaker:"+Version; got != want {
		t.Errorf("Image = %q, want %q", got, want)
	}
	saved := Revision
	t.Cleanup(func() { Revision = saved })
	Revision = "0123abc"
	if got, want := Line("speaker"), "speaker "+Version+", revision 0123abc"; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
	Revision = ""
	if got, want := Line("controller"), "controller "+Version+", revision unknown (built without the Makefile)"; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
}
