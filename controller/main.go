// Command controller is ironlb's IPAM: it assigns addresses from
// IPAddressPools to LoadBalancer Services and serves the validating webhook.
// It also checks and converts configurations offline; `controller help`
// lists the subcommands:
//
//	controller [flags]                    run against the cluster
//	controller status                     print each LoadBalancer IP and who announces it
//	controller validate -f FILE...        check a configuration, as the cluster would
//	controller convert-configmap -f FILE  turn a legacy MetalLB ConfigMap into CRs
//	controller uninstall                  stop ironlb and delete what it wrote (helm uninstall's hook)
//	controller help [SUBCOMMAND]          list the subcommands, or one's flags
//	controller --version                  print the version and source revision
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/ironlb/ironlb/internal/cli"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/configstate"
	"github.com/ironlb/ironlb/internal/controller"
	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/legacy"
	"github.com/ironlb/ironlb/internal/logging"
	"github.com/ironlb/ironlb/internal/metrics"
	"github.com/ironlb/ironlb/internal/metricsauth"
	"github.com/ironlb/ironlb/internal/statusview"
	"github.com/ironlb/ironlb/internal/uninstall"
	"github.com/ironlb/ironlb/internal/webhook"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return program(stdin).Run(args, stdout, stderr)
}

// program is the controller's command line; stdin feeds the subcommands that read files.
func program(stdin io.Reader) cli.Program {
	return cli.Program{
		Name:    "controller",
		Summary: "run the controller: assign LoadBalancer IPs, serve the webhook",
		Commands: []cli.Command{
			{Name: "status", Summary: "print each LoadBalancer IP, its Service, pool, protocol and announcing nodes", Run: status},
			{Name: "validate", Summary: "check metallb.io configuration files as the cluster would (-f FILE...)",
				Run: func(args []string, stdout, stderr io.Writer) error { return validate(args, stdin, stdout, stderr) }},
			{Name: "convert-configmap", Summary: "turn a legacy MetalLB ConfigMap into metallb.io objects (-f FILE)",
				Run: func(args []string, stdout, stderr io.Writer) error {
					return convertConfigMap(args, stdin, stdout, stderr)
				}},
			{Name: "uninstall", Summary: "stop the speakers and the controller, then delete what they wrote (the chart's pre-delete hook)", Run: uninstallCommand},
		},
		Default: func(args []string, _, stderr io.Writer) error { return serve(args, stderr) },
		DefaultFlags: func() *flag.FlagSet {
			fs, _ := newServeFlags()
			return fs
		},
	}
}

// serveFlags are the flags of running the controller.
type serveFlags struct {
	kubeconfig, namespace, lbClass *string
	workers                        *int
	metrics                        metrics.Flags
	webhookAddr, webhookHosts      *string
	webhookLifetime                *time.Duration
	log                            logging.Options
}

func newServeFlags() (*flag.FlagSet, *serveFlags) {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	f := &serveFlags{
		kubeconfig:      fs.String("kubeconfig", "", "kubeconfig file (empty: in-cluster configuration)"),
		namespace:       fs.String("namespace", "metallb-system", "namespace of the metallb.io configuration"),
		lbClass:         fs.String("lb-class", "", "loadBalancerClass handled (empty: Services without a class)"),
		workers:         fs.Int("workers", controller.DefaultWorkers, "Services reconciled in parallel"),
		webhookAddr:     fs.String("webhook-addr", ":9443", "address of the validating webhook (empty: no webhook)"),
		webhookHosts:    fs.String("webhook-hosts", "", "further IP addresses or DNS names, comma-separated, the webhook certificate is valid for, when the API server calls the webhook by URL"),
		webhookLifetime: fs.Duration("webhook-cert-lifetime", webhook.DefaultLifetime, "validity of the webhook certificates the controller issues; renewed after two thirds of it"),
	}
	f.metrics.AddFlags(fs)
	f.log.AddFlags(fs)
	return fs, f
}

