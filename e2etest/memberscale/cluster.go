// Package memberscale is the memberlist scale lab: N real members
// (e2etest/cmd/memberlab, each one speaker's internal/members layer with a
// timing profile) on their own loopback addresses inside one network
// namespace the lab creates and deletes, one process per member or several
// members per process (the members a benchmark kills, stops or starves are
// always alone in theirs). It measures crash and leave
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

// sharedSource is the source address of the connections memberlist dials
// itself, which name no member's address.
const sharedSource = "127.0.0.1"

// memberAddr is the loopback address of member i (0-based): 127.0.1.1 on.
func memberAddr(i int) string { return fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250) }

func memberName(i int) string { return fmt.Sprintf("m%03d", i) }

// process is one running memberlab process.
type process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when its output ends
	names []string      // its members
}

// member is one member of the cluster and the process it runs in.
type member struct {
	name, addr string
	proc       *process
}

// cluster is N members in the network namespace netns.
type cluster struct {
	binary, netns, logDir, profile string
	startGap                       time.Duration // between two members' starts

	mu      sync.Mutex
	events  []Event
	count   map[string]int // last "members" count per member
	members []*member      // by index
	procs   []*process
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
	// memberlist dials its own TCP connections (push-pulls, fallback
	// pings) without a source address: they leave from sharedSource.
	fmt.Fprintf(&rules, "-A OUTPUT -s %s/32\n", sharedSource)
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

// start starts members first to last in one process: the first joins the
// seed (member 0) and the member before it, each next one those and the
// member before it.
func (c *cluster) start(first, last int) error {
	p := &process{done: make(chan struct{})}
	var specs []string
	for i := first; i <= last; i++ {
		p.names = append(p.names, memberName(i))
		specs = append(specs, memberName(i)+"@"+memberAddr(i))
	}
	args := []string{"-members", strings.Join(specs, ","), "-port", strconv.Itoa(memberPort), "-profile", c.profile,
		"-start-gap", c.startGap.String()}
	if first > 0 {
		join := []string{fmt.Sprintf("%s:%d", memberAddr(0), memberPort)}
		if first > 1 {
			join = append(join, fmt.Sprintf("%s:%d", memberAddr(first-1), memberPort))
		}
		args = append(args, "-join", strings.Join(join, ","))
	}
	p.cmd = c.inNetns(c.binary, args...)
	logFile, err := os.Create(filepath.Join(c.logDir, p.names[0]+".log"))
	if err != nil {
		return err
	}
	p.cmd.Stderr = logFile
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return err
	}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	logFile.Close()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	for i := first; i <= last; i++ {
		c.members = append(c.members, &member{name: memberName(i), addr: memberAddr(i), proc: p})
	}
	c.mu.Unlock()
	go c.read(p, stdout)
	return nil
}

// alone returns the process of member i, which must run alone in it.
func (c *cluster) alone(i int) (*process, error) {
	p := c.members[i].proc
	if len(p.names) != 1 {
		return nil, fmt.Errorf("member %s shares its process with %d others", memberName(i), len(p.names)-1)
	}
	return p, nil
}

func (c *cluster) read(p *process, stdout io.Reader) {
	defer close(p.done)
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		e, err := ParseEvent(scanner.Text())
		if err != nil {
			continue
		}
		c.mu.Lock()
		c.events = append(c.events, e)
		if e.Kind == "members" {
			c.count[e.Member], _ = strconv.Atoi(e.Arg)
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

// kill sends SIGKILL to member i, alone in its process, and returns when
// it was sent.
func (c *cluster) kill(i int) (time.Duration, error) {
	p, err := c.alone(i)
	if err != nil {
		return 0, err
	}
	at := now()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return 0, err
	}
	<-p.done
	p.cmd.Wait()
	return at, nil
}

// leave tells member i, alone in its process, to leave gracefully and
// returns when it was told.
func (c *cluster) leave(i int) (time.Duration, error) {
	p, err := c.alone(i)
	if err != nil {
		return 0, err
	}
	at := now()
	if err := p.stdin.Close(); err != nil {
		return 0, err
	}
	<-p.done
	return at, p.cmd.Wait()
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

// close kills every process still running and deletes the namespace.
func (c *cluster) close() {
	for _, p := range c.procs {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
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
