package layer2

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// lab is a pair of network namespaces: "r" runs the responder, "c" the
// clients, joined by veth pairs rN <-> cN.
type lab struct {
	t    *testing.T
	r, c string
}

func newLab(t *testing.T) *lab {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	for _, tool := range []string{"ip", "arping", "ndisc6"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt-get install iproute2 arping ndisc6)", tool)
		}
	}
	prefix := fmt.Sprintf("ilbl2-%d-", os.Getpid())
	l := &lab{t: t, r: prefix + "r", c: prefix + "c"}
	for _, ns := range []string{l.r, l.c} {
		l.run("ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		l.run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		l.run("ip", "-n", ns, "link", "set", "lo", "up")
	}
	return l
}

// run runs a command and fails the test if it fails.
func (l *lab) run(args ...string) string {
	l.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// veth links rN in the responder namespace to cN in the client namespace
// and gives both ends the host addresses .1 (r) and .2 (c) of the subnets.
func (l *lab) veth(n int, subnets ...string) {
	l.t.Helper()
	r, c := fmt.Sprint("r", n), fmt.Sprint("c", n)
	l.run("ip", "-n", l.r, "link", "add", r, "type", "veth", "peer", "name", c, "netns", l.c)
	for _, s := range subnets {
		l.run("ip", "-n", l.r, "addr", "add", s+"1"+prefixLen(s), "dev", r, "nodad")
		l.run("ip", "-n", l.c, "addr", "add", s+"2"+prefixLen(s), "dev", c, "nodad")
	}
	l.run("ip", "-n", l.r, "link", "set", r, "up")
	l.run("ip", "-n", l.c, "link", "set", c, "up")
}

func prefixLen(subnet string) string {
	if strings.Contains(subnet, ":") {
		return "/64"
	}
	return "/24"
}

// mac returns the MAC address of a link in the responder namespace.
func (l *lab) mac(name string) string {
	l.t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(l.run("ip", "-n", l.r, "-j", "link", "show", name)), &links); err != nil || len(links) != 1 {
		l.t.Fatalf("reading MAC of %s: %v", name, err)
	}
	return links[0].Address
}

// arping asks for ip (twice at most) from the client namespace through iface and returns
// the MAC that answered, or "" when nobody did.
func (l *lab) arping(iface, ip string) string {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.c, "arping", "-c", "2", "-C", "1", "-w", "2", "-i", iface, ip).CombinedOutput()
	if err != nil {
		return ""
	}
	// "60 bytes from 02:..:.. (192.0.2.10): index=0 time=…"
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[1] == "bytes" && f[2] == "from" {
			return strings.ToLower(f[3])
		}
	}
	l.t.Fatalf("arping %s succeeded without a reply line:\n%s", ip, out)
	return ""
}

// ndisc asks for ip with ndisc6 and returns the MAC that answered, or "".
func (l *lab) ndisc(iface, ip string) string {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.c, "ndisc6", "-q", "-1", "-r", "3", "-w", "600", ip, iface).Output()
	if err != nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(string(out)))
}

// helper is a running helper process and the lines it printed.
type helper struct {
	t      *testing.T
	name   string
	stdin  io.WriteCloser
	mu     sync.Mutex
	lines  []string
	stderr bytes.Buffer
}

// start runs this test binary as the named helper inside namespace ns.
func (l *lab) start(name, ns string, env ...string) *helper {
	l.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe)
	cmd.Env = append(os.Environ(), append(env, helperEnv+"="+name)...)
	h := &helper{t: l.t, name: name}
	cmd.Stderr = &h.stderr
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		l.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.mu.Lock()
			h.lines = append(h.lines, sc.Text())
			h.mu.Unlock()
		}
	}()
	l.t.Cleanup(func() {
		h.stdin.Close()
		cmd.Process.Kill()
		<-done
		cmd.Wait()
		if l.t.Failed() {
			h.mu.Lock()
			l.t.Logf("%s helper stdout:\n%s\nstderr:\n%s", name, strings.Join(h.lines, "\n"), h.stderr.String())
			h.mu.Unlock()
		}
	})
	return h
}

func (h *helper) send(line string) {
	h.t.Helper()
	if _, err := fmt.Fprintln(h.stdin, line); err != nil {
		h.t.Fatalf("writing to %s helper: %v", h.name, err)
	}
}

// count returns how many printed lines satisfy match.
func (h *helper) count(match func(string) bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, l := range h.lines {
		if match(l) {
			n++
		}
	}
	return n
}

// waitFor waits up to timeout for a printed line equal to want.
func (h *helper) waitFor(want string, timeout time.Duration) {
	h.t.Helper()
	eventually(h.t, timeout, fmt.Sprintf("%s helper to print %q", h.name, want), func() bool {
		return h.count(func(l string) bool { return l == want }) > 0
	})
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// interfacesAre waits until the announcer reports exactly names.
func (h *helper) interfacesAre(names ...string) {
	h.t.Helper()
	want := "interfaces " + strings.Join(names, " ")
	eventually(h.t, 5*time.Second, "responders on "+strings.Join(names, ","), func() bool {
		h.send("interfaces")
		time.Sleep(100 * time.Millisecond)
		h.mu.Lock()
		defer h.mu.Unlock()
		for i := len(h.lines) - 1; i >= 0; i-- {
			if strings.HasPrefix(h.lines[i], "interfaces") {
				return h.lines[i] == want
			}
		}
		return false
	})
}
