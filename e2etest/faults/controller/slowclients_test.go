package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// floodConnections is how many connections each kind of slow client keeps
// open to each port during the flood.
const floodConnections = 100

// floodFor is how long the flood opens a new connection for each the server
// closes.
const floodFor = 20 * time.Second

// slowClient holds one connection to addr open as long as the server lets
// it: idle sends nothing; the others start a request (over TLS for tlsSlow)
// and send one more header byte every second. It returns when the server
// closed the connection or ctx is done (then it closes it itself and
// reports ctx's error).
type slowClient func(ctx context.Context, addr string) error

func idleClient(ctx context.Context, addr string) error {
	return hold(ctx, addr, false, nil)
}

func slowWebhookClient(ctx context.Context, addr string) error {
	return hold(ctx, addr, true, []byte("POST /validate-metallb-io HTTP/1.1\r\nHost: lab\r\nX-Slow: "))
}

func slowMetricsClient(ctx context.Context, addr string) error {
	return hold(ctx, addr, true, []byte("GET /metrics HTTP/1.1\r\nHost: lab\r\nX-Slow: "))
}

func slowBytesClient(ctx context.Context, addr string) error {
	return hold(ctx, addr, false, []byte{0})
}

// hold dials addr, sends start (if any) and then a byte every second, until
// the server closes the connection or ctx ends.
func hold(ctx context.Context, addr string, useTLS bool, start []byte) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if useTLS {
		tlsConn := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a load generator
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return err
		}
		conn = tlsConn
	}
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, conn)
		closed <- err
	}()
	if start == nil {
		select {
		case err := <-closed:
			return cmpErr(ctx, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if _, err := conn.Write(start); err != nil {
		return cmpErr(ctx, err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-closed:
			return cmpErr(ctx, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if _, err := conn.Write([]byte("a")); err != nil {
				return cmpErr(ctx, err)
			}
		}
	}
}

// cmpErr is nil for a connection the server closed, ctx's error when the
// client gave up.
func cmpErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return nil // reset or broken pipe: closed by the server
	}
	return err
}

// floodTarget is one kind of slow client on one port.
type floodTarget struct {
	name   string // port and kind, for the figures
	addr   string
	client slowClient
}

// holdStats are a floodTarget's connections the server closed, the longest
// any was held open before the server closed it, and those the server left
// open until the client gave up.
type holdStats struct {
	closed, leftOpen int
	longest          time.Duration
}

// flood keeps floodConnections clients of each target connected until
// opening ends, replacing each the server closes; then it waits until the
// servers closed the last ones, or giveUp ends. It returns each target's
// holdStats.
func flood(opening, giveUp context.Context, targets []floodTarget) map[string]holdStats {
	var mu sync.Mutex
	stats := map[string]holdStats{}
	var clients sync.WaitGroup
	for _, target := range targets {
		for range floodConnections {
			clients.Go(func() {
				for opening.Err() == nil {
					start := time.Now()
					err := target.client(giveUp, target.addr)
					mu.Lock()
					s := stats[target.name]
					switch {
					case err == nil:
						s.closed++
						s.longest = max(s.longest, time.Since(start))
					case giveUp.Err() != nil:
						s.leftOpen++
					}
					stats[target.name] = s
					mu.Unlock()
					if err != nil && giveUp.Err() == nil {
						time.Sleep(100 * time.Millisecond) // dial refused: try again
					}
				}
			})
		}
	}
	clients.Wait()
	return stats
}

var poolResource = schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "ipaddresspools"}

