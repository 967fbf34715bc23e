package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcessUsage is what a process holds: its resident memory and open file
// descriptors (sockets included).
type ProcessUsage struct {
	RSSKiB int
	FDs    int
}

// Usage reads /proc/<pid>/status (VmRSS) and counts /proc/<pid>/fd.
func Usage(pid int) (ProcessUsage, error) {
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	status, err := os.ReadFile(filepath.Join(proc, "status"))
	if err != nil {
		return ProcessUsage{}, err
	}
	var u ProcessUsage
	for line := range strings.Lines(string(status)) {
		if value, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if _, err := fmt.Sscan(value, &u.RSSKiB); err != nil {
				return ProcessUsage{}, fmt.Errorf("%s/status: %q: %w", proc, line, err)
			}
		}
	}
	fds, err := os.ReadDir(filepath.Join(proc, "fd"))
	if err != nil {
		return ProcessUsage{}, err
	}
	u.FDs = len(fds)
	return u, nil
}
