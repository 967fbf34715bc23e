package k8s

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The kubernetes Service's EndpointSlice, which lists the API servers' own
// addresses.
const (
	apiServerSliceNamespace = "default"
	apiServerSliceName      = "kubernetes"
)

// apiServerRefresh is how often the API servers' addresses are read again.
const apiServerRefresh = 30 * time.Second

// APIServerDialer dials the API server for an in-cluster client. It dials
// the kubernetes Service's address as usual; when that is refused, it
// dials the API servers' own addresses, as last read from the Service's
// EndpointSlice. After the restart of a cluster's only API server, kube-
// proxy rejects the Service's address until its own watch has reconnected
// (client-go's back-off: up to a minute, 43 s in the lab) though the API
// server already answers at its own address; without this the controller
// could not take its lease or assign anything for that long. TLS still
// verifies the certificate against the Service's address, which the API
// server's certificate names.
//
// Without Follow it dials as client-go would: it knows no API server.
type APIServerDialer struct {
	service string // host:port of the kubernetes Service
	dialer  net.Dialer
	servers atomic.Pointer[[]string] // host:port of each API server
	log     atomic.Pointer[slog.Logger]
	// direct is set while connections go to an API server directly.
	direct atomic.Bool
}

// newAPIServerDialer returns a dialer for the Service address service
// (host:port).
func newAPIServerDialer(service string) *APIServerDialer {
	return &APIServerDialer{service: service, dialer: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}}
}

// inClusterService returns the kubernetes Service's address that the
// in-cluster configuration dials, or "" outside a cluster.
func inClusterService() string {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return ""
	}
	return net.JoinHostPort(host, port)
}

// DialContext dials addr, and when addr is the kubernetes Service's and the
// connection is refused, each API server's own address in turn.
func (d *APIServerDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.dialer.DialContext(ctx, network, addr)
	if addr != d.service {
		return conn, err
	}
	if err == nil {
		if d.direct.CompareAndSwap(true, false) {
			d.logger().Info("the kubernetes Service leads to the API server again", "service", d.service)
		}
		return conn, nil
	}
	servers := d.servers.Load()
	if servers == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		return nil, err
	}
	for _, server := range *servers {
		if c, serverErr := d.dialer.DialContext(ctx, network, server); serverErr == nil {
			if !d.direct.Swap(true) {
				d.logger().Warn("the kubernetes Service refused the connection: connecting to the API server directly until it leads there again",
					"service", d.service, "apiServer", server)
			}
			return c, nil
		}
	}
	return nil, err
}

func (d *APIServerDialer) logger() *slog.Logger {
	if l := d.log.Load(); l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// Follow reads the API servers' addresses now and every apiServerRefresh
// until ctx ends. An EndpointSlice without a ready address (a stopping API
// server empties it) leaves the last addresses read in place.
func (d *APIServerDialer) Follow(ctx context.Context, kube kubernetes.Interface, log *slog.Logger) {
	d.log.Store(log)
	warned := false
	for {
		readCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		slice, err := kube.DiscoveryV1().EndpointSlices(apiServerSliceNamespace).Get(readCtx, apiServerSliceName, metav1.GetOptions{})
		cancel()
		switch {
		case err != nil && !warned:
			warned = true
			log.Warn("cannot read the API servers' addresses: while the kubernetes Service refuses connections, the controller waits for it",
				"endpointSlice", apiServerSliceNamespace+"/"+apiServerSliceName, "err", err)
		case err != nil:
			log.Debug("reading the API servers' addresses", "err", err)
		default:
			d.learn(slice, log)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(apiServerRefresh):
		}
	}
}

// learn keeps the API servers' addresses the EndpointSlice lists, if it
// lists any.
func (d *APIServerDialer) learn(slice *discoveryv1.EndpointSlice, log *slog.Logger) {
	servers := apiServerAddresses(slice)
	if len(servers) == 0 {
		return
	}
	if old := d.servers.Load(); old == nil || !slices.Equal(*old, servers) {
		log.Info("API servers' own addresses, dialed when the kubernetes Service refuses", "apiServers", servers)
	}
	d.servers.Store(&servers)
}

// apiServerAddresses returns the host:port of each ready endpoint of the
// kubernetes Service's EndpointSlice, on its port named https (else its
// first port).
func apiServerAddresses(slice *discoveryv1.EndpointSlice) []string {
	port := 0
	for _, p := range slice.Ports {
		if p.Port == nil {
			continue
		}
		if port == 0 || (p.Name != nil && *p.Name == "https") {
			port = int(*p.Port)
		}
	}
	if port == 0 {
		return nil
	}
	var servers []string
	for _, ep := range slice.Endpoints {
		if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
			continue
		}
		for _, a := range ep.Addresses {
			if addr, err := netip.ParseAddr(a); err == nil {
				servers = append(servers, net.JoinHostPort(addr.String(), strconv.Itoa(port)))
			}
		}
	}
	slices.Sort(servers)
	return slices.Compact(servers)
}
