package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupMountsRecord lists the cgroup v1 hierarchies the lab mounted, so
// that cleanup unmounts those and only those.
var cgroupMountsRecord = filepath.Join(stateDir, "cgroup-mounts")

// cgroupV1Root is where cgroup v1 hierarchies are mounted.
const cgroupV1Root = "/sys/fs/cgroup"

// mountMissingCgroups mounts every enabled cgroup v1 controller that no
// hierarchy holds yet (on this machine kind: net_cls and net_prio together,
// perf_event, hugetlb): runc with the cgroupfs driver joins every one. It
// records what it mounted.
func mountMissingCgroups(ctx context.Context) error {
	data, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		return err
	}
	var missing []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 4 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if fields[1] == "0" && fields[3] == "1" {
			missing = append(missing, fields[0])
		}
	}
	var groups [][]string
	for _, name := range missing {
		if name == "net_prio" && slices.Contains(missing, "net_cls") {
			continue
		}
		if name == "net_cls" && slices.Contains(missing, "net_prio") {
			groups = append(groups, []string{"net_cls", "net_prio"})
			continue
		}
		groups = append(groups, []string{name})
	}
	for _, group := range groups {
		options := strings.Join(group, ",")
		dir := filepath.Join(cgroupV1Root, options)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount("cgroup", dir, "cgroup", 0, options); err != nil {
			return fmt.Errorf("mount cgroup %s on %s: %w", options, dir, err)
		}
		f, err := os.OpenFile(cgroupMountsRecord, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintln(f, dir)
		f.Close()
	}
	return nil
}

// cgroupHierarchies lists the mount points of the cgroup hierarchies whose
// file system type is one of fstypes ("cgroup" for v1, "cgroup2").
func cgroupHierarchies(fstypes ...string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var dirs []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		// ID parent major:minor root mountpoint options [optional...] - fstype source superoptions
		left, right, ok := strings.Cut(scanner.Text(), " - ")
		if !ok {
			continue
		}
		if fields := strings.Fields(right); len(fields) > 0 && slices.Contains(fstypes, fields[0]) {
			if mount := strings.Fields(left); len(mount) > 4 {
				dirs = append(dirs, mount[4])
			}
		}
	}
	return dirs, scanner.Err()
}

// createCgroupRoot creates cgroup (e.g. /ilblab-node1) in every v1
// hierarchy, with the parent's CPUs and memory nodes in cpuset.
func createCgroupRoot(cgroup string) error {
	hierarchies, err := cgroupHierarchies("cgroup")
	if err != nil {
		return err
	}
	for _, h := range hierarchies {
		dir := filepath.Join(h, cgroup)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
			value, err := os.ReadFile(filepath.Join(h, file))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, file), value, 0o644); err != nil {
				return fmt.Errorf("%s: %w", filepath.Join(dir, file), err)
			}
		}
	}
	return nil
}

// removeLabCgroups kills every process in a cgroup whose top-level name
// carries the lab prefix, in any hierarchy (runc also creates them in the
// unified one of a hybrid setup), removes those cgroups deepest first and
// unmounts the hierarchies the lab mounted.
func removeLabCgroups() error {
	hierarchies, err := cgroupHierarchies("cgroup", "cgroup2")
	if err != nil {
		return err
	}
	var errs []string
	for _, h := range hierarchies {
		tops, _ := filepath.Glob(filepath.Join(h, Prefix+"*"))
		for _, top := range tops {
			if err := removeCgroupTree(top); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if data, err := os.ReadFile(cgroupMountsRecord); err == nil {
		for _, dir := range strings.Fields(string(data)) {
			if err := syscall.Unmount(dir, 0); err != nil {
				errs = append(errs, fmt.Sprintf("unmount %s: %v", dir, err))
				continue
			}
			os.Remove(dir)
		}
		os.Remove(cgroupMountsRecord)
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove lab cgroups: %s", strings.Join(errs, "; "))
	}
	return nil
}

// removeCgroupTree kills the processes of dir and all its descendants and
// removes the cgroups, children first.
func removeCgroupTree(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	for attempt := 0; ; attempt++ {
		alive := 0
		for _, d := range dirs {
			data, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, field := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(field); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
					alive++
				}
			}
		}
		if alive == 0 || attempt == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var last error
	for _, d := range slices.Backward(dirs) {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			last = err
		}
	}
	return last
}

// unmountUnder detaches every mount below one of dirs (containerd's
// rootfs and sandbox mounts, the kubelet's volumes, pods' network
// namespaces), deepest first.
func unmountUnder(dirs ...string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		point := unescapeMountinfo(fields[4])
		for _, dir := range dirs {
			if strings.HasPrefix(point, dir+"/") {
				mounts = append(mounts, point)
			}
		}
	}
	slices.SortFunc(mounts, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	var errs []string
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Sprintf("unmount %s: %v", m, err))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeNodes removes what real nodes leave behind once their processes are
// gone: pods (by their cgroups), mounts, the hierarchies the lab mounted,
// the kubelet's links in /var/log/containers into the lab's pod logs, the
// nodes' directories and the speakers' state (SpeakerStateHostPath).
func removeNodes() error {
	var errs []string
	if err := removeLabCgroups(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := unmountUnder(nodesStateDir, nodesDataDir); err != nil {
		errs = append(errs, err.Error())
	}
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, link := range links {
		if target, err := os.Readlink(link); err == nil && strings.HasPrefix(target, nodesDataDir+"/") {
			os.Remove(link)
		}
	}
	for _, dir := range []string{nodesStateDir, nodesDataDir, SpeakerStateHostPath} {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove lab nodes: %s", strings.Join(errs, "; "))
	}
	return nil
}
