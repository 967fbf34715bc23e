package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/webhook"
)

// In pods mode the scenario helpers (KillSpeaker, StartSpeaker,
// SetEndpoints, SetNodeLabels, KillController, StartController) act on the
// cluster as an operator would, never on processes: a speaker is stopped by
// tainting its node NoExecute with a taint the manifest's speaker does not
// tolerate (the DaemonSet controller deletes the pod, the kubelet sends
// SIGTERM; the lab's backends tolerate it) or crashed by
// SIGKILLing its container through the node's containerd first; endpoints
// are the lab's backend pods that the Service selects, written into
// EndpointSlices by kube-controller-manager.

const (
	// speakerStoppedTaint (NoExecute) on a node makes the DaemonSet
	// controller delete the speaker pod there and create none until it is
	// removed. (Removing the kubernetes.io/os label that the DaemonSet's
	// nodeSelector requires did not last in the lab: the speaker was back
	// within seconds.)
	speakerStoppedTaint = "lab.ironlb.io/speaker-stopped"
	// podBackends is the DaemonSet (namespace default) of backend pods that
	// SetEndpoints selects from: hostNetwork, so each has its node's IPv4
	// and IPv6 address (the pod network is IPv4 only) and answers on :80
	// with its node's name, like a process-mode backend.
	podBackends = "lab-backend"
	// endpointLabelPrefix + a Service's name labels the backend pods that
	// the Service selects.
	endpointLabelPrefix = "ep.lab.ironlb.io/"
	// podWait bounds each wait for the cluster to act.
	podWait = 2 * time.Minute
)

// Pods reports whether the lab runs ironlb as pods (Options.Pods).
func (l *Lab) Pods() bool { return l.opts.Pods }

// SpeakerRunning reports whether node i's speaker runs: its process in
// process mode, a pod not being deleted in pods mode.
func (l *Lab) SpeakerRunning(ctx context.Context, i int) bool {
	if !l.opts.Pods {
		p := l.Speaker(i)
		return p != nil && p.Running()
	}
	_, err := l.SpeakerPod(ctx, i)
	return err == nil
}

// stopSpeakerPod stops node i's speaker and keeps it stopped until
// startSpeakerPod: sig (SIGKILL: a crash, no leave, no cleanup; SIGTERM: a
// graceful stop) goes to its container through containerd at once, as the
// kubelet would deliver it, then the node is tainted (speakerStoppedTaint)
// so that the pod is deleted rather than restarted. It returns once the pod
// is gone.
func (l *Lab) stopSpeakerPod(ctx context.Context, i int, sig syscall.Signal) error {
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM {
		return fmt.Errorf("lab: pods mode stops a speaker with SIGKILL or SIGTERM, not %v", sig)
	}
	if err := l.signalSpeakerContainer(ctx, i, sig); err != nil {
		return err
	}
	if err := l.setSpeakerStopped(ctx, i, true); err != nil {
		return err
	}
	return poll(ctx, podWait, func() (bool, string) {
		pods, err := l.speakerPods(ctx, i)
		if err != nil {
			return false, err.Error()
		}
		return len(pods) == 0, fmt.Sprintf("%d speaker pods on %s", len(pods), NodeName(i))
	})
}

// startSpeakerPod gives node i back to the speaker DaemonSet and waits until
// the new pod's container runs (not until Ready: a speaker without a valid
// configuration never gets Ready).
func (l *Lab) startSpeakerPod(ctx context.Context, i int) error {
	if err := l.setSpeakerStopped(ctx, i, false); err != nil {
		return err
	}
	return poll(ctx, podWait, func() (bool, string) {
		pod, err := l.SpeakerPod(ctx, i)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range pod.Status.ContainerStatuses {
			if s.Name == "speaker" && s.State.Running != nil {
				return true, ""
			}
		}
		return false, fmt.Sprintf("speaker pod %s on %s: %s", pod.Name, NodeName(i), pod.Status.Phase)
	})
}

// setSpeakerStopped adds or removes speakerStoppedTaint on node i.
func (l *Lab) setSpeakerStopped(ctx context.Context, i int, stopped bool) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := l.kube.CoreV1().Nodes().Get(ctx, NodeName(i), metav1.GetOptions{})
		if err != nil {
			return err
		}
		taints := slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == speakerStoppedTaint })
		if stopped {
			taints = append(taints, corev1.Taint{Key: speakerStoppedTaint, Effect: corev1.TaintEffectNoExecute})
		}
		node.Spec.Taints = taints
		_, err = l.kube.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("taint Node %s (%s: %v): %w", NodeName(i), speakerStoppedTaint, stopped, err)
	}
	return nil
}

