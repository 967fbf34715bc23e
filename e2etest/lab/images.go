package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ironlb/ironlb/internal/imagebuild"
	"github.com/ironlb/ironlb/internal/images"
)

// Images of the lab's own pods; the lab imports them into every node's
// containerd, so pods never pull.
const (
	// PauseImage is containerd's sandbox_image (e2etest/cmd/pause).
	PauseImage = "lab.ironlb.io/pause:1"
	// BackendImage answers HTTP with its node's name (e2etest/cmd/backend).
	BackendImage = "lab.ironlb.io/backend:1"
)

// labLDFlags build the images' binaries like `make images` does, with
// "lab" as the revision they report. Unlike `make images` they keep Go's
// build ID, which lets `go build` leave an up-to-date binary untouched and
// so the archive made from it.
const labLDFlags = "-s -w -X github.com/ironlb/ironlb/internal/version.Revision=lab"

// labImages are the docker-archive tarballs the lab imports into every
// node.
type labImages struct {
	archives []string
}

// buildImages builds the pause, backend, controller and speaker binaries
// (static, -trimpath) and writes them as images into
// <repo>/.cache/lab/images: the ironlb ones as `make images` describes them
// (internal/images: tagged as the manifest references them, the controller
// running as nobody).
func buildImages(ctx context.Context, repo string) (labImages, error) {
	dir := filepath.Join(repo, ".cache", "lab", "images")
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return labImages{}, err
	}
	packages := []string{"./e2etest/cmd/pause", "./e2etest/cmd/backend", "./controller", "./speaker"}
	cmd := exec.CommandContext(ctx, goTool(), append([]string{"build", "-trimpath", "-ldflags", labLDFlags, "-o", bin + "/"}, packages...)...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return labImages{}, fmt.Errorf("go build %s: %w\n%s", strings.Join(packages, " "), err, out)
	}
	file := func(name string) []imagebuild.File {
		return []imagebuild.File{{Path: "/" + name, Source: filepath.Join(bin, name), Mode: 0o755}}
	}
	specs := []imagebuild.Spec{
		{Ref: PauseImage, Files: file("pause"), Entrypoint: []string{"/pause"}},
		{Ref: BackendImage, Files: file("backend"), Entrypoint: []string{"/backend"}},
	}
	for _, component := range images.Components {
		specs = append(specs, images.Spec(component, bin, "lab"))
	}
	var built labImages
	for _, spec := range specs {
		name := spec.Entrypoint[0][1:]
		archive := filepath.Join(dir, name+".tar")
		if err := writeArchive(archive, spec); err != nil {
			return labImages{}, fmt.Errorf("image %s: %w", spec.Ref, err)
		}
		built.archives = append(built.archives, archive)
	}
	return built, nil
}

// writeArchive writes spec's docker archive to path unless the archive there
// was written from the same spec and the same files, as its stamp file
// (path.stamp) records.
func writeArchive(path string, spec imagebuild.Spec) error {
	stamp, err := archiveStamp(spec)
	if err != nil {
		return err
	}
	if written, err := os.ReadFile(path + ".stamp"); err == nil && string(written) == stamp {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
	}
	if err := imagebuild.WriteDockerArchive(path, spec); err != nil {
		return err
	}
	return os.WriteFile(path+".stamp", []byte(stamp), 0o644)
}

// archiveStamp identifies what an archive is written from: the spec and the
// contents of the files it copies (`go build` rewrites an up-to-date binary,
// so its modification time says nothing).
func archiveStamp(spec imagebuild.Spec) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%#v\n", spec)
	for _, f := range spec.Files {
		if err := hashFile(h, f.Source); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile writes the contents of the file at path to h.
func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}
