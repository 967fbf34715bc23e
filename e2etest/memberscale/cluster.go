// Package memberscale is the memberlist scale lab: N real member processes
// (e2etest/cmd/memberlab, each one speaker's internal/members layer with a
// timing profile) on their own loopback addresses inside one network
// namespace the lab creates and deletes. It measures crash and leave
// detection, traffic and CPU per member, and the false failovers of one
// member starved by a cgroup CPU quota. It needs root but not the k8s lab,
// and takes no lab lock. The benchmarks run with `make bench-lab`.
package memberscale

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// memberPort is the port every member listens on, each on its own address.
const memberPort = 7946

// now returns CLOCK_MONOTONIC, the clock memberlab stamps its lines with.
func now() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// memberAddr is the loopback address of member i (0-based): 127.0.1.1 on.
func memberAddr(i int) string { return fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250) }

func memberName(i int) string { return fmt.Sprintf("m%03d", i) }

// member is one running memberlab process.
type member struct {
	name, addr string
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	done       chan struct{} // closed when its output ends
}

// cluster is N members in the network namespace netns.
type cluster struct {
	binary, netns, logDir, profile string

	mu      sync.Mutex
	events  []Event
	count   map[string]int // last "members" count per member
	members []*member
}

// newCluster creates the network namespace with loopback up and counter
// rules for n members' source addresses.
func newCluster(binary, logDir, profile string, n int) (*cluster, error) {
	c := &cluster{binary: binary, logDir: logDir, profile: profile, netns: fmt.Sprintf("ilbscale-%d", os.Getpid()), count: map[string]int{}}
	if err := run("ip", "netns", "add", c.netns); err != nil {
		return nil, err
	}
	if err := run("ip", "-n", c.netns, "link", "set", "lo", "up"); err != nil {
		c.close()
		return nil, err
	}
	var rules strings.Builder
	rules.WriteString("*filter\n")
	for i := range n {
		fmt.Fprintf(&rules, "-A OUTPUT -s %s/32\n", memberAddr(i))
	}
	rules.WriteString("COMMIT\n")
	cmd := c.inNetns("iptables-restore", "--noflush")
	cmd.Stdin = strings.NewReader(rules.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		c.close()
		return nil, fmt.Errorf("iptables-restore: %v: %s", err, out)
	}
	return c, nil
}

func (c *cluster) inNetns(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + c.netns, name}, args...)...)
}

// start starts member i, joining the seed (member 0) and the member
// before it.
func (c *cluster) start(i int) error {
	m := &member{name: memberName(i), addr: memberAddr(i), done: make(chan struct{})}
	args := []string{"-name", m.name, "-addr", m.addr, "-port", strconv.Itoa(memberPort), "-profile", c.profile}
	if i > 0 {
		join := []string{fmt.Sprintf("%s:%d", memberAddr(0), memberPort)}
		if i > 1 {
			join = append(join, fmt.Sprintf("%s:%d", memberAddr(i-1), memberPort))
		}
		args = append(args, "-join", strings.Join(join, ","))
	}
	m.cmd = c.inNetns(c.binary, args...)
	logFile, err := os.Create(filepath.Join(c.logDir, m.name+".log"))
	if err != nil {
		return err
	}
	m.cmd.Stderr = logFile
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if m.stdin, err = m.cmd.StdinPipe(); err != nil {
		return err
	}
	if err := m.cmd.Start(); err != nil {
		return err
	}
	logFile.Close()
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
	go c.read(m, stdout)
	return nil
}

func (c *cluster) read(m *member, stdout io.Reader) {
	defer close(m.done)
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		e, err := ParseEvent(m.name, scanner.Text())
		if err != nil {
			continue
		}
		c.mu.Lock()
		c.events = append(c.events, e)
		if e.Kind == "members" {
			c.count[m.name], _ = strconv.Atoi(e.Arg)
		}
		c.mu.Unlock()
	}
}

// snapshot returns a copy of the events so far.
func (c *cluster) snapshot() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// waitConverged waits until every member in names sees exactly want members.
func (c *cluster) waitConverged(names []string, want int, timeout time.Duration) error {
	err := waitFor(timeout, fmt.Sprintf("%d members to see %d", len(names), want), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, n := range names {
			if c.count[n] != want {
				return false
			}
		}
		return true
	})
	if err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		lowest, downs := want, 0
		for _, n := range names {
			lowest = min(lowest, c.count[n])
		}
		for _, e := range c.events {
			if e.Kind == "down" {
				downs++
			}
		}
		return fmt.Errorf("%w: the member seeing the fewest saw %d; %d times a member declared another dead", err, lowest, downs)
	}
	return nil
}

// kill sends SIGKILL to member i and returns when it was sent.
func (c *cluster) kill(i int) (time.Duration, error) {
	m := c.members[i]
	at := now()
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return 0, err
	}
	<-m.done
	m.cmd.Wait()
	return at, nil
}

// leave tells member i to leave gracefully and returns when it was told.
func (c *cluster) leave(i int) (time.Duration, error) {
	m := c.members[i]
	at := now()
	if err := m.stdin.Close(); err != nil {
		return 0, err
	}
	<-m.done
	return at, m.cmd.Wait()
}

// traffic reads the packet and byte counters of each member's source
// address.
func (c *cluster) traffic() (map[string][2]int64, error) {
	out, err := c.inNetns("iptables-save", "-c", "-t", "filter").Output()
	if err != nil {
		return nil, fmt.Errorf("iptables-save: %w", err)
	}
	return parseCounters(out), nil
}

var counterLine = regexp.MustCompile(`^\[(\d+):(\d+)\] -A OUTPUT -s ([0-9.]+)/32$`)

// parseCounters maps source address to [packets, bytes] from iptables-save -c.
func parseCounters(out []byte) map[string][2]int64 {
	counters := map[string][2]int64{}
	for _, line := range bytes.Split(out, []byte("\n")) {
		if m := counterLine.FindSubmatch(bytes.TrimSpace(line)); m != nil {
			pkts, _ := strconv.ParseInt(string(m[1]), 10, 64)
			octets, _ := strconv.ParseInt(string(m[2]), 10, 64)
			counters[string(m[3])] = [2]int64{pkts, octets}
		}
	}
	return counters
}

// close kills every member still running and deletes the namespace.
func (c *cluster) close() {
	for _, m := range c.members {
		if m.cmd.ProcessState == nil {
			m.cmd.Process.Kill()
			m.cmd.Wait()
		}
	}
	run("ip", "netns", "del", c.netns)
}

func run(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
