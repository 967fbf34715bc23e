package lab

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// controlPlane is etcd on loopback and kube-apiserver on the lab bridge.
type controlPlane struct {
	etcd, apiserver   *Process
	controllerManager *Process // nil unless asked for
	scheduler         *Process // nil unless pods run
	token             string
	url               string
	ca                *certificateAuthority
	restConfig        *rest.Config
}

// startControlPlane starts etcd and kube-apiserver (token auth for the
// admin, client certificates signed by the lab CA for everything else,
// Node and RBAC authorization, dual-stack service range, an audit log of
// ironlb's service accounts), waits until the API server is ready and writes
// the kubeconfig. With pods the API server publishes its address in the
// kubernetes Service and has a client certificate for the kubelets.
func startControlPlane(ctx context.Context, bins KubeBinaries, logDir, kubeconfig string, pods bool) (*controlPlane, error) {
	dir := controlPlaneDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	token, err := writeCredentials(dir)
	if err != nil {
		return nil, err
	}
	ca, err := newCertificateAuthority(dir)
	if err != nil {
		return nil, err
	}
	serving, servingKey, err := ca.issue(apiServerCertRequest())
	if err != nil {
		return nil, err
	}
	kubeletClient, kubeletClientKey, err := ca.issue(certRequest{name: "apiserver-kubelet-client",
		commonName: "kube-apiserver-kubelet-client", organization: []string{"system:masters"}})
	if err != nil {
		return nil, err
	}
	if err := writeAuditPolicy(dir); err != nil {
		return nil, err
	}
	clientPort, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	etcdClientURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	etcdPeerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	cp := &controlPlane{
		token: token,
		url:   "https://" + netip.AddrPortFrom(ControlPlaneIPv4, uint16(APIServerPort)).String(),
		ca:    ca,
	}
	cp.etcd, err = startProcess(logDir, "etcd", "", []string{bins.Etcd,
		"--name", "lab",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdClientURL,
		"--advertise-client-urls", etcdClientURL,
		"--listen-peer-urls", etcdPeerURL,
		"--initial-advertise-peer-urls", etcdPeerURL,
		"--initial-cluster", "lab=" + etcdPeerURL,
		"--unsafe-no-fsync",
		"--log-level", "warn",
	})
	if err != nil {
		return nil, err
	}
	// Without pods nothing reads the kubernetes Service's endpoints.
	reconciler := "none"
	if pods {
		reconciler = "lease"
	}
	cp.apiserver, err = startProcess(logDir, "kube-apiserver", "", []string{bins.APIServer,
		"--etcd-servers", etcdClientURL,
		"--bind-address", ControlPlaneIPv4.String(),
		"--advertise-address", ControlPlaneIPv4.String(),
		"--secure-port", strconv.Itoa(APIServerPort),
		"--tls-cert-file", serving,
		"--tls-private-key-file", servingKey,
		"--client-ca-file", ca.certPath(),
		"--kubelet-client-certificate", kubeletClient,
		"--kubelet-client-key", kubeletClientKey,
		// The nodes' names resolve nowhere: reach kubelets (pods/log,
		// pods/exec) at their InternalIP.
		"--kubelet-preferred-address-types", "InternalIP",
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--anonymous-auth=false",
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction",
		"--allow-privileged=true",
		"--audit-policy-file", filepath.Join(dir, "audit-policy.yaml"),
		"--audit-log-path", auditLogPath,
		"--audit-log-format", "json",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range", ServiceClusterIPs,
		"--endpoint-reconciler-type", reconciler,
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v", "1",
	})
	if err != nil {
		cp.stop()
		return nil, err
	}
	cp.restConfig = &rest.Config{
		Host:            cp.url,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: ca.certPath()},
		QPS:             200,
		Burst:           400,
	}
	if err := cp.waitReady(ctx); err != nil {
		cp.stop()
		return nil, err
	}
	if err := cp.writeKubeconfig(kubeconfig); err != nil {
		cp.stop()
		return nil, err
	}
	return cp, nil
}

// controllerManagerControllers are the only controllers the lab runs
// without pods: the lab itself writes Nodes and EndpointSlices.
const controllerManagerControllers = "namespace,garbagecollector,serviceaccount"

// podsControllers are the controllers a real cluster runs for what the lab
// creates when pods run: workloads (Jobs too: the chart's uninstall hook),
// their EndpointSlices, service accounts and their tokens, kube-root-ca.crt
// in every namespace, node lifecycle.
// Pod CIDRs are the lab's (PodCIDR), so nodeipam stays off.
const podsControllers = "deployment,replicaset,daemonset,job,endpointslice,endpointslicemirroring,endpoint," +
	"serviceaccount,serviceaccount-token,namespace,garbagecollector,nodelifecycle,podgc," +
	"root-ca-cert-publisher,ttl-after-finished,clusterrole-aggregation"

