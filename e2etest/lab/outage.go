package lab

import (
	"context"
	"errors"
	"path/filepath"
	"time"
)

// StopAPIServer stops the control plane as an outage of its node would:
// kube-scheduler, kube-controller-manager, kube-apiserver, then etcd
// (SIGTERM, SIGKILL after 5 s); clients get connection refused. Kubelets,
// kube-proxies and pods keep running. StartAPIServer ends the outage.
//
// kube-controller-manager and kube-scheduler stop too because on a real
// control-plane node they do not outlive such an outage: they lose their
// leader lease and exit, and start afresh. One kept running (the lab runs
// it without leader election) comes back with a view of the nodes'
// heartbeats that is minutes old, marks every node NotReady, and so every
// endpoint, for a minute after the API server is back.
func (l *Lab) StopAPIServer() {
	for _, p := range l.cp.processes() {
		p.Stop(5 * time.Second)
	}
}

// StartAPIServer starts etcd and kube-apiserver again with the flags and
// data they had, waits until the API server is ready, then starts
// kube-controller-manager and kube-scheduler again.
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
	if err := l.cp.waitReady(ctx); err != nil {
		return err
	}
	for _, p := range []**Process{&l.cp.controllerManager, &l.cp.scheduler} {
		if *p == nil {
			continue
		}
		if *p, err = (*p).restart(); err != nil {
			return err
		}
	}
	return nil
}

// restart starts an exited process again with the same command line and
// log file.
func (p *Process) restart() (*Process, error) {
	return startProcess(filepath.Dir(p.LogPath), p.Name, "", p.cmd.Args)
}
