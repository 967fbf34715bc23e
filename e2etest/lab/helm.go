package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ChartPath is the path of the repository's Helm chart, charts/ironlb.
func (l *Lab) ChartPath() string { return filepath.Join(l.repo, "charts", "ironlb") }

// Helm runs helm (BuildHelm) against the lab's API server, with stdin as
// its standard input, and returns its combined output.
func (l *Lab) Helm(ctx context.Context, stdin string, args ...string) (string, error) {
	helm, err := BuildHelm(ctx, l.repo, l.opts.Log)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+l.Kubeconfig())
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// TagImage gives image src the further reference dst in every node's
// containerd (pods mode), as if a new release had been pushed and pulled:
// a pod naming dst starts without pulling.
func (l *Lab) TagImage(ctx context.Context, src, dst string) error {
	if len(l.kubeNodes) == 0 {
		return fmt.Errorf("tag image %s: the lab has no real nodes (Options.Pods)", dst)
	}
	for _, k := range l.kubeNodes {
		if _, err := k.ctr(ctx, "images", "tag", "--force", src, dst); err != nil {
			return err
		}
	}
	return nil
}
