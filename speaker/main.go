// Command speaker announces ironlb's LoadBalancer addresses from one node:
// in layer 2 mode it answers ARP and NDP for the addresses its node owns (one
// owner per address, elected among the live speakers found with memberlist),
// and in BGP mode it advertises them to the configured peers.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/logging"
	"github.com/ironlb/ironlb/internal/members"
	"github.com/ironlb/ironlb/internal/metrics"
	"github.com/ironlb/ironlb/internal/speaker"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	defaults := members.DefaultConfig()
	fs := flag.NewFlagSet("speaker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (empty: in-cluster configuration)")
	nodeName := fs.String("node-name", firstEnv("METALLB_NODE_NAME", "NODE_NAME"), "this node's name")
	namespace := fs.String("namespace", "metallb-system", "namespace of the metallb.io configuration")
	lbClass := fs.String("lb-class", "", "loadBalancerClass handled (empty: Services without a class)")
	useMemberlist := fs.Bool("memberlist", true, "detect node failures with memberlist (false: follow Node readiness, much slower)")
	bindAddr := fs.String("memberlist-bind-addr", "", "address memberlist binds to (default: the node's InternalIP)")
	port := fs.Int("memberlist-port", members.DefaultPort, "memberlist TCP and UDP port")
	probeInterval := fs.Duration("memberlist-probe-interval", defaults.ProbeInterval, "how often a member is probed")
	probeTimeout := fs.Duration("memberlist-probe-timeout", defaults.ProbeTimeout, "how long a probe waits for its ack")
	suspicionMult := fs.Int("memberlist-suspicion-mult", defaults.SuspicionMult, "suspicion timeout multiplier")
	metricsAddr := fs.String("metrics-addr", ":7472", "address of /metrics, /healthz and /readyz")
	metricsCert := fs.String("metrics-tls-cert", "", "TLS certificate for the metrics endpoint (with --metrics-tls-key)")
	metricsKey := fs.String("metrics-tls-key", "", "TLS key for the metrics endpoint")
	var logOpts logging.Options
	logOpts.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodeName == "" {
		return fmt.Errorf("--node-name (or METALLB_NODE_NAME) is required")
	}
	log, err := logOpts.Setup(stderr)
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry()
	opts := speaker.Options{
		NodeName:       *nodeName,
		Namespace:      *namespace,
		LBClass:        *lbClass,
		Memberlist:     *useMemberlist,
		MemberlistPort: *port,
		MemberlistTiming: members.Config{
			ProbeInterval: *probeInterval, ProbeTimeout: *probeTimeout, SuspicionMult: *suspicionMult,
		},
		Metrics: speaker.Metrics{
			Speaker: metrics.NewSpeaker(reg, *nodeName),
			Layer2:  metrics.NewLayer2(reg),
			BGP:     metrics.NewBGP(reg),
			Client:  metrics.NewK8sClient(reg),
		},
	}
	if *bindAddr != "" {
		if opts.MemberlistBind, err = netip.ParseAddr(*bindAddr); err != nil {
			return fmt.Errorf("--memberlist-bind-addr: %v", err)
		}
	}
	if key := os.Getenv("METALLB_ML_SECRET_KEY"); key != "" {
		opts.MemberlistSecret = []byte(key)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	clients, err := k8s.NewClients(*kubeconfig, "ironlb-speaker/"+*nodeName)
	if err != nil {
		return err
	}
	recorder, stopEvents := k8s.NewEventRecorder(clients.Kube, "metallb-speaker")
	defer stopEvents()
	sp := speaker.New(clients, recorder, log, opts)
	go func() {
		err := metrics.Serve(ctx, metrics.ServerOptions{Addr: *metricsAddr, CertFile: *metricsCert, KeyFile: *metricsKey, Gatherer: reg, Ready: sp.Ready})
		if err != nil {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("speaker starting", "node", *nodeName, "memberlist", *useMemberlist)
	return sp.Run(ctx)
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
