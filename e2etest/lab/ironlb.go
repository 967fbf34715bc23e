package lab

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ironlbBinaries are the binaries the lab builds from this clone.
type ironlbBinaries struct {
	lab, controller, speaker string
}

// buildIronLB builds ./e2etest/cmd/lab (backends, Service IP sync),
// ./controller and ./speaker into <repo>/.cache/lab/bin.
func buildIronLB(ctx context.Context, repo string) (ironlbBinaries, error) {
	dir := binDir(repo)
	packages := []string{"./e2etest/cmd/lab", "./controller", "./speaker"}
	cmd := exec.CommandContext(ctx, goTool(), append([]string{"build", "-o", dir + "/"}, packages...)...)
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return ironlbBinaries{}, fmt.Errorf("go build %s: %w\n%s", strings.Join(packages, " "), err, out)
	}
	return ironlbBinaries{
		lab:        filepath.Join(dir, "lab"),
		controller: filepath.Join(dir, "controller"),
		speaker:    filepath.Join(dir, "speaker"),
	}, nil
}

// StartController starts the controller against the lab's API server, in
// the root namespace with metrics on a free loopback port, replacing one that
// runs. With Options.Webhook it first registers the validating webhook.
// In pods mode it rolls out a new pod of the controller Deployment with the
// manifest's args plus Options.ControllerArgs (the running pod, if any,
// stops first) and waits until it is Ready. The API server reaches the new
// pod's webhook only once its endpoint reaches kube-proxy, a moment later
// (minutes behind 10,000 new Services): a test that needs the webhook at
// once calls WaitWebhook.
func (l *Lab) StartController() error {
	if l.opts.Pods {
		return l.rolloutController(context.Background())
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
// one that runs. In pods mode it gives node i back to the speaker
// DaemonSet and waits until the new pod's container runs.
func (l *Lab) StartSpeaker(i int) error {
	if l.opts.Pods {
		return l.startSpeakerPod(context.Background(), i)
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