// startControllerManager starts kube-controller-manager, without leader
// election or serving port: with pods, podsControllers with the CA and the
// service-account key; otherwise only controllerManagerControllers.
func (cp *controlPlane) startControllerManager(bins KubeBinaries, logDir, kubeconfig string, pods bool) error {
	controllers := controllerManagerControllers
	if pods {
		controllers = podsControllers
	}
	args := []string{bins.ControllerManager,
		"--kubeconfig", kubeconfig,
		"--controllers", controllers,
		"--leader-elect=false",
		"--secure-port=0",
		"--v", "1",
	}
	if pods {
		args = append(args,
			"--root-ca-file", cp.ca.certPath(),
			"--service-account-private-key-file", filepath.Join(controlPlaneDir, "sa.key"),
			"--cluster-cidr", PodCIDRIPv4.String(),
			"--node-monitor-grace-period", "20s",
		)
	}
	var err error
	cp.controllerManager, err = startProcess(logDir, "kube-controller-manager", "", args)
	return err
}

// startScheduler starts kube-scheduler without leader election or serving
// port.
func (cp *controlPlane) startScheduler(bins KubeBinaries, logDir, kubeconfig string) error {
	var err error
	cp.scheduler, err = startProcess(logDir, "kube-scheduler", "", []string{bins.Scheduler,
		"--kubeconfig", kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--v", "1",
	})
	return err
}

// apiServerCertRequest is the API server's serving certificate: its address
// on the bridge, the kubernetes Service's cluster IP and names.
func apiServerCertRequest() certRequest {
	return certRequest{
		name:       "apiserver",
		commonName: "kube-apiserver",
		server:     true,
		ips:        []net.IP{ControlPlaneIPv4.AsSlice(), KubernetesServiceIPv4.AsSlice(), net.IPv4(127, 0, 0, 1)},
		dnsNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
	}
}

// waitReady polls /readyz until it answers 200.
func (cp *controlPlane) waitReady(ctx context.Context) error {
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cp.url+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+cp.token)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		for _, p := range []*Process{cp.etcd, cp.apiserver} {
			if !p.Running() {
				return fmt.Errorf("%s exited (%v); see %s", p.Name, p.ExitError(), p.LogPath)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready at %s: %w; see %s", cp.url, ctx.Err(), cp.apiserver.LogPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// writeKubeconfig writes a kubeconfig for the lab's admin user.
func (cp *controlPlane) writeKubeconfig(path string) error {
	config := clientcmdapi.NewConfig()
	config.Clusters["lab"] = &clientcmdapi.Cluster{Server: cp.url, CertificateAuthority: cp.ca.certPath()}
	config.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: cp.token}
	config.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "admin", Namespace: "default"}
	config.CurrentContext = "lab"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*config, path)
}

// clients returns the typed and dynamic clients.
func (cp *controlPlane) clients() (kubernetes.Interface, dynamic.Interface, error) {
	kube, err := kubernetes.NewForConfig(cp.restConfig)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cp.restConfig)
	if err != nil {
		return nil, nil, err
	}
	return kube, dyn, nil
}

// stop ends the control plane for good.
func (cp *controlPlane) stop() {
	// The lab goes away with it: all at once and a short grace (one after
	// the other, each shutting down cleanly, they took seconds).
	var stops sync.WaitGroup
	for _, p := range cp.processes() {
		stops.Go(func() { p.Stop(time.Second) })
	}
	stops.Wait()
}

// processes are the control plane's running processes in the order a
// control-plane node stops them: scheduler, controller-manager, API
// server, etcd.
func (cp *controlPlane) processes() []*Process {
	var out []*Process
	for _, p := range []*Process{cp.scheduler, cp.controllerManager, cp.apiserver, cp.etcd} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// writeCredentials writes the token file with one admin token (in
// system:masters) and a fresh service-account signing key pair; it returns
// the token.
func writeCredentials(dir string) (string, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	token := hex.EncodeToString(secret)
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"),
		[]byte(token+`,admin,admin,"system:masters"`+"\n"), 0o600); err != nil {
		return "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	private, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	public, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: private}), 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: public}), 0o644); err != nil {
		return "", err
	}
	return token, nil
}

// freeLoopbackPort returns a TCP port on 127.0.0.1 that is free right now.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
