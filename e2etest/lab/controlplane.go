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
	token             string
	url               string
	restConfig        *rest.Config
}

// startControlPlane starts etcd and kube-apiserver (token auth, AlwaysAllow,
// dual-stack service range, no endpoint reconciler), waits until the API
// server is ready and writes the kubeconfig.
func startControlPlane(ctx context.Context, bins KubeBinaries, logDir, kubeconfig string) (*controlPlane, error) {
	dir := filepath.Join(stateDir, "controlplane")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	token, err := writeCredentials(dir)
	if err != nil {
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
	cp.apiserver, err = startProcess(logDir, "kube-apiserver", "", []string{bins.APIServer,
		"--etcd-servers", etcdClientURL,
		"--bind-address", ControlPlaneIPv4.String(),
		"--advertise-address", ControlPlaneIPv4.String(),
		"--secure-port", strconv.Itoa(APIServerPort),
		"--cert-dir", filepath.Join(dir, "pki"),
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--anonymous-auth=false",
		"--authorization-mode", "AlwaysAllow",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range", ServiceClusterIPs,
		"--endpoint-reconciler-type", "none",
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
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
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

// controllerManagerControllers are the only controllers the lab runs: the
// lab itself writes Nodes and EndpointSlices.
const controllerManagerControllers = "namespace,garbagecollector,serviceaccount"

// startControllerManager starts kube-controller-manager with
// controllerManagerControllers, without leader election or serving port.
func (cp *controlPlane) startControllerManager(bins KubeBinaries, logDir, kubeconfig string) error {
	var err error
	cp.controllerManager, err = startProcess(logDir, "kube-controller-manager", "", []string{bins.ControllerManager,
		"--kubeconfig", kubeconfig,
		"--controllers", controllerManagerControllers,
		"--leader-elect=false",
		"--secure-port=0",
		"--v", "1",
	})
	return err
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
	config.Clusters["lab"] = &clientcmdapi.Cluster{Server: cp.url, InsecureSkipTLSVerify: true}
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

// stop ends kube-apiserver, then etcd.
func (cp *controlPlane) stop() {
	for _, p := range []*Process{cp.controllerManager, cp.apiserver, cp.etcd} {
		if p != nil {
			p.Stop(5 * time.Second)
		}
	}
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
