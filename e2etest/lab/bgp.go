package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SpeakerMetricsPort is where a lab speaker serves /metrics inside its
// node's namespace (the speaker's default --metrics-addr).
const SpeakerMetricsPort = 7472

// Memory is a process's resident memory as the kernel reports it in
// /proc/<pid>/status.
type Memory struct {
	RSS  uint64 // VmRSS, in bytes
	Peak uint64 // VmHWM, the highest RSS so far, in bytes
	Anon uint64 // RssAnon: the resident part of RSS that is not file-backed (heap, stacks)
	File uint64 // RssFile: the resident part mapped from files (mostly the binary's code)
}

// SpeakerMemory reads the resident memory of node i's speaker: of its
// process, or in pods mode of its container's process (the host PID that
// the node's containerd lists for the container's task).
func (l *Lab) SpeakerMemory(ctx context.Context, i int) (Memory, error) {
	name := "speaker of " + NodeName(i)
	if !l.opts.Pods {
		p := l.Speaker(i)
		if p == nil {
			return Memory{}, fmt.Errorf("lab: %s has no speaker", NodeName(i))
		}
		return readMemory(name, p.PID())
	}
	pid, err := l.SpeakerContainerPID(ctx, i)
	if err != nil {
		return Memory{}, err
	}
	return readMemory(name, pid)
}

// SpeakerCPU returns the CPU time node i's speaker has used.
func (l *Lab) SpeakerCPU(ctx context.Context, i int) (time.Duration, error) {
	if !l.opts.Pods {
		p := l.Speaker(i)
		if p == nil {
			return 0, fmt.Errorf("lab: %s has no speaker", NodeName(i))
		}
		return CPUTime(p.PID())
	}
	pid, err := l.SpeakerContainerPID(ctx, i)
	if err != nil {
		return 0, err
	}
	return CPUTime(pid)
}

// CPUTime returns the user plus system CPU time of process pid.
func CPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start at state.
	rest := data[bytes.LastIndexByte(data, ')')+2:]
	fields := strings.Fields(string(rest))
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}

// SignalSpeaker sends sig to node i's speaker and returns at once: to its
// process, or in pods mode to its container's process through the node's
// containerd, as KillSpeaker does, but leaving the pod alone (SIGSTOP and
// SIGCONT freeze and thaw the speaker in place).
func (l *Lab) SignalSpeaker(ctx context.Context, i int, sig syscall.Signal) error {
	if l.opts.Pods {
		return l.signalSpeakerContainer(ctx, i, sig)
	}
	p := l.Speaker(i)
	if p == nil {
		return fmt.Errorf("lab: %s has no speaker", NodeName(i))
	}
	return p.Signal(sig)
}

// readMemory reads the resident memory of the process pid, called name in
// errors, from /proc/<pid>/status.
func readMemory(name string, pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	var m Memory
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), ":")
		if !ok {
			continue
		}
		var field *uint64
		switch key {
		case "VmRSS":
			field = &m.RSS
		case "VmHWM":
			field = &m.Peak
		case "RssAnon":
			field = &m.Anon
		case "RssFile":
			field = &m.File
		default:
			continue
		}
		kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("%s: /proc status %s %q: %w", name, key, value, err)
		}
		*field = kib * 1024
	}
	if err := scanner.Err(); err != nil {
		return Memory{}, fmt.Errorf("%s: %w", name, err)
	}
	if m.RSS == 0 {
		return Memory{}, fmt.Errorf("%s: no VmRSS in /proc/%d/status (exited?)", name, pid)
	}
	return m, nil
}

// SpeakerMetrics fetches the Prometheus text exposition of node i's speaker
// from inside the node's namespace.
func (l *Lab) SpeakerMetrics(ctx context.Context, i int) (string, error) {
	n := l.Node(i)
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
				return n.NS.DialContext(ctx, network, address)
			},
		},
	}
	defer client.CloseIdleConnections()
	// The plain endpoint, on loopback in pods mode (--metrics-addr=127.0.0.1:7472).
	url := fmt.Sprintf("http://%s/metrics", net.JoinHostPort("127.0.0.1", strconv.Itoa(SpeakerMetricsPort)))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("speaker metrics of %s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("speaker metrics of %s: %w", n.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("speaker metrics of %s: %s: %s", n.Name, resp.Status, body)
	}
	return string(body), nil
}