// speakerPods lists the speaker pods on node i, also those being deleted.
func (l *Lab) speakerPods(ctx context.Context, i int) ([]corev1.Pod, error) {
	pods, err := l.kube.CoreV1().Pods(IronLBNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "component=speaker", FieldSelector: "spec.nodeName=" + NodeName(i)})
	if err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// patchNodeLabels sets (value) or removes (nil) labels of node i with a
// merge patch, leaving the kubelet's other labels alone.
func (l *Lab) patchNodeLabels(ctx context.Context, i int, labels map[string]*string) error {
	patch := map[string]any{"metadata": map[string]any{"labels": labels}}
	if _, err := l.kube.CoreV1().Nodes().Patch(ctx, NodeName(i), types.MergePatchType, mergePatch(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("label Node %s: %w", NodeName(i), err)
	}
	return nil
}

// setPodNodeLabels is SetNodeLabels in pods mode: the kubelet owns the
// Node's labels, so only the extra labels change — those a previous call
// set and extra no longer has are removed.
func (l *Lab) setPodNodeLabels(ctx context.Context, i int, extra map[string]string) error {
	change := map[string]*string{}
	for _, key := range l.extraLabels[i] {
		change[key] = nil
	}
	for key, value := range extra {
		change[key] = ptr.To(value)
	}
	if err := l.patchNodeLabels(ctx, i, change); err != nil {
		return err
	}
	if l.extraLabels == nil {
		l.extraLabels = map[int][]string{}
	}
	l.extraLabels[i] = slices.Collect(maps.Keys(extra))
	return nil
}

// setPodEndpoints is SetEndpoints in pods mode: the Service selects the
// backend pods on the given nodes (by a per-Service label on them) and the
// call returns once kube-controller-manager's EndpointSlices list exactly
// those nodes' ready endpoints.
func (l *Lab) setPodEndpoints(ctx context.Context, svc *corev1.Service, nodes ...int) error {
	if err := l.ensurePodBackends(ctx); err != nil {
		return err
	}
	key := endpointLabelPrefix + svc.Name
	if err := l.selectBackends(ctx, svc, key); err != nil {
		return err
	}
	pods, err := l.kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + podBackends})
	if err != nil {
		return err
	}
	var want []string
	for _, i := range nodes {
		want = append(want, NodeName(i))
	}
	for _, pod := range pods.Items {
		var value *string
		if slices.Contains(want, pod.Spec.NodeName) {
			value = ptr.To("true")
		}
		patch := map[string]any{"metadata": map[string]any{"labels": map[string]*string{key: value}}}
		if _, err := l.kube.CoreV1().Pods("default").Patch(ctx, pod.Name, types.MergePatchType, mergePatch(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("label backend pod %s: %w", pod.Name, err)
		}
	}
	slices.Sort(want)
	return poll(ctx, podWait, func() (bool, string) {
		current, err := l.kube.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		perFamily, err := l.readyEndpointNodes(ctx, svc)
		if err != nil {
			return false, err.Error()
		}
		// Each family's slice is written on its own: all must show want.
		done := len(perFamily) == len(current.Spec.IPFamilies)
		for _, got := range perFamily {
			done = done && slices.Equal(got, want)
		}
		return done, fmt.Sprintf("EndpointSlices of %s/%s: ready on %v per family, want %v for each of %v", svc.Namespace, svc.Name, perFamily, want, current.Spec.IPFamilies)
	})
}

// selectBackends makes the Service select the backend pods labelled key.
func (l *Lab) selectBackends(ctx context.Context, svc *corev1.Service, key string) error {
	if svc.Namespace != "default" {
		return fmt.Errorf("lab: pods mode serves Services in namespace default only, not %s", svc.Namespace)
	}
	selector := map[string]string{"app": podBackends, key: "true"}
	patch := map[string]any{"spec": map[string]any{"selector": selector}}
	// Merged into the selector NewLoadBalancerService sets ({app: name}).
	_, err := l.kube.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, mergePatch(patch), metav1.PatchOptions{})
	return err
}

// readyEndpointNodes lists per address type, sorted and once each, the
// nodes of the Service's ready endpoints.
func (l *Lab) readyEndpointNodes(ctx context.Context, svc *corev1.Service) (map[discoveryv1.AddressType][]string, error) {
	list, err := l.kube.DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name})
	if err != nil {
		return nil, err
	}
	perFamily := map[discoveryv1.AddressType][]string{}
	for _, slice := range list.Items {
		nodes := perFamily[slice.AddressType]
		for _, ep := range slice.Endpoints {
			if ep.NodeName != nil && ptr.Deref(ep.Conditions.Ready, false) && !slices.Contains(nodes, *ep.NodeName) {
				nodes = append(nodes, *ep.NodeName)
			}
		}
		slices.Sort(nodes)
		perFamily[slice.AddressType] = nodes
	}
	return perFamily, nil
}

