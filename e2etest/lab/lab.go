package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Options shape a lab; the zero value is the default lab.
type Options struct {
	// Nodes is the number of nodes, 3 when zero.
	Nodes int
	// Router is the daemon the router starts with, BIRD2 when empty.
	Router RouterKind
	// WithoutIronLB leaves the controller and speakers stopped even when
	// their packages exist; scenarios start them with StartController and
	// StartSpeaker.
	WithoutIronLB bool
	// ControllerManager runs kube-controller-manager with only the
	// namespace, garbagecollector and serviceaccount controllers, so that
	// deleted namespaces go away (never the endpointslice or node
	// controllers: the lab plays their part).
	ControllerManager bool
	// Webhook makes the API server call the controller's validating webhook
	// (see operations.go).
	Webhook bool
	// Pods runs real nodes (containerd, kubelet, kube-proxy per node
	// namespace, CNI pod networks), kube-scheduler and the controllers a
	// cluster has, and installs ironlb by applying
	// manifests/metallb-native.yaml unchanged (unless WithoutIronLB; then
	// Install does it). The lab then fakes neither Nodes, nor EndpointSlices,
	// nor Service IPs, and runs no process backends: see pods.go.
	Pods bool
	// ControllerArgs and SpeakerArgs are added to the binaries' flags; in
	// pods mode ControllerArgs are appended to the installed controller
	// Deployment's args, and SpeakerArgs are not supported.
	ControllerArgs []string
	SpeakerArgs    []string
	// RequireGrantsUsed (pods mode) fails a full run of the package (no
	// -run filter) when a verb the manifest grants ironlb's service
	// accounts was used by no request of the run, unless its declaration
	// names the test that drives it (k8s.Permission.Rare).
	RequireGrantsUsed bool
	// Log receives progress lines; os.Stderr when nil.
	Log io.Writer
}

// Lab is a running lab. Its methods are safe for use by one goroutine at a
// time.
type Lab struct {
	opts       Options
	repo       string
	lock       *fileLock
	lockWait   time.Duration // how long Up waited for another lab
	kubeBins   KubeBinaries
	bins       ironlbBinaries
	cp         *controlPlane
	kube       kubernetes.Interface
	dyn        dynamic.Interface
	crds       []string
	nodes      []*Node
	client     *Host
	ext        *Host
	router     *Router
	controller *Process
	// controllerMetrics is the controller's --metrics-addr.
	controllerMetrics string
	// images and kubeNodes exist with Options.Pods.
	images    labImages
	kubeNodes []*kubeNode
	// extraLabels are the Node labels SetNodeLabels set, per node (pods
	// mode); podBackendsReady is set once the backend DaemonSet is Ready.
	extraLabels      map[int][]string
	podBackendsReady bool
	// stopLogs ends the pods mode's speaker log followers.
	stopLogs context.CancelFunc
}

// Node is a lab node: a host with kube-ipvs0, an HTTP backend that answers
// with the node's name, and (when built) an ironlb speaker.
type Node struct {
	Host
	Index   int
	backend *Process
	speaker *Process
}

// Up builds what is missing, removes leftovers of a crashed run and brings a
// lab up: network, control plane, CRDs from manifests/crds, Node objects,
// backends, router and, when their packages exist, the controller and one
// speaker per node. It waits for another lab on this machine to go down
// first. On error nothing is left behind.
func Up(ctx context.Context, opts Options) (*Lab, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Nodes < 1 || opts.Nodes > MaxNodes {
		return nil, fmt.Errorf("lab: %d nodes asked, want 1 to %d", opts.Nodes, MaxNodes)
	}
	if opts.Router == "" {
		opts.Router = BIRD2
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("lab: needs root (it creates network namespaces and runs routers); run as root")
	}
	repo, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	l := &Lab{opts: opts, repo: repo}
	start := time.Now()
	if err := EnsurePackages(ctx, opts.Log); err != nil {
		return nil, err
	}
	if opts.Router == BIRD1 {
		if _, err := BIRD1Dir(ctx); err != nil {
			return nil, err
		}
	}
	if l.kubeBins, err = BuildKube(ctx, repo, opts.Log); err != nil {
		return nil, err
	}
	if l.bins, err = buildIronLB(ctx, repo); err != nil {
		return nil, err
	}
	if opts.Pods {
		if l.images, err = buildImages(ctx, repo); err != nil {
			return nil, err
		}
	}
	waitStart, waited := time.Now(), false
	l.lock, err = lockFile(filepath.Join(stateDir, "lock"), func() {
		waited = true
		fmt.Fprintf(opts.Log, "lab: another lab is running on this machine; waiting for it to go down\n")
	})
	if err != nil {
		return nil, err
	}
	if waited {
		// A suite's time includes this wait: say how long it was.
		l.lockWait = time.Since(waitStart)
		l.logf("lab: waited %s for the other lab", l.lockWait.Round(time.Second))
	}
	if err := l.up(ctx); err != nil {
		l.Down()
		return nil, err
	}
	l.logf("lab: up in %s (%d nodes, router %s, kubeconfig %s)",
		time.Since(start).Round(100*time.Millisecond), opts.Nodes, opts.Router, l.Kubeconfig())
	return l, nil
}

