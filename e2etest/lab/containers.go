package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ContainerPID returns the host PID of a running container of pod (pods
// mode), read from its node's containerd: /proc/<pid> shows its memory and
// open files.
func (l *Lab) ContainerPID(ctx context.Context, pod *corev1.Pod, container string) (int, error) {
	var node *kubeNode
	for _, k := range l.kubeNodes {
		if k.name == pod.Spec.NodeName {
			node = k
		}
	}
	if node == nil {
		return 0, fmt.Errorf("lab: pod %s is on %q, not a lab node with a kubelet", pod.Name, pod.Spec.NodeName)
	}
	for _, status := range pod.Status.ContainerStatuses {
		if status.Name != container || status.ContainerID == "" {
			continue
		}
		_, id, _ := strings.Cut(status.ContainerID, "://")
		out, err := node.ctr(ctx, "tasks", "ls")
		if err != nil {
			return 0, err
		}
		for line := range strings.Lines(out) {
			fields := strings.Fields(line)
			if len(fields) >= 2 && fields[0] == id {
				return strconv.Atoi(fields[1])
			}
		}
		return 0, fmt.Errorf("lab: container %s of pod %s has no task on %s", container, pod.Name, node.name)
	}
	return 0, fmt.Errorf("lab: pod %s has no started container %s", pod.Name, container)
}

// ProcessUsage is what a process holds: its resident memory and open file
// descriptors (sockets included).
type ProcessUsage struct {
	RSSKiB int
	FDs    int
}

// Usage reads /proc/<pid>/status (VmRSS) and counts /proc/<pid>/fd.
func Usage(pid int) (ProcessUsage, error) {
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	status, err := os.ReadFile(filepath.Join(proc, "status"))
	if err != nil {
		return ProcessUsage{}, err
	}
	var u ProcessUsage
	for line := range strings.Lines(string(status)) {
		if value, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if _, err := fmt.Sscan(value, &u.RSSKiB); err != nil {
				return ProcessUsage{}, fmt.Errorf("%s/status: %q: %w", proc, line, err)
			}
		}
	}
	fds, err := os.ReadDir(filepath.Join(proc, "fd"))
	if err != nil {
		return ProcessUsage{}, err
	}
	u.FDs = len(fds)
	return u, nil
}
