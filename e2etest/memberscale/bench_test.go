package memberscale

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// Parameters, from the environment so that `make bench-lab` runs the
// issue's figures and a quick look can run less:
//   - IRONLB_SCALE_SIZES: member counts of BenchmarkMemberlistScale (10,50,100,200);
//   - IRONLB_STARVE_SIZES: member counts of BenchmarkMemberlistStarvation (100);
//   - IRONLB_STARVE_FOR: how long the member is starved (10m);
//   - IRONLB_STARVE_PERIOD: the CFS period of the 10 % quota (100ms, as Kubernetes' CPU limits);
//   - IRONLB_SCALE_WINDOW: the traffic and CPU window (20s);
//   - IRONLB_SCALE_PROFILES: the timing profiles of both (default,fast,metallb;
//     a profile may end in -gossip-<interval>, e.g. default-gossip-100ms,
//     and then in -probes-only: without the exit watch);
//   - IRONLB_SCALE_START_GAP: time between two members' starts (10ms);
//   - IRONLB_SCALE_STAGED: when set, each process starts once the members
//     started before it all see each other (at most a minute each), as in a
//     rollout, rather than all at once;
//   - IRONLB_SCALE_PER_PROCESS: members per memberlab process (1). The
//     members a benchmark kills, stops or starves run alone in theirs.
//     200 processes do not fit on 2 cores (each its own Go runtime, their
//     timers woken by the kernel), 200 members in 10 processes do.
//
// victims is the number of members of each kind (crash, leave) per run.
const victims = 3

func envProfiles() []string {
	return strings.Split(envOr("IRONLB_SCALE_PROFILES", "default,fast,metallb"), ",")
}

