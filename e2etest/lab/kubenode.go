package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// nodesStateDir holds, per node, containerd's state and socket, the
// kubelet's and kube-proxy's configuration and credentials, the CNI
// configuration and the pods' network namespaces.
var nodesStateDir = filepath.Join(stateDir, "nodes")

// nodesDataDir holds, per node, containerd's root (images, snapshots) and
// the kubelet's root directory and pod logs: on disk, not on /run.
const nodesDataDir = "/var/lib/ironlb-lab"

// SpeakerStateHostPath is the speaker DaemonSet's hostPath for its state (the
// last valid configuration, `--state-dir`) in manifests/metallb-native.yaml.
// Unlike on real nodes, every lab node sees the same host directory: the lab
// empties it on up and down, so that no run serves a configuration an
// earlier run saved.
const SpeakerStateHostPath = "/var/lib/ironlb"

// cniBinDir is where Debian's containernetworking-plugins puts the plugins.
const cniBinDir = "/usr/lib/cni"

// kubeNode is what runs a real Kubernetes node inside a lab node's network
// namespace: containerd, kubelet and kube-proxy.
type kubeNode struct {
	index      int
	name       string
	ns         Namespace
	stateDir   string // under nodesStateDir
	dataDir    string // under nodesDataDir
	containerd *Process
	kubelet    *Process
	proxy      *Process
}

func newKubeNode(i int) *kubeNode {
	return &kubeNode{
		index:    i,
		name:     NodeName(i),
		ns:       Namespace(NodeNS(i)),
		stateDir: filepath.Join(nodesStateDir, NodeName(i)),
		dataDir:  filepath.Join(nodesDataDir, NodeName(i)),
	}
}

// socket is containerd's CRI and API socket.
func (k *kubeNode) socket() string { return filepath.Join(k.stateDir, "containerd.sock") }

// cgroupRoot is the node's cgroup, in every hierarchy: its pods live below.
func (k *kubeNode) cgroupRoot() string { return "/" + Prefix + k.name }

// inNetns prefixes argv so that it runs in the node's network namespace
// but in the machine's mount namespace: `ip netns exec` would remount /sys
// and hide the cgroup hierarchies runc needs.
func (k *kubeNode) inNetns(argv ...string) []string {
	return append([]string{"nsenter", "--net=/run/netns/" + string(k.ns), "--"}, argv...)
}

// startContainerd writes containerd's configuration and starts it; it
// returns when the socket answers.
func (k *kubeNode) startContainerd(ctx context.Context, logDir string) error {
	for _, dir := range []string{k.stateDir, k.dataDir, filepath.Join(k.stateDir, "cni", "net.d")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = %q
  netns_mounts_under_state_dir = true
  disable_apparmor = true
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = %q
  conf_dir = %q
`, filepath.Join(k.dataDir, "containerd"), filepath.Join(k.stateDir, "containerd"), k.socket(),
		PauseImage, cniBinDir, filepath.Join(k.stateDir, "cni", "net.d"))
	path := filepath.Join(k.stateDir, "containerd.toml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return err
	}
	var err error
	k.containerd, err = startProcess(logDir, "containerd-"+k.name, "", k.inNetns("containerd", "--config", path))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := k.ctr(ctx, "version"); err == nil {
			return nil
		}
		if !k.containerd.Running() || time.Now().After(deadline) {
			return fmt.Errorf("containerd of %s not answering on %s; see %s", k.name, k.socket(), k.containerd.LogPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ctr runs containerd's ctr against the node's containerd, in the k8s.io
// namespace the CRI plugin uses.
func (k *kubeNode) ctr(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", k.socket(), "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s on %s: %w: %s", strings.Join(args, " "), k.name, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// importImages imports docker-archive tarballs into the node's containerd;
// pods never pull.
func (k *kubeNode) importImages(ctx context.Context, archives []string) error {
	for _, archive := range archives {
		if _, err := k.ctr(ctx, "images", "import", archive); err != nil {
			return err
		}
	}
	return nil
}

// writeCNIConfig gives the node a bridge network (cni0, gateway .1) with
// addresses from its pod range; routes to other nodes' ranges are set by
// routePodNetworks.
func (k *kubeNode) writeCNIConfig() error {
	config := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "lab",
  "plugins": [{
    "type": "bridge",
    "bridge": "cni0",
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": %q
    }
  }]
}
`, NodePodCIDR(k.index), filepath.Join(k.stateDir, "cni", "ipam"))
	return os.WriteFile(filepath.Join(k.stateDir, "cni", "net.d", "10-lab.conflist"), []byte(config), 0o644)
}

