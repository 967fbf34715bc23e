package k8s

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"syscall"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// closedAddr returns a loopback address whose port refuses connections.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func listening(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestAPIServerDialerFallsBackOnlyWhenTheServiceRefuses(t *testing.T) {
	ctx := context.Background()
	service := closedAddr(t)
	server := listening(t)
	d := newAPIServerDialer(service)

	// No API server known yet: the Service's refusal stands.
	if _, err := d.DialContext(ctx, "tcp", service); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial before any API server is known: %v, want connection refused", err)
	}

	d.servers.Store(&[]string{closedAddr(t), server.Addr().String()}) // the first refuses too: the next is tried
	conn, err := d.DialContext(ctx, "tcp", service)
	if err != nil {
		t.Fatalf("dial with the Service refusing: %v, want the API server's own address", err)
	}
	if got := conn.RemoteAddr().String(); got != server.Addr().String() {
		t.Errorf("connected to %s, want the API server %s", got, server.Addr())
	}
	conn.Close()
	if !d.direct.Load() {
		t.Error("the dialer does not record that it connects directly")
	}

	// Another address refusing is not redirected.
	other := closedAddr(t)
	if _, err := d.DialContext(ctx, "tcp", other); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial of %s (not the Service): %v, want connection refused", other, err)
	}

	// The Service answering again is used again.
	serviceListener, err := net.Listen("tcp", service)
	if err != nil {
		t.Fatalf("listening on the Service's port again: %v", err)
	}
	defer serviceListener.Close()
	conn, err = d.DialContext(ctx, "tcp", service)
	if err != nil {
		t.Fatal(err)
	}
	if got := conn.RemoteAddr().String(); got != service {
		t.Errorf("connected to %s, want the Service %s", got, service)
	}
	conn.Close()
	if d.direct.Load() {
		t.Error("the dialer still records connecting directly")
	}
}

func endpoint(ready bool, addrs ...string) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}
}

func sliceOf(port int32, name string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		Ports:     []discoveryv1.EndpointPort{{Name: ptr.To(name), Port: ptr.To(port)}},
		Endpoints: eps,
	}
}

func TestAPIServerAddresses(t *testing.T) {
	twoPorts := sliceOf(8080, "other", endpoint(true, "192.0.2.1"))
	twoPorts.Ports = append(twoPorts.Ports, discoveryv1.EndpointPort{Name: ptr.To("https"), Port: ptr.To(int32(6443))})
	unnamed := sliceOf(6443, "", endpoint(true, "192.0.2.1"))
	unnamed.Ports[0].Name = nil
	noConditions := sliceOf(6443, "https", discoveryv1.Endpoint{Addresses: []string{"192.0.2.9"}})
	tests := []struct {
		name  string
		slice *discoveryv1.EndpointSlice
		want  []string
	}{
		{"ready endpoints, sorted", sliceOf(6443, "https", endpoint(true, "192.0.2.2"), endpoint(true, "192.0.2.1")), []string{"192.0.2.1:6443", "192.0.2.2:6443"}},
		{"not ready left out", sliceOf(6443, "https", endpoint(false, "192.0.2.1"), endpoint(true, "192.0.2.2")), []string{"192.0.2.2:6443"}},
		{"missing ready condition counts as ready", noConditions, []string{"192.0.2.9:6443"}},
		{"IPv6", sliceOf(6443, "https", endpoint(true, "2001:db8::1")), []string{"[2001:db8::1]:6443"}},
		{"the https port wins", twoPorts, []string{"192.0.2.1:6443"}},
		{"an unnamed port", unnamed, []string{"192.0.2.1:6443"}},
		{"no port", &discoveryv1.EndpointSlice{Endpoints: []discoveryv1.Endpoint{endpoint(true, "192.0.2.1")}}, nil},
		{"not an address", sliceOf(6443, "https", endpoint(true, "apiserver.example")), nil},
		{"duplicates once", sliceOf(6443, "https", endpoint(true, "192.0.2.1"), endpoint(true, "192.0.2.1")), []string{"192.0.2.1:6443"}},
	}
	for _, tt := range tests {
		if got := apiServerAddresses(tt.slice); !slices.Equal(got, tt.want) {
			t.Errorf("%s: apiServerAddresses = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A stopping API server empties the EndpointSlice: the addresses read
// before stay, since they are what the dialer needs once it is back.
func TestEmptyEndpointSliceKeepsTheLastAddresses(t *testing.T) {
	d := newAPIServerDialer("10.96.0.1:443")
	log := slog.New(slog.DiscardHandler)
	d.learn(sliceOf(6443, "https", endpoint(true, "192.0.2.1")), log)
	d.learn(sliceOf(6443, "https"), log)
	d.learn(sliceOf(6443, "https", endpoint(false, "192.0.2.1")), log)
	if got := *d.servers.Load(); !slices.Equal(got, []string{"192.0.2.1:6443"}) {
		t.Errorf("servers = %v, want the last non-empty set", got)
	}
	d.learn(sliceOf(6443, "https", endpoint(true, "192.0.2.7")), log)
	if got := *d.servers.Load(); !slices.Equal(got, []string{"192.0.2.7:6443"}) {
		t.Errorf("servers = %v, want the new set", got)
	}
}