func envSizes(b *testing.B, key, def string) []int {
	var sizes []int
	for _, s := range strings.Split(envOr(key, def), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2+2*victims {
			b.Fatalf("%s: %q is not a member count of at least %d", key, s, 2+2*victims)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

func envCount(b *testing.B, key, def string) int {
	n, err := strconv.Atoi(envOr(key, def))
	if err != nil || n < 1 {
		b.Fatalf("%s: %q is not a positive count", key, envOr(key, def))
	}
	return n
}

func envDuration(b *testing.B, key, def string) time.Duration {
	d, err := time.ParseDuration(envOr(key, def))
	if err != nil {
		b.Fatalf("%s: %v", key, err)
	}
	return d
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// TestMain removes the memberlab binary built for the benchmarks.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildBinary != "" {
		os.RemoveAll(filepath.Dir(buildBinary))
	}
	os.Exit(code)
}

var (
	buildOnce   sync.Once
	buildBinary string
	buildErr    error
)

// memberlab builds e2etest/cmd/memberlab once per test binary.
func memberlab(b *testing.B) string {
	if os.Geteuid() != 0 {
		b.Skip("the memberlist scale lab needs root (network namespace, cgroups)")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ilbscale-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildBinary = filepath.Join(dir, "memberlab")
		out, err := exec.Command("go", "build", "-o", buildBinary, "../cmd/memberlab").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build memberlab: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return buildBinary
}

// startCluster starts n members with profile and waits until each sees all.
// A cluster that does not converge is a measured outcome, not a failure (the
// fast timing flaps at 100 members on 2 loaded cores): it reports converged
// 0, logs how far it got and returns nil.
func startCluster(b *testing.B, n int, profile string) *cluster {
	binary := memberlab(b)
	logDir, err := os.MkdirTemp("", "ilbscale-logs")
	if err != nil {
		b.Fatal(err)
	}
	c, err := newCluster(binary, logDir, profile, n)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if !b.Failed() {
			os.RemoveAll(logDir)
		}
	})
	b.Cleanup(c.close)
	perProcess := envCount(b, "IRONLB_SCALE_PER_PROCESS", "1")
	c.startGap = envDuration(b, "IRONLB_SCALE_START_GAP", "10ms")
	names := make([]string, n)
	for i := range n {
		names[i] = memberName(i)
	}
	staged := os.Getenv("IRONLB_SCALE_STAGED") != ""
	for _, group := range processGroups(n, perProcess, runsAlone(n)) {
		if err := c.start(group[0], group[1]); err != nil {
			b.Fatal(err)
		}
		time.Sleep(c.startGap) // no thundering join on the seed
		if started := group[1] + 1; staged && started < n {
			if err := c.waitConverged(names[:started], started, time.Minute); err != nil {
				b.Logf("%s: with %d members started: %v", b.Name(), started, err)
			}
		}
	}
	if err := c.waitConverged(names, n, time.Minute+time.Duration(n)*time.Second); err != nil {
		b.ReportMetric(0, "converged")
		b.Logf("%s: %v", b.Name(), err)
		return nil
	}
	b.ReportMetric(1, "converged")
	return c
}

// starvedMember is the member BenchmarkMemberlistStarvation starves.
const starvedMember = 1

// crashVictim and leaveVictim are the v-th member (0 ≤ v < victims) that
// BenchmarkMemberlistScale kills and tells to leave.
func crashVictim(n, v int) int { return n - 1 - v }
func leaveVictim(n, v int) int { return n - 1 - victims - v }

// runsAlone reports which of n members must run alone in their process:
// the starved one and the victims.
func runsAlone(n int) map[int]bool {
	alone := map[int]bool{starvedMember: true}
	for v := range victims {
		alone[crashVictim(n, v)], alone[leaveVictim(n, v)] = true, true
	}
	return alone
}

// processGroups splits members 0…n-1 into runs of consecutive members
// [first, last] of at most perProcess members, each member in alone a run
// of its own.
func processGroups(n, perProcess int, alone map[int]bool) [][2]int {
	var groups [][2]int
	for i := 0; i < n; {
		last := i
		if !alone[i] {
			for last+1 < n && last+1-i < perProcess && !alone[last+1] {
				last++
			}
		}
		groups = append(groups, [2]int{i, last})
		i = last + 1
	}
	return groups
}

// BenchmarkMemberlistScale measures, per member count and timing profile:
// crash detection (SIGKILL → each other member drops it) and graceful leave
// propagation, p50 and p99 over every observer of every victim, and the
// time until all observers agreed (worst victim); packets, bytes and CPU
// per member in a steady window.
func BenchmarkMemberlistScale(b *testing.B) {
	window := envDuration(b, "IRONLB_SCALE_WINDOW", "20s")
	for _, n := range envSizes(b, "IRONLB_SCALE_SIZES", "10,50,100,200") {
		for _, profile := range envProfiles() {
			b.Run(fmt.Sprintf("n=%d/profile=%s", n, profile), func(b *testing.B) {
				for b.Loop() {
					measureScale(b, n, profile, window)
				}
			})
		}
	}
}

func measureScale(b *testing.B, n int, profile string, window time.Duration) {
	c := startCluster(b, n, profile)
	if c == nil {
		return
	}
	time.Sleep(5 * time.Second)
	load := measureLoad(b, c, n, window)
	b.ReportMetric(load.pktsPerSec, "pkts/s/member")
	b.ReportMetric(load.bytesPerSec, "B/s/member")
	b.ReportMetric(load.maxBytesPerSec, "max-B/s/member")
	b.ReportMetric(load.cpuPercent, "cpu-%/member")

	alive := make([]bool, n)
	for i := range alive {
		alive[i] = true
	}
	timeout := 2 * time.Minute
	for kind, stop := range map[string]func(int) (time.Duration, error){"crash": c.kill, "leave": c.leave} {
		var samples []time.Duration
		var allAgree time.Duration
		for v := range victims {
			victim := crashVictim(n, v)
			if kind == "leave" {
				victim = leaveVictim(n, v)
			}
			alive[victim] = false
			var observers []string
			for i, ok := range alive {
				if ok {
					observers = append(observers, memberName(i))
				}
			}
			at, err := stop(victim)
			if err != nil {
				b.Fatal(err)
			}
			var seen map[string]time.Duration
			if err := waitFor(timeout, fmt.Sprintf("%d members to drop %s after %s", len(observers), memberName(victim), kind), func() bool {
				seen = Detections(c.snapshot(), memberName(victim), at, observers)
				return len(seen) == len(observers)
			}); err != nil {
				b.Fatal(err)
			}
			for _, d := range seen {
				samples = append(samples, d)
				allAgree = max(allAgree, d)
			}
		}
		b.ReportMetric(ms(Percentile(samples, 50)), kind+"-p50-ms")
		b.ReportMetric(ms(Percentile(samples, 99)), kind+"-p99-ms")
		b.ReportMetric(ms(allAgree), kind+"-all-max-ms")
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type load struct{ pktsPerSec, bytesPerSec, maxBytesPerSec, cpuPercent float64 }

// measureLoad reads each member's traffic counters and CPU time across
// window and returns the means per member (and the busiest member's bytes);
// CPU per member is the processes' CPU time, and memberlist's own TCP
// (from sharedSource) its traffic, shared equally by the members.
func measureLoad(b *testing.B, c *cluster, n int, window time.Duration) load {
	cpu := func() time.Duration {
		var total time.Duration
		for _, p := range c.procs {
			t, err := lab.CPUTime(p.cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			total += t
		}
		return total
	}
	cpu0, traffic0 := cpu(), mustTraffic(b, c)
	start := time.Now()
	time.Sleep(window)
	cpu1, traffic1 := cpu(), mustTraffic(b, c)
	elapsed := time.Since(start).Seconds()
	l := load{cpuPercent: 100 * (cpu1 - cpu0).Seconds() / elapsed / float64(n)}
	// memberlist's own connections leave from sharedSource: their packets
	// and bytes are shared equally by the members.
	sharedPkts := float64(traffic1[sharedSource][0]-traffic0[sharedSource][0]) / elapsed / float64(n)
	sharedBytes := float64(traffic1[sharedSource][1]-traffic0[sharedSource][1]) / elapsed / float64(n)
	l.pktsPerSec, l.bytesPerSec = sharedPkts, sharedBytes
	for i := range n {
		addr := memberAddr(i)
		pkts := float64(traffic1[addr][0]-traffic0[addr][0]) / elapsed
		bytes := float64(traffic1[addr][1]-traffic0[addr][1]) / elapsed
		l.pktsPerSec += pkts / float64(n)
		l.bytesPerSec += bytes / float64(n)
		l.maxBytesPerSec = max(l.maxBytesPerSec, bytes+sharedBytes)
	}
	return l
}

func mustTraffic(b *testing.B, c *cluster) map[string][2]int64 {
	t, err := c.traffic()
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkMemberlistStarvation starves one member (a cgroup CPU quota of
// 10 % of a core with a CPU hog beside it) and counts how often the others
// declared it dead while it was alive: false-failovers counts the episodes
// (at least one member held it dead), declarations each member's verdict,
// dead-ms the time some member held it dead, self-drops the members the
// starved one declared dead.
func BenchmarkMemberlistStarvation(b *testing.B) {
	starveFor := envDuration(b, "IRONLB_STARVE_FOR", "10m")
	period := envDuration(b, "IRONLB_STARVE_PERIOD", "100ms")
	for _, n := range envSizes(b, "IRONLB_STARVE_SIZES", "100") {
		for _, profile := range envProfiles() {
			b.Run(fmt.Sprintf("n=%d/profile=%s", n, profile), func(b *testing.B) {
				for b.Loop() {
					measureStarvation(b, n, profile, starveFor, period)
				}
			})
		}
	}
}

func measureStarvation(b *testing.B, n int, profile string, starveFor, period time.Duration) {
	c := startCluster(b, n, profile)
	if c == nil {
		return
	}
	name := memberName(starvedMember)
	proc, err := c.alone(starvedMember)
	if err != nil {
		b.Fatal(err)
	}
	s, err := starve(c.binary, proc.cmd.Process.Pid, 10, period)
	if err != nil {
		b.Fatal(err)
	}
	from := now()
	time.Sleep(starveFor)
	to := now()
	periods, throttled := s.throttled()
	s.stop()
	select {
	case <-proc.done:
		b.Fatalf("the starved member %s exited (logs in %s)", name, c.logDir)
	default:
	}
	events := c.snapshot()
	f := FalseFailovers(events, name, from, to)
	b.ReportMetric(float64(f.Episodes), "false-failovers")
	b.ReportMetric(float64(f.Declarations), "declarations")
	b.ReportMetric(ms(f.Dead), "dead-ms")
	b.ReportMetric(float64(SelfDrops(events, name, from, to)), "self-drops")
	b.ReportMetric(starveFor.Minutes(), "starved-min")
	b.Logf("%s starved %v (10 %% of a core per %v): throttled in %d periods for %v; %d members declared it dead",
		name, starveFor, period, periods, time.Duration(throttled), f.Observers)
}
