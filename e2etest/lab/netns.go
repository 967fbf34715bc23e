package lab

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Namespace is a named network namespace (under /run/netns).
type Namespace string

// Command returns a command that runs name with args inside the namespace.
func (ns Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", string(ns), name}, args...)...)
}

// Exec runs name with args inside the namespace and returns its output; the
// error includes the output.
func (ns Namespace) Exec(ctx context.Context, name string, args ...string) (string, error) {
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %s %s: %w: %s", ns, name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Do runs fn on an OS thread that is inside the namespace. Sockets that fn
// opens stay in the namespace after it returns.
func (ns Namespace) Do(fn func() error) error {
	target, err := netns.GetFromName(string(ns))
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", ns, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer origin.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", ns, err)
			return
		}
		errc <- fn()
		// A thread that cannot go back stays locked: Go then ends it with
		// this goroutine instead of reusing it in the wrong namespace.
		if netns.Set(origin) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// DialContext connects to address from inside the namespace, like
// net.Dialer.DialContext.
func (ns Namespace) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := ns.Do(func() error {
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, network, address)
		return err
	})
	return conn, err
}

// Netlink returns a netlink handle that works inside the namespace; close it
// after use.
func (ns Namespace) Netlink() (*netlink.Handle, error) {
	target, err := netns.GetFromName(string(ns))
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", ns, err)
	}
	defer target.Close()
	return netlink.NewHandleAt(target)
}
