package lab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// modulePath identifies the repository root: the directory whose go.mod
// declares this module.
const modulePath = "github.com/ironlb/ironlb"

// stateDir holds machine-wide lab state: the lock, process records, etcd's
// data, credentials and router sockets. It is on tmpfs and shared by all
// clones, since only one lab runs per machine.
const stateDir = "/run/ironlb-lab"

// RepoRoot returns the root of the ironlb repository that contains the
// working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if declaresModule(filepath.Join(dir, "go.mod"), modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no ironlb repository (go.mod of %s) above the working directory", modulePath)
		}
		dir = parent
	}
}

// declaresModule reports whether the go.mod file at path declares module mod.
func declaresModule(path, mod string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 2 && fields[0] == "module" {
			return fields[1] == mod
		}
	}
	return false
}

// LogDir is where the lab keeps the log of every process it starts, inside
// the clone: <repo>/.cache/lab/logs.
func LogDir(repo string) string { return filepath.Join(repo, ".cache", "lab", "logs") }

// SuiteTimesPath is the file each package's lab.Main appends its timing
// line to (`make e2e` prints it at the end).
func SuiteTimesPath(repo string) string {
	return filepath.Join(repo, ".cache", "lab", "suite-times.txt")
}

// KubeconfigPath is the kubeconfig of the running lab, inside the clone.
func KubeconfigPath(repo string) string { return filepath.Join(repo, ".cache", "lab", "kubeconfig") }

// binDir is where the lab builds the binaries under test.
func binDir(repo string) string { return filepath.Join(repo, ".cache", "lab", "bin") }

// userCacheDir is where built tools are kept across clones:
// ${XDG_CACHE_HOME:-$HOME/.cache}/ironlb.
func userCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "ironlb"), nil
}

// fileLock is an exclusive flock(2) on a file.
type fileLock struct{ f *os.File }

// lockFile takes an exclusive lock on path, creating it. If the lock is held
// elsewhere it calls waiting once and then blocks until it is free.
func lockFile(path string, waiting func()) (*fileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		if waiting != nil {
			waiting()
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &fileLock{f: f}, nil
}

// unlock releases the lock.
func (l *fileLock) unlock() {
	if l != nil && l.f != nil {
		syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
		l.f = nil
	}
}
