package memberscale

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuHierarchy is the cgroup v1 cpu controller's mount (docs/lab.md: the
// machine runs cgroup v1).
const cpuHierarchy = "/sys/fs/cgroup/cpu"

// starvation is a cgroup with a CPU quota holding one member and a CPU hog.
type starvation struct {
	dir    string
	hog    *exec.Cmd
	member int
}

// starve moves process pid into a new cgroup limited to percent of one core
// per CFS period (Kubernetes' CPU limits use 100 ms; a longer period stalls
// the member longer at the same share) and starts a hog (memberlab -hog)
// beside it.
func starve(binary string, pid, percent int, period time.Duration) (*starvation, error) {
	s := &starvation{dir: filepath.Join(cpuHierarchy, fmt.Sprintf("ilbscale-%d", os.Getpid())), member: pid}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		return nil, err
	}
	periodUs := int(period / time.Microsecond)
	files := []struct{ name, value string }{
		{"cpu.cfs_period_us", strconv.Itoa(periodUs)},
		{"cpu.cfs_quota_us", strconv.Itoa(periodUs * percent / 100)},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(s.dir, f.name), []byte(f.value), 0o644); err != nil {
			s.stop()
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	s.hog = exec.Command(binary, "-hog")
	if err := s.hog.Start(); err != nil {
		s.stop()
		return nil, err
	}
	for _, p := range []int{s.hog.Process.Pid, pid} {
		if err := os.WriteFile(filepath.Join(s.dir, "cgroup.procs"), []byte(strconv.Itoa(p)), 0o644); err != nil {
			s.stop()
			return nil, fmt.Errorf("move %d into %s: %w", p, s.dir, err)
		}
	}
	return s, nil
}

// throttled returns how many CFS periods the cgroup was throttled in and
// for how long.
func (s *starvation) throttled() (periods int64, throttledNs int64) {
	data, _ := os.ReadFile(filepath.Join(s.dir, "cpu.stat"))
	var key string
	var value int64
	for _, line := range strings.Split(string(data), "\n") {
		if n, _ := fmt.Sscan(line, &key, &value); n == 2 {
			switch key {
			case "nr_throttled":
				periods = value
			case "throttled_time":
				throttledNs = value
			}
		}
	}
	return periods, throttledNs
}

// stop kills the hog, moves the member back to the root cgroup and removes
// the cgroup.
func (s *starvation) stop() {
	if s.hog != nil && s.hog.Process != nil {
		s.hog.Process.Kill()
		s.hog.Wait()
	}
	os.WriteFile(filepath.Join(cpuHierarchy, "cgroup.procs"), []byte(strconv.Itoa(s.member)), 0o644)
	os.Remove(s.dir)
}