// up brings everything up in order; Up tears down on error.
func (l *Lab) up(ctx context.Context) error {
	if err := cleanup(ctx); err != nil {
		return err
	}
	logDir := LogDir(l.repo)
	if err := keepPreviousLogs(logDir); err != nil {
		return err
	}
	l.logf("lab: creating the network: bridge %s, %d nodes, client, router, ext", BridgeName, l.opts.Nodes)
	if err := createNetwork(ctx, l.opts.Nodes); err != nil {
		return err
	}
	l.client = &Host{Name: "client", NS: ClientNS, IPv4: ClientIPv4, IPv6: ClientIPv6, logDir: logDir}
	l.ext = &Host{Name: "ext", NS: ExtNS, IPv4: ExtIPv4, IPv6: ExtIPv6, logDir: logDir}
	l.router = &Router{Host: Host{Name: "router", NS: RouterNS, IPv4: RouterIPv4, IPv6: RouterIPv6, logDir: logDir}, nodes: l.opts.Nodes}
	for i := 1; i <= l.opts.Nodes; i++ {
		l.nodes = append(l.nodes, &Node{Index: i, Host: Host{Name: NodeName(i), NS: Namespace(NodeNS(i)), IPv4: NodeIPv4(i), IPv6: NodeIPv6(i), logDir: logDir}})
	}
	// In pods mode the nodes' containerds start and import images while the
	// router and the control plane start.
	nodesPrepared := make(chan error, 1)
	if l.opts.Pods {
		go func() { nodesPrepared <- l.prepareKubeNodes(ctx, logDir) }()
	} else {
		nodesPrepared <- nil
		for _, n := range l.nodes {
			var err error
			n.backend, err = n.Start("backend-"+n.Name, l.bins.lab, "backend", "--name", n.Name, "--listen", ":80")
			if err != nil {
				return err
			}
		}
	}
	err := l.startRouterAndControlPlane(ctx, logDir)
	if prepareErr := <-nodesPrepared; err == nil {
		err = prepareErr
	}
	if err != nil {
		return err
	}
	if l.kube, l.dyn, err = l.cp.clients(); err != nil {
		return err
	}
	if l.opts.Pods {
		return l.upPods(ctx, logDir)
	}
	if l.crds, err = installCRDs(ctx, l.dyn, l.repo); err != nil {
		return err
	}
	l.logf("lab: API server ready; %d CRDs from manifests/crds installed", len(l.crds))
	if l.opts.ControllerManager {
		if err := l.cp.startControllerManager(l.kubeBins, logDir, l.Kubeconfig(), false); err != nil {
			return err
		}
	}
	if err := createIronLBNamespace(ctx, l.kube); err != nil {
		return err
	}
	for i := 1; i <= l.opts.Nodes; i++ {
		if err := createNode(ctx, l.kube, i); err != nil {
			return err
		}
	}
	_, err = startProcess(logDir, "service-ip-sync", "",
		[]string{l.bins.lab, "service-ip-sync", "--kubeconfig", l.Kubeconfig(), "--nodes", fmt.Sprint(l.opts.Nodes)})
	if err != nil {
		return err
	}
	if err := l.waitBackends(ctx); err != nil {
		return err
	}
	if l.opts.WithoutIronLB {
		l.logf("lab: controller and speakers not started (WithoutIronLB)")
		return nil
	}
	if err := l.StartController(); err != nil {
		return err
	}
	l.logf("lab: started the controller")
	for i := 1; i <= l.opts.Nodes; i++ {
		if err := l.StartSpeaker(i); err != nil {
			return err
		}
	}
	l.logf("lab: started %d speakers", l.opts.Nodes)
	return nil
}

// startRouterAndControlPlane starts the router with the lab's default
// configuration, etcd and the API server.
func (l *Lab) startRouterAndControlPlane(ctx context.Context, logDir string) error {
	if err := l.router.UseDefault(ctx, l.opts.Router); err != nil {
		return err
	}
	l.logf("lab: starting etcd and kube-apiserver %s on %s:%d", KubeVersion, ControlPlaneIPv4, APIServerPort)
	var err error
	l.cp, err = startControlPlane(ctx, l.kubeBins, logDir, l.Kubeconfig(), l.opts.Pods)
	return err
}

