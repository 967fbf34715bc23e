package imagebuild

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// testSpecs returns two images over files written into dir.
func testSpecs(t *testing.T, dir string) []Spec {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, []byte("#!/not/really\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []Spec{
		{
			Ref:        "ghcr.io/ironlb/controller:v0.1.0",
			Files:      []File{{Path: "/controller", Source: bin, Mode: 0o755}, {Path: "/etc/ironlb/notes", Source: bin, Mode: 0o644}},
			Dirs:       []Dir{{Path: "/tmp", Mode: 0o1777}},
			Entrypoint: []string{"/controller"},
			User:       "65532:65532",
			Labels:     map[string]string{"org.opencontainers.image.version": "v0.1.0"},
		},
		{Ref: "ghcr.io/ironlb/speaker:v0.1.0", Files: []File{{Path: "/speaker", Source: bin, Mode: 0o755}}, Entrypoint: []string{"/speaker"}},
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestWriteDockerArchiveIsReproducible(t *testing.T) {
	dir := t.TempDir()
	specs := testSpecs(t, dir)
	first, second := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	if err := WriteDockerArchive(first, specs...); err != nil {
		t.Fatal(err)
	}
	// Source files touched later must not change the image: only content and the given mode count.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(specs[0].Files[0].Source, later, later); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(first); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("archive mode = %v (%v), want 0644", info.Mode(), err)
	}
	for range 3 { // several runs: map order in the writer must not matter
		if err := WriteDockerArchive(second, specs...); err != nil {
			t.Fatal(err)
		}
		if a, b := sha256File(t, first), sha256File(t, second); a != b {
			t.Fatalf("two builds of the same inputs differ: %s vs %s", a, b)
		}
	}
}

func TestSourceDateEpochDatesTheImage(t *testing.T) {
	dir := t.TempDir()
	spec := testSpecs(t, dir)[1]
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	epoch, err := BuildEpoch()
	if err != nil {
		t.Fatal(err)
	}
	img, err := Image(spec, epoch)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Created.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("created = %v, want the SOURCE_DATE_EPOCH", cfg.Created)
	}
	other, err := Image(spec, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := other.Digest()
	if d1 == d2 {
		t.Error("a different epoch gave the same digest; the epoch is not in the image")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := BuildEpoch(); err == nil {
		t.Error("SOURCE_DATE_EPOCH=yesterday accepted")
	}
}

// TestArchiveContents loads the archive back the way a runtime would and checks tags, config and layer.
func TestArchiveContents(t *testing.T) {
	dir := t.TempDir()
	specs := testSpecs(t, dir)
	archive := filepath.Join(dir, "images.tar")
	if err := WriteDockerArchive(archive, specs...); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(specs[0].Ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" {
		t.Errorf("platform = %s/%s", cfg.OS, cfg.Architecture)
	}
	if !reflect.DeepEqual(cfg.Config.Entrypoint, []string{"/controller"}) || cfg.Config.User != "65532:65532" ||
		cfg.Config.Labels["org.opencontainers.image.version"] != "v0.1.0" {
		t.Errorf("config = %+v", cfg.Config)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got []string
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || !hdr.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: owner %d:%d, time %v; want 0:0 at the epoch", hdr.Name, hdr.Uid, hdr.Gid, hdr.ModTime)
		}
		got = append(got, hdr.Name+" "+hdr.FileInfo().Mode().String())
		if hdr.Name == "controller" {
			body, _ := io.ReadAll(tr)
			if !bytes.Equal(body, []byte("#!/not/really\n")) {
				t.Errorf("controller content = %q", body)
			}
		}
	}
	want := []string{"controller -rwxr-xr-x", "etc/ drwxr-xr-x", "etc/ironlb/ drwxr-xr-x", "etc/ironlb/notes -rw-r--r--", "tmp/ dtrwxrwxrwx"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("layer entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWriteDockerArchiveRejectsBadSpecs(t *testing.T) {
	dir := t.TempDir()
	good := testSpecs(t, dir)[1]
	for _, tc := range []struct {
		name   string
		mutate func(*Spec)
		want   string
	}{
		{"relative path", func(s *Spec) { s.Files[0].Path = "speaker" }, "absolute"},
		{"root path", func(s *Spec) { s.Files[0].Path = "/" }, "absolute"},
		{"file twice", func(s *Spec) { s.Files = append(s.Files, s.Files[0]) }, "twice"},
		{"file under file", func(s *Spec) { s.Files = append(s.Files, File{Path: "/speaker/x", Source: s.Files[0].Source}) }, "file and a directory"},
		{"missing source", func(s *Spec) { s.Files[0].Source = filepath.Join(dir, "nope") }, "no such file"},
		{"bad ref", func(s *Spec) { s.Ref = "Not A Ref" }, "Not A Ref"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := good
			spec.Files = append([]File(nil), good.Files...)
			tc.mutate(&spec)
			err := WriteDockerArchive(filepath.Join(dir, "x.tar"), spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if err := WriteDockerArchive(filepath.Join(dir, "x.tar"), good, good); err == nil {
		t.Error("the same ref twice accepted")
	}
}
