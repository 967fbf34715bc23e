package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is one long-running program the lab started: a control-plane
// component, a router daemon, a backend or an ironlb binary. Its output goes
// to <repo>/.cache/lab/logs/<name>.log.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// pidDir records the processes of the running lab so that `lab down` and the
// next Up can stop them even after the process that started them is gone.
var pidDir = filepath.Join(stateDir, "pids")

// startProcess starts argv, inside network namespace netns unless it is
// empty, with its output appended to logDir/name.log. The process gets its own
// process group, so it outlives the lab's own process when the lab is kept.
func startProcess(logDir, name, netns string, argv []string, env ...string) (*Process, error) {
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, name+".log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	fmt.Fprintf(log, "=== %s started: %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	if err := recordPID(name, cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		os.Remove(filepath.Join(pidDir, name))
		close(p.done)
	}()
	return p, nil
}

// PID is the process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error {
	if !p.Running() {
		return fmt.Errorf("%s is not running", p.Name)
	}
	return p.cmd.Process.Signal(sig)
}

// Stop sends SIGTERM, and SIGKILL if the process has not exited after grace.
func (p *Process) Stop(grace time.Duration) {
	if !p.Running() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill sends sig (SIGKILL or SIGTERM, usually) and waits for the exit.
func (p *Process) Kill(sig syscall.Signal) error {
	if err := p.Signal(sig); err != nil {
		return err
	}
	<-p.done
	return nil
}

// ExitError is how the process ended: nil while it runs or after a clean exit.
func (p *Process) ExitError() error {
	if p.Running() {
		return nil
	}
	return p.err
}

// recordPID writes "pid starttime" under pidDir, the start time telling a
// recorded process from a later one that reuses its PID.
func recordPID(name string, pid int) error {
	if err := os.MkdirAll(pidDir, 0o755); err != nil {
		return err
	}
	start, err := processStartTime(pid)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(pidDir, name), []byte(fmt.Sprintf("%d %s\n", pid, start)), 0o644)
}

// processStartTime is field 22 of /proc/PID/stat (clock ticks since boot).
func processStartTime(pid int) (string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 20 {
		return "", fmt.Errorf("unexpected /proc/%d/stat: %q", pid, s)
	}
	return fields[19], nil
}

// killRecordedProcesses sends SIGKILL to every process recorded under pidDir
// that is still the same process, and forgets them all.
func killRecordedProcesses() error {
	entries, err := os.ReadDir(pidDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(pidDir, e.Name())
		data, err := os.ReadFile(path)
		if err == nil {
			var pid int
			var start string
			if _, err := fmt.Sscan(string(data), &pid, &start); err == nil {
				if now, err := processStartTime(pid); err == nil && now == start {
					syscall.Kill(pid, syscall.SIGKILL)
					waitGone(pid, start)
				}
			}
		}
		os.Remove(path)
	}
	return nil
}

// waitGone waits up to 5 s for process pid (started at start) to disappear.
func waitGone(pid int, start string) {
	for range 100 {
		if now, err := processStartTime(pid); err != nil || now != start {
			return
		}
		// A killed child of a dead parent is a zombie until init reaps it.
		if state, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(state), ") Z ") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killProcessesInNetns sends SIGKILL to every process whose network
// namespace is the named one (what `ip netns pids` lists).
func killProcessesInNetns(name string) {
	var target syscall.Stat_t
	if err := syscall.Stat(filepath.Join("/run/netns", name), &target); err != nil {
		return
	}
	want := fmt.Sprintf("net:[%d]", target.Ino)
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && link == want {
			start, _ := processStartTime(pid)
			syscall.Kill(pid, syscall.SIGKILL)
			waitGone(pid, start)
		}
	}
}