// serve runs the controller until SIGINT or SIGTERM.
func serve(args []string, stderr io.Writer) error {
	fs, f := newServeFlags()
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; `controller help` lists the subcommands", fs.Arg(0))
	}
	if *f.webhookLifetime < webhook.MinLifetime {
		return fmt.Errorf("--webhook-cert-lifetime %s: must be at least %s", *f.webhookLifetime, webhook.MinLifetime)
	}
	log, err := f.log.Setup(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	clients, err := k8s.NewClients(*f.kubeconfig, "ironlb-controller")
	if err != nil {
		return err
	}
	if clients.APIServers != nil {
		go clients.APIServers.Follow(ctx, clients.Kube, log)
	}
	recorder, stopEvents := k8s.NewEventRecorder(clients.Kube, "metallb-controller")
	defer stopEvents()
	keeper := &k8s.MemberlistSecretKeeper{Kube: clients.Kube, Namespace: *f.namespace, Recorder: recorder, Log: log}
	go func() {
		if err := keeper.Run(ctx); err != nil {
			log.Error("the memberlist Secret is no longer kept", "err", err)
		}
	}()

	states := configstate.NewReporter(clients.MetalLBv1beta1, *f.namespace, configstate.ControllerName, log)
	states.Labels = map[string]string{configstate.LabelComponent: configstate.ComponentController}
	states.Recorder = recorder
	go states.Run(ctx)

	reg := metrics.NewRegistry()
	reconcilerOptions := controller.Options{
		Namespace: *f.namespace, LBClass: *f.lbClass, Workers: *f.workers,
		PoolMetrics: metrics.NewAllocator(reg), ClientMetrics: metrics.NewK8sClient(reg),
		ConfigState: states,
	}
	// Each term under the lease allocates with a reconciler of its own,
	// which starts from the Services' status as a new process would.
	var reconciler atomic.Pointer[controller.Reconciler]
	allocate := func(ctx context.Context) error {
		r := controller.NewReconciler(clients, recorder, log, reconcilerOptions)
		reconciler.Store(r)
		return r.Run(ctx)
	}
	host, identity := leaseIdentity()
	election := &controller.Election{Kube: clients.Kube, Namespace: *f.namespace, Host: host, Identity: identity, Log: log}
	// Readiness does not wait for the lease: a controller waiting for it
	// still serves the webhook (see docs/reliability.md).
	leaderReady := func() error {
		if r := reconciler.Load(); election.Leading() && r != nil {
			return r.Ready()
		}
		return nil
	}
	ready := leaderReady
	if *f.webhookAddr != "" {
		rotator := webhook.NewCertRotator(clients.Kube, *f.namespace)
		rotator.Lifetime = *f.webhookLifetime
		rotator.ExtraHosts = splitList(*f.webhookHosts)
		rotator.Log = log
		go rotator.Run(ctx)
		handler := &webhook.Handler{
			Validator: webhook.Validator{Namespace: *f.namespace},
			Current:   func(ctx context.Context) (config.Resources, error) { return clients.ListConfig(ctx, *f.namespace) },
			InUse: func(ctx context.Context) ([]webhook.AddressInUse, error) {
				return webhook.ServicesInUse(ctx, clients.Kube, *f.lbClass)
			},
			Log: log,
		}
		go serveLogged(log, "webhook", func() error { return webhook.Serve(ctx, *f.webhookAddr, handler, rotator.GetCertificate) })
		ready = func() error { return errors.Join(leaderReady(), rotator.Ready()) }
	}
	go serveLogged(log, "metrics", func() error {
		authorizer := &metricsauth.Authorizer{Kube: clients.Kube, Log: log}
		return metrics.ServeEach(ctx, f.metrics.Endpoints(metrics.ServerOptions{Gatherer: reg, Ready: ready}, authorizer.Wrap)...)
	})
	log.Info("controller starting", "namespace", *f.namespace, "lbClass", *f.lbClass)
	return election.Run(ctx, allocate)
}

