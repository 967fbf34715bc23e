package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// HelmVersion is the helm release that charts/ironlb is linted, rendered and
// installed with; e2etest/helmbin/go.mod pins it.
const HelmVersion = "v4.3.2"

// helmLDFlags set the version `helm version` reports, as helm's own
// Makefile does.
const helmLDFlags = "-s -w -X helm.sh/helm/v4/internal/version.version=" + HelmVersion

// helmPackage is the command the helmbin module builds.
const helmPackage = "helm.sh/helm/v4/cmd/helm"

// BuildHelm returns the helm binary from the user cache
// (${XDG_CACHE_HOME:-$HOME/.cache}/ironlb/helm-<version>-<stamp>/helm),
// building it from the module in e2etest/helmbin first when it is missing,
// like BuildKube: the directory is named after the module files, flags and
// Go version, and a lock keeps two runs from building it at once. The first
// build compiles about 900 packages (a few minutes on 2 cores).
func BuildHelm(ctx context.Context, repo string, progress io.Writer) (string, error) {
	cache, err := userCacheDir()
	if err != nil {
		return "", err
	}
	module := filepath.Join(repo, "e2etest", "helmbin")
	stamp, err := helmBuildStamp(module)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "helm-"+HelmVersion+"-"+stamp[:12])
	helm := filepath.Join(dir, "helm")
	if builtWith(dir, stamp, []string{helm}) {
		return helm, nil
	}
	lock, err := lockFile(filepath.Join(dir, ".lock"), func() {
		fmt.Fprintf(progress, "lab: waiting for another run that is building helm in %s\n", dir)
	})
	if err != nil {
		return "", err
	}
	defer lock.unlock()
	if builtWith(dir, stamp, []string{helm}) {
		return helm, nil
	}
	fmt.Fprintf(progress, "lab: building helm %s from the Go module proxy into %s (the first build takes a few minutes)\n", HelmVersion, dir)
	start := time.Now()
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := goBuildVerbose(ctx, module, filepath.Join(tmp, "helm"), helmLDFlags, []string{helmPackage}, progress, start); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(tmp, "helm"), helm); err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, helm, "version", "--short").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), HelmVersion) {
		return "", fmt.Errorf("built helm does not report %s: %v: %s", HelmVersion, err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "stamp"), []byte(stamp), 0o644); err != nil {
		return "", err
	}
	fmt.Fprintf(progress, "lab: helm built in %s\n", time.Since(start).Round(time.Second))
	return helm, nil
}

// helmBuildStamp identifies a build: the helmbin module's go.mod and go.sum,
// the package, the link flags and the Go version.
func helmBuildStamp(module string) (string, error) {
	return buildStamp(module, helmPackage+"|"+helmLDFlags+"\n")
}
