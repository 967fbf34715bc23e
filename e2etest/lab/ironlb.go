package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ironlbBinaries are the binaries the lab builds from this clone; controller
// and speaker are empty until their packages exist.
type ironlbBinaries struct {
	lab, controller, speaker string
}

// buildIronLB builds ./e2etest/cmd/lab (backends, Service IP sync) and, when
// they exist, ./controller and ./speaker into <repo>/.cache/lab/bin.
func buildIronLB(ctx context.Context, repo string) (ironlbBinaries, error) {
	dir := binDir(repo)
	bins := ironlbBinaries{lab: filepath.Join(dir, "lab")}
	packages := []string{"./e2etest/cmd/lab"}
	for _, name := range []string{"controller", "speaker"} {
		if hasGoFiles(filepath.Join(repo, name)) {
			packages = append(packages, "./"+name)
			if name == "controller" {
				bins.controller = filepath.Join(dir, name)
			} else {
				bins.speaker = filepath.Join(dir, name)
			}
		}
	}
	cmd := exec.CommandContext(ctx, goTool(), append([]string{"build", "-o", dir + "/"}, packages...)...)
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return ironlbBinaries{}, fmt.Errorf("go build %s: %w\n%s", strings.Join(packages, " "), err, out)
	}
	return bins, nil
}

// hasGoFiles reports whether dir holds a non-test Go file.
func hasGoFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			return true
		}
	}
	return false
}

// HasController reports whether this clone has a controller to run.
func (l *Lab) HasController() bool { return l.bins.controller != "" }

// HasSpeaker reports whether this clone has a speaker to run.
func (l *Lab) HasSpeaker() bool { return l.bins.speaker != "" }

// StartController starts the controller against the lab's API server, in
// the root namespace with metrics on a free loopback port, replacing one that
// runs. With Options.Webhook it first registers the validating webhook.
func (l *Lab) StartController() error {
	if !l.HasController() {
		return errors.New("lab: this clone has no ./controller package")
	}
	if l.controller != nil {
		l.controller.Stop(5 * time.Second)
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	webhookArgs, err := l.webhookArgs()
	if err != nil {
		return err
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", port)
	args := append([]string{l.bins.controller,
		"--kubeconfig", l.Kubeconfig(),
		"--namespace", IronLBNamespace,
		"--metrics-addr", metricsAddr,
		"--log-level", "debug",
	}, webhookArgs...)
	args = append(args, l.opts.ControllerArgs...)
	p, err := startProcess(LogDir(l.repo), "controller", "", args)
	if err != nil {
		return err
	}
	l.controller = p
	l.controllerMetrics = metricsAddr
	return nil
}

// StartSpeaker starts node i's speaker inside the node's namespace, with
// --node-name and memberlist bound to the node's IPv4 address, replacing
// one that runs.
func (l *Lab) StartSpeaker(i int) error {
	if !l.HasSpeaker() {
		return errors.New("lab: this clone has no ./speaker package")
	}
	n := l.Node(i)
	if n.speaker != nil {
		n.speaker.Stop(5 * time.Second)
	}
	args := append([]string{l.bins.speaker,
		"--kubeconfig", l.Kubeconfig(),
		"--node-name", n.Name,
		"--namespace", IronLBNamespace,
		"--memberlist-bind-addr", n.IPv4.String(),
		"--log-level", "debug",
	}, l.opts.SpeakerArgs...)
	p, err := startProcess(n.logDir, "speaker-"+n.Name, string(n.NS), args, "NODE_NAME="+n.Name)
	if err != nil {
		return err
	}
	n.speaker = p
	return nil
}