// leaseIdentity returns the pod name (the hostname) and the name of this
// process in the controller Lease: the pod name and a random suffix, unique
// across container restarts.
func leaseIdentity() (host, identity string) {
	host, err := os.Hostname()
	if err != nil {
		return "", "controller_" + randomSuffix()
	}
	return host, host + "_" + randomSuffix()
}

func randomSuffix() string {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return hex.EncodeToString(suffix)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// serveLogged runs a server and logs why it stopped.
func serveLogged(log *slog.Logger, name string, serve func() error) {
	if err := serve(); err != nil {
		log.Error("server stopped", "server", name, "err", err)
	}
}

// status prints every LoadBalancer IP with its Service, pool, protocol and
// announcing nodes, read from the API.
func status(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (empty: in-cluster configuration)")
	namespace := fs.String("namespace", "metallb-system", "namespace of the metallb.io configuration")
	lbClass := fs.String("lb-class", "", "loadBalancerClass handled (empty: Services without a class)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	clients, err := k8s.NewClients(*kubeconfig, "ironlb-status")
	if err != nil {
		return err
	}
	in, err := statusview.Fetch(context.Background(), clients, *namespace, *lbClass)
	if err != nil {
		return err
	}
	return statusview.Render(stdout, statusview.Build(in))
}

// uninstallCommand stops ironlb in its namespace and deletes the state it
// wrote at run time (internal/uninstall); the chart runs it before
// `helm uninstall` deletes the release's objects.
func uninstallCommand(args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("uninstall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (empty: in-cluster configuration)")
	namespace := fs.String("namespace", "metallb-system", "ironlb's namespace")
	timeout := fs.Duration("timeout", uninstall.DefaultTimeout, "how long to wait for the speakers and the controller to stop")
	var logOpts logging.Options
	logOpts.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := logOpts.Setup(stderr)
	if err != nil {
		return err
	}
	cfg, err := k8s.RESTConfig(*kubeconfig, "ironlb-uninstall")
	if err != nil {
		return err
	}
	// One deletion per speaker's ConfigurationState: client-go's default
	// limit (5 a second) would make a large cluster's uninstall wait.
	cfg.QPS, cfg.Burst = 100, 200
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	u := &uninstall.Uninstaller{Client: client, Namespace: *namespace, Timeout: *timeout, Log: log}
	if err := u.Run(ctx); err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	log.Info("ironlb uninstalled: only the configuration and the CRDs are left", "namespace", *namespace)
	return nil
}

// fileList collects repeated -f flags; "-" means standard input.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

func open(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

func validate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files fileList
	fs.Var(&files, "f", "YAML file with metallb.io objects (repeatable; - for stdin)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files = append(files, fs.Args()...)
	if len(files) == 0 {
		return fmt.Errorf("validate: no files given (use -f FILE or -f - for stdin)")
	}
	var sources []config.Source
	for _, name := range files {
		r, done, err := open(name, stdin)
		if err != nil {
			return err
		}
		defer done()
		sources = append(sources, config.Source{Name: name, Reader: r})
	}
	skipped, err := config.ValidateSources(sources)
	for _, s := range skipped {
		fmt.Fprintf(stderr, "note: ignoring %s: not part of a metallb.io configuration\n", s)
	}
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(stdout, e)
		}
		return fmt.Errorf("configuration refused: %d error(s)", len(errs))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "configuration is valid")
	return nil
}

func convertConfigMap(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert-configmap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "-", "legacy MetalLB ConfigMap (or its config text); - for stdin")
	namespace := fs.String("namespace", "metallb-system", "namespace of the objects when the input does not name one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, done, err := open(*file, stdin)
	if err != nil {
		return err
	}
	defer done()
	input, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	res, err := legacy.Convert(input, *namespace)
	if err != nil {
		return err
	}
	out, err := legacy.MarshalYAML(res)
	if err != nil {
		return err
	}
	if _, err := stdout.Write(out); err != nil {
		return err
	}
	if _, err := config.Build(res); err != nil {
		return fmt.Errorf("converted, but the result is refused:\n%v", err)
	}
	return nil
}
