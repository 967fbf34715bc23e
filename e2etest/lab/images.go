package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ironlb/ironlb/internal/imagebuild"
)

// Images of the lab's own pods; the lab imports them into every node's
// containerd, so pods never pull.
const (
	// PauseImage is containerd's sandbox_image (e2etest/cmd/pause).
	PauseImage = "lab.ironlb.io/pause:1"
	// BackendImage answers HTTP with its node's name (e2etest/cmd/backend).
	BackendImage = "lab.ironlb.io/backend:1"
)

// labImages are the docker-archive tarballs the lab imports into every node
// and the ironlb image references the manifest names.
type labImages struct {
	archives            []string
	controller, speaker string
}

// manifestImage finds `image: <ref>` lines in the install manifest.
var manifestImage = regexp.MustCompile(`(?m)^\s+image:\s*(\S+)\s*$`)

// ManifestImages returns the controller and speaker images that
// manifests/metallb-native.yaml references.
func ManifestImages(repo string) (controller, speaker string, err error) {
	data, err := os.ReadFile(filepath.Join(repo, "manifests", "metallb-native.yaml"))
	if err != nil {
		return "", "", err
	}
	for _, m := range manifestImage.FindAllStringSubmatch(string(data), -1) {
		switch ref := m[1]; {
		case strings.Contains(ref, "/controller:"):
			controller = ref
		case strings.Contains(ref, "/speaker:"):
			speaker = ref
		}
	}
	if controller == "" || speaker == "" {
		return "", "", fmt.Errorf("manifests/metallb-native.yaml: controller image %q, speaker image %q: want both", controller, speaker)
	}
	return controller, speaker, nil
}

// buildImages builds the pause, backend, controller and speaker binaries
// (static, -trimpath) and writes them as images into
// <repo>/.cache/lab/images: the ironlb ones tagged as the manifest
// references them, the controller running as a non-root user like the
// manifest asks.
func buildImages(ctx context.Context, repo string) (labImages, error) {
	controllerRef, speakerRef, err := ManifestImages(repo)
	if err != nil {
		return labImages{}, err
	}
	dir := filepath.Join(repo, ".cache", "lab", "images")
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return labImages{}, err
	}
	packages := []string{"./e2etest/cmd/pause", "./e2etest/cmd/backend", "./controller", "./speaker"}
	cmd := exec.CommandContext(ctx, goTool(), append([]string{"build", "-trimpath", "-ldflags", "-s -w", "-o", bin + "/"}, packages...)...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return labImages{}, fmt.Errorf("go build %s: %w\n%s", strings.Join(packages, " "), err, out)
	}
	file := func(name string) []imagebuild.File {
		return []imagebuild.File{{Path: "/" + name, Source: filepath.Join(bin, name), Mode: 0o755}}
	}
	tmp := []imagebuild.Dir{{Path: "/tmp", Mode: 0o1777}}
	specs := []imagebuild.Spec{
		{Ref: PauseImage, Files: file("pause"), Entrypoint: []string{"/pause"}},
		{Ref: BackendImage, Files: file("backend"), Entrypoint: []string{"/backend"}},
		{Ref: controllerRef, Files: file("controller"), Dirs: tmp, Entrypoint: []string{"/controller"}, User: "65534:65534"},
		{Ref: speakerRef, Files: file("speaker"), Dirs: tmp, Entrypoint: []string{"/speaker"}},
	}
	images := labImages{controller: controllerRef, speaker: speakerRef}
	for _, spec := range specs {
		name := spec.Entrypoint[0][1:]
		archive := filepath.Join(dir, name+".tar")
		if err := imagebuild.WriteDockerArchive(archive, spec); err != nil {
			return labImages{}, fmt.Errorf("image %s: %w", spec.Ref, err)
		}
		images.archives = append(images.archives, archive)
	}
	return images, nil
}
