package lab

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// prepareKubeNodes readies every node namespace for a kubelet: the cgroup
// hierarchies and each node's cgroup root, containerd with the lab's images
// imported and the node's CNI configuration. It needs no API server.
func (l *Lab) prepareKubeNodes(ctx context.Context, logDir string) error {
	if err := mountMissingCgroups(ctx); err != nil {
		return err
	}
	l.logf("lab: starting containerd in %d node namespaces and importing %d images", l.opts.Nodes, len(l.images.archives))
	for i := 1; i <= l.opts.Nodes; i++ {
		l.kubeNodes = append(l.kubeNodes, newKubeNode(i))
	}
	// The nodes are independent: prepare them side by side (containerd's
	// start and the imports are most of a lab's bring-up).
	var nodes errgroup.Group
	for _, k := range l.kubeNodes {
		nodes.Go(func() error { return k.prepare(ctx, logDir, l.images.archives) })
	}
	return nodes.Wait()
}

// prepare readies one node for its kubelet: a cgroup root, a running
// containerd with every lab image imported, and the CNI configuration.
func (k *kubeNode) prepare(ctx context.Context, logDir string, archives []string) error {
	if err := createCgroupRoot(k.cgroupRoot()); err != nil {
		return err
	}
	if err := k.startContainerd(ctx, logDir); err != nil {
		return err
	}
	if err := k.importImages(ctx, archives); err != nil {
		return err
	}
	return k.writeCNIConfig()
}

// upPods brings up the rest of a lab with real nodes once the API server
// answers: controllers, scheduler, routes between pod networks, a kubelet
// and kube-proxy per node; it waits for every Node to be Ready and, unless
// WithoutIronLB, installs ironlb from the manifest and waits for its pods.
func (l *Lab) upPods(ctx context.Context, logDir string) error {
	if err := l.cp.startControllerManager(l.kubeBins, logDir, l.Kubeconfig(), true); err != nil {
		return err
	}
	if err := l.cp.startScheduler(l.kubeBins, logDir, l.Kubeconfig()); err != nil {
		return err
	}
	if err := routePodNetworks(ctx, l.opts.Nodes); err != nil {
		return err
	}
	for _, k := range l.kubeNodes {
		if err := k.startKubelet(logDir, l.cp, l.kubeBins); err != nil {
			return err
		}
		if err := k.startProxy(logDir, l.cp, l.kubeBins); err != nil {
			return err
		}
	}
	l.logf("lab: started kube-controller-manager, kube-scheduler and %d kubelets and kube-proxies", len(l.kubeNodes))
	if err := l.waitNodesReady(ctx, logDir, 2*time.Minute); err != nil {
		return err
	}
	for _, p := range []*Process{l.cp.controllerManager, l.cp.scheduler} {
		if !p.Running() {
			return fmt.Errorf("%s exited (%v); see %s", p.Name, p.ExitError(), p.LogPath)
		}
	}
	l.logf("lab: %d Nodes Ready", len(l.kubeNodes))
	logs, stopLogs := context.WithCancel(context.Background())
	l.stopLogs = stopLogs
	l.followSpeakerLogs(logs)
	if l.opts.WithoutIronLB {
		l.logf("lab: ironlb not installed (WithoutIronLB)")
		return nil
	}
	if err := l.Install(ctx); err != nil {
		return err
	}
	if err := l.addControllerArgs(ctx); err != nil {
		return err
	}
	if err := l.WaitIronLBReady(ctx, 3*time.Minute); err != nil {
		return err
	}
	return l.reissueWebhookCertificate(ctx)
}

// kubeletRestarts bounds how often waitNodesReady starts an exited kubelet
// again.
const kubeletRestarts = 3

