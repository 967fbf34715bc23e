package images

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ironlb/ironlb/internal/imagebuild"
	"github.com/ironlb/ironlb/internal/version"
)

// TestTwoBuildsGiveTheSameDigests builds both images twice from the same binaries, the second time
// with the binaries copied elsewhere and touched later, as a second checkout of the commit would.
func TestTwoBuildsGiveTheSameDigests(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1796531136")
	first, second := t.TempDir(), t.TempDir()
	for _, c := range Components {
		for _, dir := range []string{first, second} {
			if err := os.WriteFile(filepath.Join(dir, c), []byte("binary of "+c), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range Components {
		var summaries []string
		for _, dir := range []string{first, second} {
			spec := Spec(c, dir, "0123abc")
			archive := filepath.Join(dir, c+".tar")
			if err := imagebuild.WriteDockerArchive(archive, spec); err != nil {
				t.Fatal(err)
			}
			summary, err := imagebuild.Describe(archive, version.Image(c))
			if err != nil {
				t.Fatal(err)
			}
			summaries = append(summaries, summary)
		}
		if summaries[0] != summaries[1] {
			t.Errorf("%s: two builds differ:\n%s\n%s", c, summaries[0], summaries[1])
		}
	}
}

func TestSpecs(t *testing.T) {
	for _, tc := range []struct{ component, user string }{{"controller", "65534:65534"}, {"speaker", "0:0"}} {
		spec := Spec(tc.component, "bin", "0123abc")
		if spec.Ref != version.Image(tc.component) || spec.User != tc.user ||
			len(spec.Entrypoint) != 1 || spec.Entrypoint[0] != "/"+tc.component ||
			spec.Files[0].Source != filepath.Join("bin", tc.component) ||
			spec.Labels["org.opencontainers.image.revision"] != "0123abc" ||
			spec.Labels["org.opencontainers.image.version"] != version.Version {
			t.Errorf("%s: %+v", tc.component, spec)
		}
	}
}
