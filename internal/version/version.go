// Package version is ironlb's release version, kept in one place: both binaries' --version, the image
// tags `make images` writes and the image references in manifests/metallb-native.yaml all read it.
package version

import "fmt"

// Version is the release; bump it here and run `make manifests`.
const Version = "v0.1.0"

// Registry is where the images are published; the manifest and `make images` name them under it.
const Registry = "ghcr.io/ironlb"

// Source is the project's source repository, stamped into the images' labels.
const Source = "https://github.com/ironlb/ironlb"

// Revision is the source commit the binary was built from, set by the Makefile with
// -ldflags "-X github.com/ironlb/ironlb/internal/version.Revision=$(git rev-parse HEAD)"; empty when
// built without it.
var Revision = ""

// Image is the reference of one of ironlb's images ("controller" or "speaker") at this Version.
func Image(component string) string {
	return Registry + "/" + component + ":" + Version
}

// Line is what `PROGRAM --version` prints.
func Line(program string) string {
	rev := Revision
	if rev == "" {
		rev = "unknown (built without the Makefile)"
	}
	return fmt.Sprintf("%s %s, revision %s", program, Version, rev)
}