// waitNodesReady waits until every lab node has registered and is Ready. A
// kubelet that exits is started again, at most kubeletRestarts times, as
// systemd does on a real node: the lab's kubelets share the host's
// /var/lib/kubelet/device-plugins (the kubelet does not put it under
// --root-dir), and two starting at once can race for its socket ("bind:
// address already in use").
func (l *Lab) waitNodesReady(ctx context.Context, logDir string, timeout time.Duration) error {
	restarts := map[string]int{}
	return poll(ctx, timeout, func() (bool, string) {
		ready := 0
		for _, k := range l.kubeNodes {
			node, err := l.kube.CoreV1().Nodes().Get(ctx, k.name, metav1.GetOptions{})
			if err == nil && nodeReady(node) {
				ready++
				continue
			}
			if !k.kubelet.Running() {
				if restarts[k.name] == kubeletRestarts {
					return false, fmt.Sprintf("kubelet of %s exited %d times; see %s", k.name, kubeletRestarts+1, k.kubelet.LogPath)
				}
				restarts[k.name]++
				l.logf("lab: kubelet of %s exited (%v); starting it again", k.name, k.kubelet.ExitError())
				if err := k.startKubelet(logDir, l.cp, l.kubeBins); err != nil {
					return false, err.Error()
				}
			}
		}
		return ready == len(l.kubeNodes), fmt.Sprintf("%d of %d Nodes Ready (logs: kubelet-<node>.log)", ready, len(l.kubeNodes))
	})
}

