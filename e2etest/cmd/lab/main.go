// Command lab brings ironlb's end-to-end lab up and down and runs the demo.
//
//	lab up [--nodes N] [--router bird2|bird1|frr] [--controller-manager] [--pods]
//	                                                bring the lab up and leave it running
//	lab down                                        remove the lab (also leftovers of a crashed run)
//	lab demo [--nodes N]                            the guided tour behind `make demo` (KEEP=1 keeps the lab)
//	lab status                                      what runs now
//	lab kubectl ARGS...                             the lab's kubectl against the running lab
//	lab helm ARGS...                                helm (built from the module proxy) against the running lab
//	lab build                                       build the Kubernetes binaries, etcd and helm into the user cache
//	lab deps                                        install the Debian packages and BIRD 1.6.8
//
// The lab runs as root; see docs/lab.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	labbackend "github.com/ironlb/ironlb/e2etest/backend"
	"github.com/ironlb/ironlb/e2etest/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}

// usage is printed for a missing or unknown subcommand.
const usage = `usage: lab up|down|demo|status|kubectl|build|deps [flags]
  up [--nodes N] [--router bird2|bird1|frr] [--controller-manager] [--pods]
                                             bring the lab up and leave it running
  down                                       remove the lab
  demo [--nodes N]                           guided tour (KEEP=1 leaves the lab up)
  status                                     what runs now
  kubectl ARGS...                            run the lab's kubectl against the lab
  helm ARGS...                               run helm (built into the user cache) against the lab
  build                                      build the Kubernetes binaries, etcd and helm
  deps                                       install the Debian packages and BIRD 1.6.8`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "up":
		return up(ctx, args)
	case "down":
		if err := lab.Down(ctx); err != nil {
			return err
		}
		fmt.Println("lab: down")
		return nil
	case "demo":
		return demo(ctx, args)
	case "status":
		return status(ctx)
	case "kubectl":
		return kubectl(ctx, args)
	case "helm":
		return helm(ctx, args)
	case "build":
		repo, err := lab.RepoRoot()
		if err != nil {
			return err
		}
		bins, err := lab.BuildKube(ctx, repo, os.Stderr)
		if err != nil {
			return err
		}
		helm, err := lab.BuildHelm(ctx, repo, os.Stderr)
		if err != nil {
			return err
		}
		for _, path := range []string{bins.APIServer, bins.ControllerManager, bins.Scheduler, bins.Kubelet, bins.Proxy, bins.Kubectl, bins.Etcd, helm} {
			fmt.Println(path)
		}
		return nil
	case "deps":
		if err := lab.EnsurePackages(ctx, os.Stderr); err != nil {
			return err
		}
		dir, err := lab.BIRD1Dir(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("Debian packages: %s\nBIRD 1.6.8:      %s\n", strings.Join(lab.DebianPackages, " "), dir)
		return nil
	case "backend":
		return backend(ctx, args)
	case "service-ip-sync":
		return serviceIPSync(ctx, args)
	default:
		return fmt.Errorf("unknown subcommand %q\n%s", cmd, usage)
	}
}

// up brings the lab up, detaches from it and prints how to use it.
func up(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("up", flag.ContinueOnError)
	nodes := flags.Int("nodes", 3, "number of nodes")
	router := flags.String("router", string(lab.BIRD2), "router daemon: bird2, bird1 or frr")
	controllerManager := flags.Bool("controller-manager", false, "run kube-controller-manager (namespace deletion, garbage collection)")
	pods := flags.Bool("pods", false, "real nodes (containerd, kubelet, kube-proxy) and ironlb installed from manifests/metallb-native.yaml")
	if err := flags.Parse(args); err != nil {
		return err
	}
	l, err := lab.Up(ctx, lab.Options{Nodes: *nodes, Router: lab.RouterKind(*router), ControllerManager: *controllerManager, Pods: *pods})
	if err != nil {
		return err
	}
	l.Detach()
	printHowTo(l)
	return nil
}

// printHowTo tells how to reach a running lab.
func printHowTo(l *lab.Lab) {
	kubectl := l.KubeBinaries().Kubectl
	fmt.Printf(`
The lab is up and stays up until:  make lab-down   (or: go run ./e2etest/cmd/lab down)

  kubectl (the lab's own, never the one on PATH):
    %s --kubeconfig %s get nodes -o wide
    go run ./e2etest/cmd/lab kubectl get svc -A
  hosts (network namespaces):
    ip netns exec %s curl http://<service IP>/     the client, on the nodes' segment
    ip netns exec %s curl http://<service IP>/        behind the BGP router
    ip netns exec %s birdc -s /run/ironlb-lab/router/bird.ctl show route   (BIRD 2)
    ip netns exec %s ip addr show %s
  logs: %s
`, kubectl, l.Kubeconfig(), lab.ClientNS, lab.ExtNS, lab.RouterNS, lab.NodeNS(1), lab.ServiceDevice, lab.LogDir(mustRepo()))
}

// mustRepo is the repository root, or "." when it cannot be found.
func mustRepo() string {
	repo, err := lab.RepoRoot()
	if err != nil {
		return "."
	}
	return repo
}

// status prints the state of the lab on this machine.
func status(ctx context.Context) error {
	if !lab.Running() {
		fmt.Println("lab: not running")
		return nil
	}
	fmt.Println("lab: running")
	return kubectl(ctx, []string{"get", "nodes,services", "-A", "-o", "wide"})
}

// kubectl runs the lab's kubectl with the lab's kubeconfig.
func kubectl(ctx context.Context, args []string) error {
	repo, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	bins, err := lab.BuildKube(ctx, repo, os.Stderr)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bins.Kubectl, append([]string{"--kubeconfig", lab.KubeconfigPath(repo)}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}

// helm runs helm, built from e2etest/helmbin into the user cache when
// missing, with the lab's kubeconfig: `make chart` lints and renders
// charts/ironlb with it.
func helm(ctx context.Context, args []string) error {
	repo, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	path, err := lab.BuildHelm(ctx, repo, os.Stderr)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+lab.KubeconfigPath(repo))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}

// backend serves a node's HTTP backend (run by the lab in a node namespace).
func backend(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("backend", flag.ContinueOnError)
	name := flags.String("name", "", "name to answer with")
	listen := flags.String("listen", ":80", "address to listen on")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("backend: --name is required")
	}
	return labbackend.Serve(ctx, *name, *listen)
}

// serviceIPSync keeps Service IPs on the nodes' kube-ipvs0 (run by the lab).
func serviceIPSync(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("service-ip-sync", flag.ContinueOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of the lab")
	nodes := flags.Int("nodes", 3, "number of nodes")
	if err := flags.Parse(args); err != nil {
		return err
	}
	return lab.RunServiceIPSync(ctx, *kubeconfig, *nodes, slog.New(slog.NewTextHandler(os.Stderr, nil)))
}