// startKubelet writes the kubelet's configuration and credentials
// (system:node:<name>) and starts it; it registers the Node itself.
func (k *kubeNode) startKubelet(logDir string, cp *controlPlane, bins KubeBinaries) error {
	dir := filepath.Join(k.stateDir, "kubelet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.ca.clientKubeconfig("kubelet-"+k.name, kubeconfig, cp.url, "system:node:"+k.name, "system:nodes"); err != nil {
		return err
	}
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
cgroupRoot: %s
cgroupsPerQOS: true
enforceNodeAllocatable: []
containerRuntimeEndpoint: unix://%s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %s}
authorization: {mode: Webhook}
podLogsDir: %s
localStorageCapacityIsolation: false
readOnlyPort: 0
healthzPort: 0
resolvConf: /etc/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
nodeStatusReportFrequency: 10s
syncFrequency: 10s
`, k.cgroupRoot(), k.socket(), cp.ca.certPath(), filepath.Join(k.dataDir, "pod-logs"))
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return err
	}
	var err error
	k.kubelet, err = startProcess(logDir, "kubelet-"+k.name, "", k.inNetns(bins.Kubelet,
		"--config", configPath,
		"--kubeconfig", kubeconfig,
		"--root-dir", filepath.Join(k.dataDir, "kubelet"),
		"--hostname-override", k.name,
		"--node-ip", NodeIPv4(k.index).String()+","+NodeIPv6(k.index).String(),
		"--node-labels", "lab.ironlb.io/node="+fmt.Sprint(k.index),
		"--cert-dir", filepath.Join(dir, "pki"),
		"--v", "1",
	))
	return err
}

// startProxy writes kube-proxy's configuration and credentials
// (system:kube-proxy) and starts it in iptables mode.
func (k *kubeNode) startProxy(logDir string, cp *controlPlane, bins KubeBinaries) error {
	dir := filepath.Join(k.stateDir, "kube-proxy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.ca.clientKubeconfig("kube-proxy-"+k.name, kubeconfig, cp.url, "system:kube-proxy"); err != nil {
		return err
	}
	// conntrack: 0 leaves the machine-wide table size and timeouts alone.
	config := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: %s
hostnameOverride: %s
clientConnection: {kubeconfig: %s}
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, PodCIDRIPv4, k.name, kubeconfig)
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return err
	}
	var err error
	k.proxy, err = startProcess(logDir, "kube-proxy-"+k.name, "", k.inNetns(bins.Proxy, "--config", configPath, "--v", "1"))
	return err
}

// stop ends kube-proxy, the kubelet and containerd.
func (k *kubeNode) stop() {
	// The lab goes away with them: no order and a short grace. Stopped one
	// after the other, each with its own clean shutdown, they took 5 s per
	// node (kube-proxy 1 s, the kubelet and containerd 2 s each).
	var stops sync.WaitGroup
	for _, p := range []*Process{k.proxy, k.kubelet, k.containerd} {
		if p != nil {
			stops.Go(func() { p.Stop(time.Second) })
		}
	}
	stops.Wait()
}

// routePodNetworks makes the nodes forward (IPv4 and IPv6) and every node's
// pod range reachable: from each node
// namespace and the root namespace through the owning node, and the IPv4
// service range from the root namespace through the nodes (their kube-proxy
// translates it), so the API server reaches webhook Services. The routes
// leave with the bridge.
func routePodNetworks(ctx context.Context, nodes int) error {
	for i := 1; i <= nodes; i++ {
		// IPv6 too: kube-proxy sends IPv6 Service traffic to endpoints on
		// other nodes (hostNetwork pods have their node's IPv6 address).
		for _, setting := range []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"} {
			if err := sysctl(ctx, Namespace(NodeNS(i)), setting); err != nil {
				return err
			}
		}
		for j := 1; j <= nodes; j++ {
			if i == j {
				continue
			}
			if err := ip(ctx, "-n", NodeNS(i), "route", "add", NodePodCIDR(j).String(), "via", NodeIPv4(j).String()); err != nil {
				return err
			}
		}
		if err := ip(ctx, "route", "add", NodePodCIDR(i).String(), "via", NodeIPv4(i).String(), "dev", BridgeName); err != nil {
			return err
		}
	}
	args := []string{"route", "add", ServiceCIDRIPv4.String()}
	for i := 1; i <= nodes; i++ {
		args = append(args, "nexthop", "via", NodeIPv4(i).String(), "dev", BridgeName)
	}
	return ip(ctx, args...)
}
