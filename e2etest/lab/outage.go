package lab

import (
	"context"
	"errors"
	"path/filepath"
	"time"
)

// StopAPIServer stops kube-apiserver, then etcd (SIGTERM, SIGKILL after
// 5 s), as a control-plane outage would: clients get connection refused.
// Everything else keeps running. StartAPIServer ends the outage.
func (l *Lab) StopAPIServer() {
	l.cp.apiserver.Stop(5 * time.Second)
	l.cp.etcd.Stop(5 * time.Second)
}

// StartAPIServer starts etcd and kube-apiserver again with the flags and
// data they had, and waits until the API server is ready.
func (l *Lab) StartAPIServer(ctx context.Context) error {
	if l.cp.apiserver.Running() || l.cp.etcd.Running() {
		return errors.New("lab: the API server or etcd is still running; StopAPIServer first")
	}
	var err error
	if l.cp.etcd, err = l.cp.etcd.restart(); err != nil {
		return err
	}
	if l.cp.apiserver, err = l.cp.apiserver.restart(); err != nil {
		return err
	}
	return l.cp.waitReady(ctx)
}

// restart starts an exited process again with the same command line and
// log file.
func (p *Process) restart() (*Process, error) {
	return startProcess(filepath.Dir(p.LogPath), p.Name, "", p.cmd.Args)
}