// waitBackends waits until the client reaches every node's backend.
func (l *Lab) waitBackends(ctx context.Context) error {
	for _, n := range l.nodes {
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := l.client.Curl(ctx, n.IPv4)
			if err == nil && got == n.Name {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("backend of %s not reachable from the client: got %q, %v; see %s", n.Name, got, err, n.backend.LogPath)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// logf writes a progress line.
func (l *Lab) logf(format string, args ...any) {
	fmt.Fprintf(l.opts.Log, format+"\n", args...)
}

// Down stops every process of the lab, removes its network and releases the
// machine-wide lock.
func (l *Lab) Down() error {
	if l.stopLogs != nil {
		l.stopLogs()
	}
	if l.controller != nil {
		l.controller.Stop(5 * time.Second)
	}
	for _, n := range l.nodes {
		if n.speaker != nil {
			n.speaker.Stop(5 * time.Second)
		}
	}
	if l.router != nil {
		l.router.Stop()
	}
	// Each node's kube-proxy, kubelet and containerd stop in order, the
	// nodes side by side.
	var nodes sync.WaitGroup
	for _, k := range l.kubeNodes {
		nodes.Go(k.stop)
	}
	nodes.Wait()
	if l.cp != nil {
		l.cp.stop()
	}
	err := cleanup(context.Background())
	l.lock.unlock()
	return err
}

// Detach releases the machine-wide lock and leaves the lab running, for
// `lab up` and KEEP=1: `lab down`, or the next Up, removes it.
func (l *Lab) Detach() { l.lock.unlock() }

// Down removes whatever lab runs on this machine, including a detached one
// or the leftovers of a crashed run. It waits for a lab that is in use by a
// run (a test, a demo) to go down first.
func Down(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("lab: needs root to remove the lab")
	}
	lock, err := lockFile(filepath.Join(stateDir, "lock"), func() {
		fmt.Fprintln(os.Stderr, "lab: a run is using the lab; waiting for it to finish")
	})
	if err != nil {
		return err
	}
	defer lock.unlock()
	return cleanup(ctx)
}

// cleanup kills the lab's recorded processes and those inside its
// namespaces, removes the network and the state it keeps under stateDir.
func cleanup(ctx context.Context) error {
	if err := killRecordedProcesses(); err != nil {
		return err
	}
	if err := removeNetwork(ctx); err != nil {
		return err
	}
	if err := removeNodes(); err != nil {
		return err
	}
	for _, dir := range []string{"controlplane", "router"} {
		if err := os.RemoveAll(filepath.Join(stateDir, dir)); err != nil {
			return err
		}
	}
	return nil
}

// keepPreviousLogs moves the logs of the last run to logDir.previous and
// starts logDir empty.
func keepPreviousLogs(logDir string) error {
	previous := logDir + ".previous"
	if err := os.RemoveAll(previous); err != nil {
		return err
	}
	if err := os.Rename(logDir, previous); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.MkdirAll(logDir, 0o755)
}

// Running reports whether a lab's network exists on this machine.
func Running() bool {
	_, err := os.Stat("/sys/class/net/" + BridgeName)
	return err == nil
}

// Kubeconfig is the path of the lab's kubeconfig (admin token, API server on
// https://172.30.0.1:6443).
func (l *Lab) Kubeconfig() string { return KubeconfigPath(l.repo) }

// KubeClient is a client of the lab's API server.
func (l *Lab) KubeClient() kubernetes.Interface { return l.kube }

// Dynamic is a dynamic client of the lab's API server, for custom resources.
func (l *Lab) Dynamic() dynamic.Interface { return l.dyn }

// RESTConfig is the client configuration of the lab's API server.
func (l *Lab) RESTConfig() *rest.Config { return rest.CopyConfig(l.cp.restConfig) }

// CRDs are the names of the CustomResourceDefinitions the lab installed.
func (l *Lab) CRDs() []string { return l.crds }

// KubeBinaries are the control-plane binaries the lab runs.
func (l *Lab) KubeBinaries() KubeBinaries { return l.kubeBins }

// Kubectl runs the lab's kubectl against the lab with args, stdin as its
// input, and returns its output; the error includes the output.
func (l *Lab) Kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, l.kubeBins.Kubectl, append([]string{"--kubeconfig", l.Kubeconfig()}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Apply applies YAML manifests with kubectl apply.
func (l *Lab) Apply(ctx context.Context, manifests string) error {
	_, err := l.Kubectl(ctx, manifests, "apply", "-f", "-")
	return err
}

// NodeCount is the number of nodes.
func (l *Lab) NodeCount() int { return len(l.nodes) }

// Node returns node i (1-based).
func (l *Lab) Node(i int) *Node { return l.nodes[i-1] }

// Nodes returns all nodes, in order.
func (l *Lab) Nodes() []*Node { return l.nodes }

// Client is the client host on the lab segment (172.30.0.100).
func (l *Lab) Client() *Host { return l.client }

// Ext is the host behind the router (172.31.0.2), outside the lab segment.
func (l *Lab) Ext() *Host { return l.ext }

// Router is the BGP router.
func (l *Lab) Router() *Router { return l.router }

// Partition takes node i off the network: its port on the lab bridge goes
// down, so it reaches neither peers, nor the API server, nor the router.
func (l *Lab) Partition(ctx context.Context, i int) error {
	return ip(ctx, "link", "set", NodeNS(i), "down")
}

// Heal undoes Partition.
func (l *Lab) Heal(ctx context.Context, i int) error {
	return ip(ctx, "link", "set", NodeNS(i), "up")
}

// SetNodeLabels makes node i's labels NodeLabels(i) plus extra; in pods
// mode the kubelet's labels plus extra.
func (l *Lab) SetNodeLabels(ctx context.Context, i int, extra map[string]string) error {
	if l.opts.Pods {
		return l.setPodNodeLabels(ctx, i, extra)
	}
	node, err := l.kube.CoreV1().Nodes().Get(ctx, NodeName(i), metav1.GetOptions{})
	if err != nil {
		return err
	}
	node.Labels = NodeLabels(i)
	maps.Copy(node.Labels, extra)
	if _, err := l.kube.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("label Node %s: %w", node.Name, err)
	}
	return nil
}

// SetEndpoints makes the Service's endpoints ready backends on the given
// nodes (none: no endpoints), writing its EndpointSlices like the
// endpointslice controller would. In pods mode the Service selects the
// backend pods on those nodes instead, and the call returns once
// kube-controller-manager's EndpointSlices say so.
func (l *Lab) SetEndpoints(ctx context.Context, svc *corev1.Service, nodes ...int) error {
	if l.opts.Pods {
		return l.setPodEndpoints(ctx, svc, nodes...)
	}
	return writeEndpointSlices(ctx, l.kube, svc, ReadyEndpoints(nodes...))
}

// SetEndpointConditions writes the Service's EndpointSlices with the given
// endpoints and their conditions as they are. In pods mode only a Service
// without a selector takes them, as in a real cluster, where
// kube-controller-manager writes the EndpointSlices of the others.
func (l *Lab) SetEndpointConditions(ctx context.Context, svc *corev1.Service, eps []Endpoint) error {
	if l.opts.Pods && len(svc.Spec.Selector) > 0 {
		return fmt.Errorf("lab: Service %s/%s has a selector: in pods mode kube-controller-manager writes its EndpointSlices", svc.Namespace, svc.Name)
	}
	return writeEndpointSlices(ctx, l.kube, svc, eps)
}

// ServiceIPs lists the Service IPs on the node's kube-ipvs0.
func (n *Node) ServiceIPs() ([]netip.Addr, error) { return DeviceAddrs(n.NS, ServiceDevice) }

// Speaker is node i's speaker process, nil if never started.
func (l *Lab) Speaker(i int) *Process { return l.Node(i).speaker }

// Backend is node i's HTTP backend process.
func (l *Lab) Backend(i int) *Process { return l.Node(i).backend }

// Controller is the controller process, nil if never started.
func (l *Lab) Controller() *Process { return l.controller }

// KillSpeaker sends sig (SIGKILL, SIGTERM) to node i's speaker and waits
// until it has exited. In pods mode SIGKILL kills its container through
// containerd, and then (as SIGTERM alone does) its node leaves the speaker
// DaemonSet's nodeSelector, so the pod is deleted and not restarted until
// StartSpeaker.
func (l *Lab) KillSpeaker(i int, sig syscall.Signal) error {
	if l.opts.Pods {
		return l.stopSpeakerPod(context.Background(), i, sig)
	}
	if l.Node(i).speaker == nil {
		return fmt.Errorf("lab: %s has no speaker", NodeName(i))
	}
	return l.Node(i).speaker.Kill(sig)
}

// KillController sends sig to the controller and waits until it has exited.
// In pods mode SIGKILL kills its container through containerd, and then (as
// SIGTERM alone does) the controller Deployment is scaled to 0, so the pod
// is deleted and not restarted until StartController.
func (l *Lab) KillController(sig syscall.Signal) error {
	if l.opts.Pods {
		return l.stopControllerPod(context.Background(), sig)
	}
	if l.controller == nil {
		return errors.New("lab: no controller was started")
	}
	return l.controller.Kill(sig)
}
