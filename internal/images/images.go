// Package images describes ironlb's two container images — which binary each holds, whom it runs as,
// how it is tagged and labelled — for `make images` and for the manifest's test that its pod specs agree.
package images

import (
	"path/filepath"
	"strconv"

	"github.com/ironlb/ironlb/internal/imagebuild"
	"github.com/ironlb/ironlb/internal/version"
)

const (
	// ControllerUID runs the controller: nobody. The Deployment's runAsUser must be the same.
	ControllerUID = 65534
	// SpeakerUID runs the speaker: root, because it opens raw sockets for ARP and NDP. The DaemonSet
	// drops every capability but NET_RAW, so root here holds no other privilege.
	SpeakerUID = 0
)

// Components are the images' names, which are also their binaries' names.
var Components = []string{"controller", "speaker"}

// Spec is the image of one component ("controller" or "speaker") holding the binary binDir/component;
// revision is the source commit stamped into its labels.
func Spec(component, binDir, revision string) imagebuild.Spec {
	uid := ControllerUID
	if component == "speaker" {
		uid = SpeakerUID
	}
	return imagebuild.Spec{
		Ref:        version.Image(component),
		Files:      []imagebuild.File{{Path: "/" + component, Source: filepath.Join(binDir, component), Mode: 0o755}},
		Entrypoint: []string{"/" + component},
		User:       user(uid),
		Labels: map[string]string{
			"org.opencontainers.image.title":    "ironlb " + component,
			"org.opencontainers.image.version":  version.Version,
			"org.opencontainers.image.revision": revision,
			"org.opencontainers.image.source":   version.Source,
			"org.opencontainers.image.licenses": "Apache-2.0",
		},
	}
}

// user is a numeric "uid:gid" with the group equal to the user, so no /etc/passwd is needed.
func user(uid int) string {
	return strconv.Itoa(uid) + ":" + strconv.Itoa(uid)
}