// nodeReady reports whether node's Ready condition is True.
func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// poll calls check every 200 ms until it reports done, ctx ends or timeout
// passes; the error carries check's last description.
func poll(ctx context.Context, timeout time.Duration, check func() (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		done, state := check()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s", ctx.Err(), state)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Install applies manifests/metallb-native.yaml unchanged with the lab's
// kubectl, as a user installs ironlb.
func (l *Lab) Install(ctx context.Context) error {
	if _, err := l.Kubectl(ctx, "", "apply", "-f", l.ManifestPath("metallb-native.yaml")); err != nil {
		return fmt.Errorf("install ironlb: %w", err)
	}
	return nil
}

// WaitIronLBReady waits until the controller Deployment and the speaker
// DaemonSet have every pod Ready (by their own readiness probes) and the
// controller has created the memberlist Secret.
func (l *Lab) WaitIronLBReady(ctx context.Context, timeout time.Duration) error {
	return poll(ctx, timeout, func() (bool, string) {
		var state []string
		done := true
		deploy, err := l.kube.AppsV1().Deployments(IronLBNamespace).Get(ctx, "controller", metav1.GetOptions{})
		if err != nil || deploy.Status.ObservedGeneration != deploy.Generation || deploy.Status.ReadyReplicas < 1 ||
			deploy.Status.UpdatedReplicas != deploy.Status.Replicas || deploy.Status.ReadyReplicas != deploy.Status.Replicas {
			done = false
		}
		if err == nil {
			state = append(state, fmt.Sprintf("controller %d ready", deploy.Status.ReadyReplicas))
		}
		ds, err := l.kube.AppsV1().DaemonSets(IronLBNamespace).Get(ctx, "speaker", metav1.GetOptions{})
		if err != nil || ds.Status.NumberReady != int32(len(l.kubeNodes)) || ds.Status.UpdatedNumberScheduled != int32(len(l.kubeNodes)) {
			done = false
		}
		if err == nil {
			state = append(state, fmt.Sprintf("speakers %d of %d ready", ds.Status.NumberReady, len(l.kubeNodes)))
		}
		if _, err := l.kube.CoreV1().Secrets(IronLBNamespace).Get(ctx, "memberlist", metav1.GetOptions{}); err != nil {
			done = false
			state = append(state, "no memberlist Secret")
		}
		return done, strings.Join(state, ", ") + " (kubectl -n " + IronLBNamespace + " get pods; logs under the kubelets' pod-logs)"
	})
}

// DeployBackends runs the backend image as a DaemonSet named name in
// namespace (one pod per node, label app=<name>, answering on :80 with its
// node's name) and waits until every pod is Ready. NewLoadBalancerService
// with the same name selects them.
func (l *Lab) DeployBackends(ctx context.Context, namespace, name string) error {
	return l.runBackends(ctx, backendDaemonSet(namespace, name))
}

// backendDaemonSet is a DaemonSet named name in namespace of the backend
// image (label app=<name>), answering on :80 with $NODE_NAME from the
// downward API, Ready once it answers.
func backendDaemonSet(namespace, name string) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To(int64(1)),
					Containers: []corev1.Container{{
						Name:            "backend",
						Image:           BackendImage,
						ImagePullPolicy: corev1.PullNever,
						Env: []corev1.EnvVar{{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80)}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}
}

// runBackends creates ds (unless it exists) and waits until it has a Ready
// pod on every node.
func (l *Lab) runBackends(ctx context.Context, ds *appsv1.DaemonSet) error {
	if _, err := l.kube.AppsV1().DaemonSets(ds.Namespace).Create(ctx, ds, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create backend DaemonSet %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return poll(ctx, 2*time.Minute, func() (bool, string) {
		got, err := l.kube.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return got.Status.NumberReady == int32(len(l.kubeNodes)),
			fmt.Sprintf("backend DaemonSet %s/%s: %d of %d pods ready", ds.Namespace, ds.Name, got.Status.NumberReady, len(l.kubeNodes))
	})
}

// SpeakerPod returns the speaker pod on node i.
func (l *Lab) SpeakerPod(ctx context.Context, i int) (*corev1.Pod, error) {
	pods, err := l.kube.CoreV1().Pods(IronLBNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "component=speaker", FieldSelector: "spec.nodeName=" + NodeName(i)})
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp == nil {
			return &pods.Items[i], nil
		}
	}
	return nil, fmt.Errorf("no speaker pod on %s", NodeName(i))
}

// KillSpeakerContainer kills node i's speaker container with SIGKILL
// through the node's containerd, as a crash on a real node would; the
// kubelet restarts it.
func (l *Lab) KillSpeakerContainer(ctx context.Context, i int) error {
	return l.signalSpeakerContainer(ctx, i, syscall.SIGKILL)
}

// signalSpeakerContainer sends sig to node i's speaker container through
// the node's containerd.
func (l *Lab) signalSpeakerContainer(ctx context.Context, i int, sig syscall.Signal) error {
	pod, err := l.SpeakerPod(ctx, i)
	if err != nil {
		return err
	}
	return l.signalContainer(ctx, pod, "speaker", sig)
}

// SpeakerContainerPID returns the host PID of node i's speaker container
// (its only process), for signals that must arrive at a precise moment
// (SIGSTOP and SIGCONT to freeze it).
func (l *Lab) SpeakerContainerPID(ctx context.Context, i int) (int, error) {
	pod, err := l.SpeakerPod(ctx, i)
	if err != nil {
		return 0, err
	}
	return l.ContainerPID(ctx, pod, "speaker")
}

// signalContainer sends sig to the container named container of pod
// through the containerd of the pod's node, as the kubelet delivers a signal
// (or the kernel's OOM killer a SIGKILL).
func (l *Lab) signalContainer(ctx context.Context, pod *corev1.Pod, container string, sig syscall.Signal) error {
	node, id, err := l.containerTask(pod, container)
	if err != nil {
		return err
	}
	_, err = node.ctr(ctx, "tasks", "kill", "--signal", strconv.Itoa(int(sig)), id)
	return err
}

// ContainerPID returns the host PID of a running container of pod (pods
// mode), as its node's containerd lists the container's task: /proc/<pid>
// shows its memory and open files.
func (l *Lab) ContainerPID(ctx context.Context, pod *corev1.Pod, container string) (int, error) {
	node, id, err := l.containerTask(pod, container)
	if err != nil {
		return 0, err
	}
	out, err := node.ctr(ctx, "tasks", "ls")
	if err != nil {
		return 0, err
	}
	pid, err := taskPID(out, id)
	if err != nil {
		return 0, fmt.Errorf("containerd on %s: %w", node.name, err)
	}
	return pid, nil
}

// containerTask returns the lab node running pod and the containerd ID of
// its container named container.
func (l *Lab) containerTask(pod *corev1.Pod, container string) (*kubeNode, string, error) {
	i := slices.IndexFunc(l.kubeNodes, func(k *kubeNode) bool { return k.name == pod.Spec.NodeName })
	if i < 0 {
		return nil, "", fmt.Errorf("lab: pod %s runs on %q, not on a lab node with a kubelet", pod.Name, pod.Spec.NodeName)
	}
	for _, status := range pod.Status.ContainerStatuses {
		if status.Name == container && status.ContainerID != "" {
			_, id, _ := strings.Cut(status.ContainerID, "://")
			return l.kubeNodes[i], id, nil
		}
	}
	return nil, "", fmt.Errorf("pod %s on %s has no running %s container", pod.Name, pod.Spec.NodeName, container)
}

// taskPID finds the PID of container id's task in the output of `ctr tasks
// ls` (columns TASK, PID, STATUS).
func taskPID(tasks, id string) (int, error) {
	for line := range strings.Lines(tasks) {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == id {
			pid, err := strconv.Atoi(fields[1])
			if err != nil || pid <= 0 {
				return 0, fmt.Errorf("task %s: PID %q", id, fields[1])
			}
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no task for container %s", id)
}
