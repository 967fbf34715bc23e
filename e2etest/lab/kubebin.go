package lab

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// KubeVersion is the Kubernetes release whose binaries (kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl) the
// lab runs; e2etest/kubebin/go.mod pins it, and etcd at the version it pins.
const KubeVersion = "v1.35.4"

// kubeVersionLDFlags sets the version that kube-apiserver and kubectl report;
// without it `kubectl version` fails.
var kubeVersionLDFlags = strings.Join([]string{
	"-s", "-w",
	"-X k8s.io/component-base/version.gitVersion=" + KubeVersion,
	"-X k8s.io/component-base/version.gitMajor=1",
	"-X k8s.io/component-base/version.gitMinor=35",
	"-X k8s.io/component-base/version.gitTreeState=clean",
}, " ")

// KubeBinaries are the Kubernetes binaries the lab runs.
type KubeBinaries struct {
	APIServer         string
	ControllerManager string
	Scheduler         string
	Kubelet           string
	Proxy             string
	Kubectl           string
	Etcd              string
}

// paths lists every binary.
func (b KubeBinaries) paths() []string {
	return []string{b.APIServer, b.ControllerManager, b.Scheduler, b.Kubelet, b.Proxy, b.Kubectl, b.Etcd}
}

// kubeBuild is one `go build` of the kubebin module.
type kubeBuild struct {
	output   string // file, or directory ending in "/"
	ldflags  string
	packages []string
}

var kubeBuilds = []kubeBuild{
	{output: "/", ldflags: kubeVersionLDFlags, packages: []string{
		"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager",
		"k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes/cmd/kubelet",
		"k8s.io/kubernetes/cmd/kube-proxy", "k8s.io/kubernetes/cmd/kubectl"}},
	{output: "/etcd", ldflags: "-s -w", packages: []string{"go.etcd.io/etcd/server/v3"}},
}

// BuildKube returns the Kubernetes binaries and etcd from the user cache
// (${XDG_CACHE_HOME:-$HOME/.cache}/ironlb/kube-<version>-<stamp>), building
// them from the module in e2etest/kubebin first when they are missing. The
// directory is named after the build stamp (go.mod, go.sum, flags, Go
// version), so checkouts pinning different module files each keep their own
// set instead of rebuilding over each other's. A lock keeps two runs from
// building one set at once. The first build compiles about 2,500 packages;
// the Go build cache makes later ones link-only.
func BuildKube(ctx context.Context, repo string, progress io.Writer) (KubeBinaries, error) {
	cache, err := userCacheDir()
	if err != nil {
		return KubeBinaries{}, err
	}
	module := filepath.Join(repo, "e2etest", "kubebin")
	stamp, err := kubeBuildStamp(module)
	if err != nil {
		return KubeBinaries{}, err
	}
	dir := filepath.Join(cache, "kube-"+KubeVersion+"-"+stamp[:12])
	bins := kubeBinariesIn(dir)
	if bins.upToDate(dir, stamp) {
		return bins, nil
	}
	lock, err := lockFile(filepath.Join(dir, ".lock"), func() {
		fmt.Fprintf(progress, "lab: waiting for another run that is building the Kubernetes binaries in %s\n", dir)
	})
	if err != nil {
		return KubeBinaries{}, err
	}
	defer lock.unlock()
	if bins.upToDate(dir, stamp) {
		return bins, nil
	}

	fmt.Fprintf(progress, "lab: building kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl (%s) and etcd from the Go module proxy into %s\n", KubeVersion, dir)
	fmt.Fprintf(progress, "lab: the first build takes ~20-25 minutes on 2 cores and ~4 GB of Go build cache; later ones only link (seconds)\n")
	start := time.Now()
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return KubeBinaries{}, err
	}
	defer os.RemoveAll(tmp)
	for _, b := range kubeBuilds {
		if err := goBuildVerbose(ctx, module, tmp+b.output, b.ldflags, b.packages, progress, start); err != nil {
			return KubeBinaries{}, err
		}
	}
	for _, path := range bins.paths() {
		if err := os.Rename(filepath.Join(tmp, filepath.Base(path)), path); err != nil {
			return KubeBinaries{}, err
		}
	}
	out, err := exec.CommandContext(ctx, bins.Kubectl, "version", "--client").CombinedOutput()
	if err != nil || !strings.Contains(string(out), KubeVersion) {
		return KubeBinaries{}, fmt.Errorf("built kubectl does not report %s: %v: %s", KubeVersion, err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "stamp"), []byte(stamp), 0o644); err != nil {
		return KubeBinaries{}, err
	}
	fmt.Fprintf(progress, "lab: Kubernetes binaries built in %s\n", time.Since(start).Round(time.Second))
	return bins, nil
}