// ensurePodBackends creates the hostNetwork backend DaemonSet once and
// waits until a pod runs Ready on every node.
func (l *Lab) ensurePodBackends(ctx context.Context) error {
	if l.podBackendsReady {
		return nil
	}
	ds := backendDaemonSet("default", podBackends)
	ds.Spec.Template.Spec.HostNetwork = true
	// Backends stay where a speaker is stopped.
	ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: speakerStoppedTaint, Operator: corev1.TolerationOpExists}}
	err := l.runBackends(ctx, ds)
	l.podBackendsReady = err == nil
	return err
}

// scaleController scales the controller Deployment to replicas and waits
// until that many pods run Ready (0: until none is left): a graceful stop
// and a start of the controller in pods mode.
func (l *Lab) scaleController(ctx context.Context, replicas int32) error {
	patch := map[string]any{"spec": map[string]any{"replicas": replicas}}
	if _, err := l.kube.AppsV1().Deployments(IronLBNamespace).Patch(ctx, "controller", types.MergePatchType, mergePatch(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("scale the controller Deployment to %d: %w", replicas, err)
	}
	return poll(ctx, podWait, func() (bool, string) {
		pods, err := l.kube.CoreV1().Pods(IronLBNamespace).List(ctx, metav1.ListOptions{LabelSelector: "component=controller"})
		if err != nil {
			return false, err.Error()
		}
		var ready int32
		var states []string
		for _, pod := range pods.Items {
			if pod.DeletionTimestamp == nil && k8s.PodReady(&pod) {
				ready++
			}
			states = append(states, pod.Name+" "+string(pod.Status.Phase))
		}
		if replicas == 0 {
			return len(pods.Items) == 0, "controller pods: " + strings.Join(states, ", ")
		}
		return ready == replicas, "controller pods: " + strings.Join(states, ", ")
	})
}

// controllerStartedAnnotation on the controller Deployment's pod template
// makes every rolloutController roll out a new pod, like `kubectl rollout
// restart` (kubectl.kubernetes.io/restartedAt).
const controllerStartedAnnotation = "lab.ironlb.io/started-at"

// rolloutController is StartController in pods mode: the controller
// Deployment gets the manifest's args plus Options.ControllerArgs, one
// replica and a new pod template, so that its Recreate strategy stops the
// running pod (SIGTERM: it releases its Lease) before it starts a new one.
// It returns once the new pod is the only one and Ready.
func (l *Lab) rolloutController(ctx context.Context) error {
	var deploy appsv1.Deployment
	if err := manifestObject("Deployment", "controller", &deploy); err != nil {
		return err
	}
	containers := deploy.Spec.Template.Spec.Containers
	if len(containers) != 1 || containers[0].Name != "controller" {
		return fmt.Errorf("lab: the manifest's controller Deployment has %d containers, want one named controller", len(containers))
	}
	args := append(containers[0].Args, l.opts.ControllerArgs...)
	patch := map[string]any{"spec": map[string]any{
		"replicas": 1,
		"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{controllerStartedAnnotation: time.Now().Format(time.RFC3339Nano)}},
			"spec":     map[string]any{"containers": []map[string]any{{"name": "controller", "args": args}}},
		},
	}}
	updated, err := l.kube.AppsV1().Deployments(IronLBNamespace).Patch(ctx, "controller", types.StrategicMergePatchType, mergePatch(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("roll out the controller Deployment with args %v: %w", args, err)
	}
	return poll(ctx, podWait, func() (bool, string) {
		d, err := l.kube.AppsV1().Deployments(IronLBNamespace).Get(ctx, "controller", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := d.Status
		return s.ObservedGeneration >= updated.Generation && s.Replicas == 1 && s.UpdatedReplicas == 1 && s.ReadyReplicas == 1,
			fmt.Sprintf("controller Deployment: %d replicas, %d updated, %d ready (generation %d observed, want %d)",
				s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.ObservedGeneration, updated.Generation)
	})
}

// stopControllerPod is KillController in pods mode: SIGKILL (a crash) goes
// to the controller's container through containerd at once, then the
// Deployment is scaled to 0 so that the pod is deleted rather than
// restarted; SIGTERM is the scale to 0 alone (the kubelet's graceful stop).
// It returns once no controller pod is left.
func (l *Lab) stopControllerPod(ctx context.Context, sig syscall.Signal) error {
	switch sig {
	case syscall.SIGTERM:
	case syscall.SIGKILL:
		pod, err := l.ControllerPod(ctx)
		if err != nil {
			return err
		}
		if err := l.signalContainer(ctx, pod, "controller", sig); err != nil {
			return err
		}
	default:
		return fmt.Errorf("lab: pods mode stops the controller with SIGKILL or SIGTERM, not %v", sig)
	}
	return l.scaleController(ctx, 0)
}

// KillControllerContainer (pods mode) kills the Ready controller pod's
// container with SIGKILL through its node's containerd, as a crash on a
// real node would, and returns once the kubelet has started it again and
// the pod is Ready. (The kubelet delays each further restart of one pod's
// container, 10 s, 20 s, 40 s, …, so use it once per pod.)
func (l *Lab) KillControllerContainer(ctx context.Context) error {
	if !l.opts.Pods {
		return errors.New("lab: KillControllerContainer needs pods mode")
	}
	pod, err := l.ControllerPod(ctx)
	if err != nil {
		return err
	}
	restarts := containerRestarts(pod, "controller")
	if err := l.signalContainer(ctx, pod, "controller", syscall.SIGKILL); err != nil {
		return err
	}
	return poll(ctx, podWait, func() (bool, string) {
		now, err := l.kube.CoreV1().Pods(IronLBNamespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got := containerRestarts(now, "controller")
		return got > restarts && k8s.PodReady(now), fmt.Sprintf("controller pod %s: %d restarts (was %d), ready %v", pod.Name, got, restarts, k8s.PodReady(now))
	})
}

// containerRestarts is the restart count of pod's container named name.
func containerRestarts(pod *corev1.Pod, name string) int32 {
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == name {
			return s.RestartCount
		}
	}
	return 0
}

// NodeBackends makes every node answer HTTP on :80 with its name and
// waits until it does: the process backends run from the start in process
// mode; pods mode starts the hostNetwork backend DaemonSet that
// SetEndpoints selects from, once.
func (l *Lab) NodeBackends(ctx context.Context) error {
	if !l.opts.Pods {
		return l.waitBackends(ctx)
	}
	return l.ensurePodBackends(ctx)
}

// mergePatch encodes a JSON merge patch; nil values remove keys.
func mergePatch(patch map[string]any) []byte {
	data, _ := json.Marshal(patch) // maps of strings, ints and nils always encode
	return data
}

// ControllerPod returns the Ready controller pod that is not being deleted.
func (l *Lab) ControllerPod(ctx context.Context) (*corev1.Pod, error) {
	pods, err := l.kube.CoreV1().Pods(IronLBNamespace).List(ctx, metav1.ListOptions{LabelSelector: "component=controller"})
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp == nil && k8s.PodReady(&pods.Items[i]) {
			return &pods.Items[i], nil
		}
	}
	return nil, fmt.Errorf("no Ready controller pod in %s", IronLBNamespace)
}

// addControllerArgs appends Options.ControllerArgs to the controller
// Deployment's container args (pods mode), as an operator would tune the
// installed Deployment; the Deployment then rolls out a new pod.
func (l *Lab) addControllerArgs(ctx context.Context) error {
	if len(l.opts.ControllerArgs) == 0 {
		return nil
	}
	var ops []map[string]any
	for _, arg := range l.opts.ControllerArgs {
		ops = append(ops, map[string]any{"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": arg})
	}
	data, _ := json.Marshal(ops) // strings always encode
	if _, err := l.kube.AppsV1().Deployments(IronLBNamespace).Patch(ctx, "controller", types.JSONPatchType, data, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("add %v to the controller Deployment's args: %w", l.opts.ControllerArgs, err)
	}
	l.logf("lab: controller Deployment args + %v", l.opts.ControllerArgs)
	return nil
}

// reissueWebhookCertificate makes the controller with
// Options.ControllerArgs issue the webhook certificate under its own flags
// (--webhook-cert-lifetime): the first controller pod, started before the
// args were added, has issued one already, which the next would keep. With
// the controller scaled to 0 it deletes the certificate's Secret, then
// starts the controller again.
func (l *Lab) reissueWebhookCertificate(ctx context.Context) error {
	if len(l.opts.ControllerArgs) == 0 {
		return nil
	}
	if err := l.scaleController(ctx, 0); err != nil {
		return err
	}
	err := l.kube.CoreV1().Secrets(IronLBNamespace).Delete(ctx, webhook.DefaultSecretName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the webhook certificate's Secret: %w", err)
	}
	return l.scaleController(ctx, 1)
}
