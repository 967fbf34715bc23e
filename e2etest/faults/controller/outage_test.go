package controller

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// outageEnv sets how long the API server and etcd stay down (a Go
// duration); the figure is for 10m.
const outageEnv = "IRONLB_APISERVER_OUTAGE"

// defaultOutage keeps `make test` short.
const defaultOutage = time.Minute

// outageDuration reads outageEnv.
func outageDuration(tb testing.TB) time.Duration {
	v := os.Getenv(outageEnv)
	if v == "" {
		return defaultOutage
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("%s=%q: want a positive Go duration such as 10m", outageEnv, v)
	}
	return d
}

// The API server and etcd stop for outageDuration: the address a Service
// shows keeps being answered (ARP and HTTP from the client) throughout, it
// is still the same afterwards, and a Service created once the API server
// is back gets an address.
func TestAPIServerOutage(t *testing.T) {
	l := setup(t)
	ctx := context.Background()
	outage := outageDuration(t)
	checker := newStatusChecker()
	stopWatch := checker.follow(t, l)

	kept := l.CreateService(t, inPool("default", "faults-kept", "faults-l2"))
	if err := l.SetEndpoints(ctx, kept, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	shown := waitShown(t, l, "default", "faults-kept")
	ip := netip.MustParseAddr(shown[0])
	lab.Eventually(t, time.Minute, ip.String()+" answers ARP and HTTP from the client", func() error {
		return probe(ctx, l, ip)
	})
	restartsBefore := containerRestarts(t, l)

	t.Cleanup(func() { saveControllerLog(t, l) })
	// The watch stops with the API server and starts again after it, as
	// one that failed would only after client-go's back-off (up to a
	// minute): nothing changes while the API server is down.
	stopWatch()
	l.StopAPIServer()
	down := time.Now()
	t.Cleanup(func() {
		if _, err := l.KubeClient().Discovery().ServerVersion(); err != nil {
			if err := l.StartAPIServer(context.Background()); err != nil {
				t.Error(err)
			}
		}
	})
	var probes, failed int
	var failures []string
	for time.Since(down) < outage {
		probes++
		if err := probe(ctx, l, ip); err != nil {
			failed++
			if len(failures) < 10 {
				failures = append(failures, fmt.Sprintf("%s: %v", time.Since(down).Round(time.Second), err))
			}
		}
		time.Sleep(2 * time.Second)
	}
	if err := l.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	recovered := time.Now()
	checker.follow(t, l)
	t.Logf("API server and etcd down for %s: %d of %d probes of %s (ARP and HTTP) failed %v",
		recovered.Sub(down).Round(100*time.Millisecond), failed, probes, ip, failures)
	if failed > 0 {
		t.Errorf("%s not answered during the outage: %d of %d probes failed", ip, failed, probes)
	}

	lab.Eventually(t, time.Minute, "a Service is created once the API server is back", func() error {
		_, err := l.KubeClient().CoreV1().Services("default").Create(ctx, inPool("default", "faults-pending", "faults-l2"), metav1.CreateOptions{})
		return err
	})
	t.Cleanup(func() {
		_ = l.KubeClient().CoreV1().Services("default").Delete(context.Background(), "faults-pending", metav1.DeleteOptions{})
	})
	created := time.Since(recovered)
	// Keep probing the kept address until the new Service has one.
	probes, failed, failures = 0, 0, nil
	lab.Eventually(t, 5*time.Minute, "the Service created after the outage gets an address", func() error {
		if ips := checker.assigned("default")["default/faults-pending"]; len(ips) > 0 {
			return nil
		}
		probes++
		if err := probe(ctx, l, ip); err != nil {
			failed++
			if len(failures) < 10 {
				failures = append(failures, fmt.Sprintf("%s: %v", time.Since(recovered).Round(time.Second), err))
			}
		}
		time.Sleep(2 * time.Second)
		return fmt.Errorf("no address %s after the API server came back", time.Since(recovered).Round(time.Second))
	})
	t.Logf("until then, %d of %d probes of %s failed %v", failed, probes, ip, failures)
	restartsAfter := containerRestarts(t, l)
	t.Logf("Service created %s after the API server was ready, assigned %s after it was ready; container restarts before %v, after %v",
		created.Round(100*time.Millisecond), time.Since(recovered).Round(100*time.Millisecond), restartsBefore, restartsAfter)
	// A container that exits while the API server is down restarts with a
	// growing back-off (up to 5 minutes), which delays every assignment
	// after the outage by as much.
	if !maps.Equal(restartsAfter, restartsBefore) {
		t.Errorf("ironlb containers restarted during the outage: %v before, %v after", restartsBefore, restartsAfter)
	}
	if got := checker.assigned("default")["default/faults-kept"]; !slices.Equal(got, shown) {
		t.Errorf("faults-kept shows %v after the outage, %v before", got, shown)
	}
	lab.Eventually(t, time.Minute, ip.String()+" answers after the outage", func() error { return probe(ctx, l, ip) })
	checker.check(t)
}

// probe asks for ip's MAC with ARP and for a page over HTTP from the client.
func probe(ctx context.Context, l *lab.Lab, ip netip.Addr) error {
	if _, err := l.Client().Arping(ctx, ip); err != nil {
		return fmt.Errorf("ARP: %w", err)
	}
	if _, err := l.Client().Curl(ctx, ip); err != nil {
		return fmt.Errorf("HTTP: %w", err)
	}
	return nil
}

// containerRestarts returns the restart count of every ironlb container,
// by pod name.
func containerRestarts(tb testing.TB, l *lab.Lab) map[string]int32 {
	tb.Helper()
	pods, err := l.KubeClient().CoreV1().Pods(lab.IronLBNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]int32{}
	for _, pod := range pods.Items {
		for _, status := range pod.Status.ContainerStatuses {
			out[pod.Name] += status.RestartCount
		}
	}
	return out
}

// saveControllerLog writes the controller's log (its current container and,
// if it restarted, the previous one) to the lab's log directory as
// controller-<test>.log.
func saveControllerLog(tb testing.TB, l *lab.Lab) {
	repo, err := lab.RepoRoot()
	if err != nil {
		tb.Error(err)
		return
	}
	var log strings.Builder
	for _, previous := range []string{"--previous=true", "--previous=false"} {
		out, _ := l.Kubectl(context.Background(), "", "-n", lab.IronLBNamespace, "logs", "deployment/controller", previous)
		log.WriteString(out)
	}
	path := filepath.Join(lab.LogDir(repo), "controller-"+tb.Name()+".log")
	if err := os.WriteFile(path, []byte(log.String()), 0o644); err != nil {
		tb.Error(err)
	}
}
