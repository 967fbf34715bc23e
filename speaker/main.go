// Command speaker announces ironlb's LoadBalancer addresses from one node:
// in layer 2 mode it answers ARP and NDP for the addresses its node owns (one
// owner per address, elected among the live speakers found with memberlist),
// and in BGP mode it advertises them to the configured peers.
//
//	speaker [flags]               run on this node (--node-name or METALLB_NODE_NAME)
//	speaker help                  list the subcommands and flags
//	speaker --version             print the version and source revision
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
	"time"

	"github.com/ironlb/ironlb/internal/cli"
	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/logging"
	"github.com/ironlb/ironlb/internal/members"
	"github.com/ironlb/ironlb/internal/memlimit"
	"github.com/ironlb/ironlb/internal/metrics"
	"github.com/ironlb/ironlb/internal/metricsauth"
	"github.com/ironlb/ironlb/internal/speaker"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	return program.Run(args, stdout, stderr)
}

var program = cli.Program{
	Name:    "speaker",
	Summary: "run the speaker: announce this node's LoadBalancer IPs",
	Default: func(args []string, _, stderr io.Writer) error { return serve(args, stderr) },
	DefaultFlags: func() *flag.FlagSet {
		fs, _ := newServeFlags()
		return fs
	},
}

// serveFlags are the flags of running the speaker.
type serveFlags struct {
	kubeconfig, nodeName, podName, namespace *string
	lbClass                                  *string
	useMemberlist                            *bool
	bindAddr                                 *string
	port                                     *int
	probeInterval, probeTimeout              *time.Duration
	suspicionMult                            *int
	metrics                                  metrics.Flags
	stateDir, secretDir                      *string
	log                                      logging.Options
}

func newServeFlags() (*flag.FlagSet, *serveFlags) {
	defaults := members.DefaultConfig()
	fs := flag.NewFlagSet("speaker", flag.ContinueOnError)
	f := &serveFlags{}
	f.kubeconfig = fs.String("kubeconfig", "", "kubeconfig file (empty: in-cluster configuration)")
	f.nodeName = fs.String("node-name", firstEnv("METALLB_NODE_NAME", "NODE_NAME"), "this node's name")
	f.podName = fs.String("pod-name", os.Getenv("METALLB_POD_NAME"), "this speaker's pod, whose DaemonSet owns the memberlist keys saved on the node (empty: not bound)")
	f.namespace = fs.String("namespace", "metallb-system", "namespace of the metallb.io configuration")
	f.lbClass = fs.String("lb-class", "", "loadBalancerClass handled (empty: Services without a class)")
	f.useMemberlist = fs.Bool("memberlist", true, "detect node failures with memberlist (false: follow Node readiness, much slower)")
	f.bindAddr = fs.String("memberlist-bind-addr", "", "address memberlist binds to (default: the node's InternalIP)")
	f.port = fs.Int("memberlist-port", members.DefaultPort, "memberlist TCP and UDP port")
	f.probeInterval = fs.Duration("memberlist-probe-interval", defaults.ProbeInterval, "how often a member is probed")
	f.probeTimeout = fs.Duration("memberlist-probe-timeout", defaults.ProbeTimeout, "how long a probe waits for its ack")
	f.suspicionMult = fs.Int("memberlist-suspicion-mult", defaults.SuspicionMult, "suspicion timeout multiplier")
	f.metrics.AddFlags(fs)
	f.secretDir = fs.String("memberlist-secret-dir", os.Getenv("METALLB_ML_SECRET_KEY_PATH"), "directory the memberlist Secret is mounted at, followed for key rotation (empty: the METALLB_ML_SECRET_KEY value, else the Secret read once from the API)")
	f.stateDir = fs.String("state-dir", "", "directory kept across restarts (a hostPath) for the last valid configuration and the memberlist keys (empty: none kept)")
	f.log.AddFlags(fs)
	return fs, f
}

// serve runs the speaker until SIGINT or SIGTERM.
func serve(args []string, stderr io.Writer) error {
	fs, f := newServeFlags()
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; `speaker help` lists the subcommands", fs.Arg(0))
	}
	if *f.nodeName == "" {
		return fmt.Errorf("--node-name (or METALLB_NODE_NAME) is required")
	}
	log, err := f.log.Setup(stderr)
	if err != nil {
		return err
	}
	memlimit.Apply(log)
	reg := metrics.NewRegistry()
	opts := speaker.Options{
		NodeName:            *f.nodeName,
		PodName:             *f.podName,
		Namespace:           *f.namespace,
		LBClass:             *f.lbClass,
		Memberlist:          *f.useMemberlist,
		MemberlistPort:      *f.port,
		StateDir:            *f.stateDir,
		MemberlistSecretDir: *f.secretDir,
		MemberlistTiming: members.Config{
			ProbeInterval: *f.probeInterval, ProbeTimeout: *f.probeTimeout, SuspicionMult: *f.suspicionMult,
		},
		Metrics: speaker.Metrics{
			Speaker: metrics.NewSpeaker(reg, *f.nodeName),
			Layer2:  metrics.NewLayer2(reg),
			BGP:     metrics.NewBGP(reg),
			BFD:     metrics.NewBFD(reg),
			Client:  metrics.NewK8sClient(reg),
		},
	}
	if *f.bindAddr != "" {
		if opts.MemberlistBind, err = netip.ParseAddr(*f.bindAddr); err != nil {
			return fmt.Errorf("--memberlist-bind-addr: %v", err)
		}
	}
	if key := os.Getenv("METALLB_ML_SECRET_KEY"); key != "" {
		opts.MemberlistSecret = []byte(key)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go memlimit.TrimHeapWhenQuiet(ctx, log, memlimit.SampleInterval)
	clients, err := k8s.NewClients(*f.kubeconfig, "ironlb-speaker/"+*f.nodeName)
	if err != nil {
		return err
	}
	recorder, stopEvents := k8s.NewEventRecorder(clients.Kube, "metallb-speaker")
	defer stopEvents()
	sp := speaker.New(clients, recorder, log, opts)
	go func() {
		authorizer := &metricsauth.Authorizer{Kube: clients.Kube, Log: log}
		err := metrics.ServeEach(ctx, f.metrics.Endpoints(metrics.ServerOptions{Gatherer: reg, Ready: sp.Ready, Healthy: sp.Healthy}, authorizer.Wrap)...)
		if err != nil {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("speaker starting", "node", *f.nodeName, "memberlist", *f.useMemberlist)
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