// webhookLatencies sends n dry-run creations of a pool through the API
// server, which asks the controller's webhook, and returns their
// latencies; every one must be admitted.
func webhookLatencies(ctx context.Context, l *lab.Lab, n int) ([]time.Duration, error) {
	pool := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
		"metadata": map[string]any{"name": "faults-dry-run", "namespace": lab.IronLBNamespace},
		"spec":     map[string]any{"addresses": []any{"10.203.0.0/24"}, "autoAssign": false},
	}}
	var out []time.Duration
	for range n {
		start := time.Now()
		_, err := l.Dynamic().Resource(poolResource).Namespace(lab.IronLBNamespace).Create(ctx, pool, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return out, fmt.Errorf("dry-run create through the webhook: %w", err)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// usageWatch samples a process's usage every 500 ms and keeps the peak.
type usageWatch struct {
	mu   sync.Mutex
	peak lab.ProcessUsage
}

func (w *usageWatch) run(ctx context.Context, pid int) {
	for ctx.Err() == nil {
		if u, err := lab.Usage(pid); err == nil {
			w.mu.Lock()
			w.peak = lab.ProcessUsage{RSSKiB: max(w.peak.RSSKiB, u.RSSKiB), FDs: max(w.peak.FDs, u.FDs)}
			w.mu.Unlock()
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (w *usageWatch) get() lab.ProcessUsage {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

// Idle and slow connections flood the controller's webhook (9443) and
// metrics (9120, HTTPS; the plain 7472 listens on the pod's loopback only)
// and node 1's speaker's memberlist (7946 TCP) for floodFor:
// the webhook keeps admitting, the servers close every connection
// themselves, no container restarts, and the processes' file descriptors
// return to where they were.
func TestSlowAndIdleConnections(t *testing.T) {
	l := setup(t)
	ctx := context.Background()
	pod, err := l.ControllerPod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	speakerPod, err := l.SpeakerPod(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	if pids["controller"], err = l.ContainerPID(ctx, pod, "controller"); err != nil {
		t.Fatal(err)
	}
	if pids["speaker"], err = l.ContainerPID(ctx, speakerPod, "speaker"); err != nil {
		t.Fatal(err)
	}
	baseline := map[string]lab.ProcessUsage{}
	for name, pid := range pids {
		if baseline[name], err = lab.Usage(pid); err != nil {
			t.Fatal(err)
		}
	}
	// The controller was rolled out by the test before: its webhook
	// endpoint may not have reached kube-proxy yet.
	if err := l.WaitWebhook(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	quiet, err := webhookLatencies(ctx, l, 40)
	if err != nil {
		t.Fatal(err)
	}
	restartsBefore := containerRestarts(t, l)

	podIP := pod.Status.PodIP
	webhookAddr, metricsAddr := net.JoinHostPort(podIP, "9443"), net.JoinHostPort(podIP, "9120")
	memberlistAddr := net.JoinHostPort(lab.NodeIPv4(1).String(), "7946")
	targets := []floodTarget{
		{"9443 idle", webhookAddr, idleClient}, {"9443 slow TLS request", webhookAddr, slowWebhookClient},
		{"9120 idle", metricsAddr, idleClient}, {"9120 slow TLS request", metricsAddr, slowMetricsClient},
		{"7946 idle", memberlistAddr, idleClient}, {"7946 slow bytes", memberlistAddr, slowBytesClient},
	}
	opening, stopOpening := context.WithTimeout(ctx, floodFor)
	defer stopOpening()
	// The servers' timeouts are 10 s to 90 s (docs/reliability.md).
	giveUp, stopHolding := context.WithTimeout(ctx, floodFor+2*time.Minute)
	defer stopHolding()
	watchCtx, stopWatching := context.WithCancel(ctx)
	peaks := map[string]*usageWatch{}
	for name, pid := range pids {
		peaks[name] = &usageWatch{}
		go peaks[name].run(watchCtx, pid)
	}
	statsCh := make(chan map[string]holdStats, 1)
	go func() { statsCh <- flood(opening, giveUp, targets) }()
	time.Sleep(3 * time.Second) // let the clients connect
	loaded, err := webhookLatencies(ctx, l, 40)
	if err != nil {
		t.Errorf("under the flood: %v", err)
	}
	stats := <-statsCh
	stopWatching()

	for name, pid := range pids {
		lab.Eventually(t, 2*time.Minute, name+"'s file descriptors return to their baseline", func() error {
			u, err := lab.Usage(pid)
			if err != nil {
				return err
			}
			if u.FDs > baseline[name].FDs+5 {
				return fmt.Errorf("%d open, %d before the flood", u.FDs, baseline[name].FDs)
			}
			return nil
		})
		after, _ := lab.Usage(pid)
		t.Logf("%s: before %d fds, %d KiB RSS; peak under the flood %d fds, %d KiB; after %d fds, %d KiB",
			name, baseline[name].FDs, baseline[name].RSSKiB, peaks[name].get().FDs, peaks[name].get().RSSKiB, after.FDs, after.RSSKiB)
	}
	t.Logf("flood of %s, %d connections per kind open at once; webhook dry-run p50/p99: quiet %s/%s, flooded %s/%s",
		floodFor, floodConnections, percentile(quiet, 50), percentile(quiet, 99), percentile(loaded, 50), percentile(loaded, 99))
	for _, target := range targets {
		s := stats[target.name]
		t.Logf("%s: %d closed by the server, the longest after %s", target.name, s.closed, s.longest.Round(100*time.Millisecond))
		if s.leftOpen > 0 || s.closed == 0 {
			t.Errorf("%s: %d connections still open after %s, %d closed by the server", target.name, s.leftOpen, floodFor+2*time.Minute, s.closed)
		}
	}
	if after := containerRestarts(t, l); !maps.Equal(after, restartsBefore) {
		t.Errorf("container restarts: %v before the flood, %v after", restartsBefore, after)
	}
}