// kubeBinariesIn names the binaries in dir.
func kubeBinariesIn(dir string) KubeBinaries {
	return KubeBinaries{
		APIServer:         filepath.Join(dir, "kube-apiserver"),
		ControllerManager: filepath.Join(dir, "kube-controller-manager"),
		Scheduler:         filepath.Join(dir, "kube-scheduler"),
		Kubelet:           filepath.Join(dir, "kubelet"),
		Proxy:             filepath.Join(dir, "kube-proxy"),
		Kubectl:           filepath.Join(dir, "kubectl"),
		Etcd:              filepath.Join(dir, "etcd"),
	}
}

// upToDate reports whether all binaries exist and were built from the
// module and flags that stamp identifies.
func (b KubeBinaries) upToDate(dir, stamp string) bool { return builtWith(dir, stamp, b.paths()) }

// builtWith reports whether every file of paths exists and dir's stamp file
// holds stamp: they were built as stamp identifies.
func builtWith(dir, stamp string, paths []string) bool {
	got, err := os.ReadFile(filepath.Join(dir, "stamp"))
	if err != nil || string(got) != stamp {
		return false
	}
	for _, path := range paths {
		if _, err := os.Stat(path); err != nil {
			return false
		}
	}
	return true
}

// kubeBuildStamp identifies a build: the kubebin module's go.mod and go.sum,
// the link flags and the Go version.
func kubeBuildStamp(module string) (string, error) {
	var builds []string
	for _, b := range kubeBuilds {
		builds = append(builds, fmt.Sprintf("%s|%s|%v\n", b.output, b.ldflags, b.packages))
	}
	return buildStamp(module, builds...)
}

// buildStamp hashes a nested module's go.mod and go.sum, the description of
// each build from it and the Go version.
func buildStamp(module string, builds ...string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(module, name))
		if err != nil {
			return "", fmt.Errorf("%s module: %w", filepath.Base(module), err)
		}
		h.Write(data)
	}
	for _, b := range builds {
		io.WriteString(h, b)
	}
	fmt.Fprintln(h, runtime.Version())
	return hex.EncodeToString(h.Sum(nil)), nil
}

// goBuildVerbose runs `go build -v` in module, reporting every 30 s how many
// packages it has compiled. On failure the error carries the build's output.
func goBuildVerbose(ctx context.Context, module, output, ldflags string, packages []string, progress io.Writer, start time.Time) error {
	args := append([]string{"build", "-v", "-trimpath", "-ldflags", ldflags, "-o", output}, packages...)
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var compiled atomic.Int64
	done := make(chan struct{})
	go func() {
		ticker := time.NewTicker(30 * time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				fmt.Fprintf(progress, "lab:   ... %d packages compiled, %s elapsed\n",
					compiled.Load(), time.Since(start).Round(time.Second))
			}
		}
	}()
	var tail []string
	scanner := bufio.NewScanner(stderr)
	for scanner.Scan() {
		line := scanner.Text()
		compiled.Add(1)
		tail = append(tail, line)
		if len(tail) > 40 {
			tail = tail[1:]
		}
	}
	err = cmd.Wait()
	close(done)
	if err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", strings.Join(packages, " "), module, err, strings.Join(tail, "\n"))
	}
	return nil
}

// goTool is the go command: the one on PATH, else the standard install.
func goTool() string {
	if path, err := exec.LookPath("go"); err == nil {
		return path
	}
	return "/usr/local/go/bin/go"
}
