package speaker

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/members"
)

// keyPollInterval is how often the mounted memberlist Secret is read. The
// kubelet updates a Secret volume within about a minute of the change, so
// the poll adds little to a rotation step.
const keyPollInterval = 2 * time.Second

// Event reasons on this speaker's Node about its memberlist keys.
const (
	// ReasonMemberlistKeyKept: the mounted Secret holds no usable key (it
	// was deleted, or is invalid) and the speaker keeps the keys it has.
	ReasonMemberlistKeyKept = "MemberlistKeyKept"
	// ReasonMemberlistKeyChanged: the speaker installed the Secret's new
	// keys without restarting.
	ReasonMemberlistKeyChanged = "MemberlistKeyChanged"
)

// initialKeys returns the keys to start memberlist with and the Secret data
// they come from. With --memberlist-secret-dir: the mounted Secret, else
// (deleted) the keys saved by the previous run, else (a new node whose
// volume the kubelet has not filled yet) the Secret read from the API,
// waiting for it to exist. Without: the METALLB_ML_SECRET_KEY value, else
// the Secret read from the API.
func (s *Speaker) initialKeys(ctx context.Context) (members.Keys, map[string][]byte, error) {
	if dir := s.opts.MemberlistSecretDir; dir != "" {
		mounted, err := readKeyDir(dir)
		if err != nil {
			return members.Keys{}, nil, fmt.Errorf("reading the memberlist Secret mounted at %s: %w", dir, err)
		}
		saved, err := loadSavedKeys(s.opts.StateDir, s.installation)
		if err != nil {
			s.log.Warn("the memberlist keys saved by the previous run are not usable", "err", err)
		}
		keys, err := startingKeys(mounted, saved)
		if err == nil {
			if _, mountedErr := keysFromSecret(mounted); mountedErr != nil {
				s.log.Warn("starting with the memberlist keys saved by the previous run", "problem", mountedErr, "keys", keys)
				return keys, saved, nil
			}
			return keys, mounted, nil
		}
		s.log.Warn("waiting for the memberlist Secret", "err", err)
		return s.awaitSecret(ctx)
	}
	if secret := s.opts.MemberlistSecret; secret != nil {
		data := map[string][]byte{k8s.MemberlistSecretKey: secret}
		keys, err := keysFromSecret(data)
		if err != nil {
			return members.Keys{}, nil, fmt.Errorf("METALLB_ML_SECRET_KEY: %w", err)
		}
		return keys, data, nil
	}
	return s.awaitSecret(ctx)
}

// installationOf returns the UID of the controller (the speaker DaemonSet)
// of the pod named podName among pods, "" when podName is empty or that
// pod, or its controller, is not among them.
func installationOf(podName string, pods []*corev1.Pod) string {
	if podName == "" {
		return ""
	}
	for _, pod := range pods {
		if pod.Name != podName {
			continue
		}
		if owner := metav1.GetControllerOf(pod); owner != nil {
			return string(owner.UID)
		}
	}
	return ""
}

// awaitSecret reads the memberlist Secret from the API until it exists and
// holds valid keys.
func (s *Speaker) awaitSecret(ctx context.Context) (members.Keys, map[string][]byte, error) {
	ticker := time.NewTicker(keyPollInterval)
	defer ticker.Stop()
	for {
		obj, err := s.clients.Kube.CoreV1().Secrets(s.opts.Namespace).Get(ctx, k8s.MemberlistSecret, metav1.GetOptions{})
		if err == nil {
			keys, err := keysFromSecret(obj.Data)
			if err != nil {
				return members.Keys{}, nil, fmt.Errorf("namespace %s: %w", s.opts.Namespace, err)
			}
			return keys, obj.Data, nil
		}
		if !apierrors.IsNotFound(err) {
			return members.Keys{}, nil, fmt.Errorf("reading the memberlist key: %w", err)
		}
		select {
		case <-ctx.Done():
			return members.Keys{}, nil, ctx.Err()
		case <-ticker.C:
		}
	}
}

// followKeys installs the mounted Secret's keys whenever they change, and
// keeps the installed ones while the Secret is deleted or invalid, saying
// so once per problem (log and Event on the node).
func (s *Speaker) followKeys(ctx context.Context, node *corev1.Node) {
	ticker := time.NewTicker(keyPollInterval)
	defer ticker.Stop()
	var lastProblem string
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		mounted, err := readKeyDir(s.opts.MemberlistSecretDir)
		if err != nil {
			s.log.Warn("reading the mounted memberlist Secret", "dir", s.opts.MemberlistSecretDir, "err", err)
			continue
		}
		current := s.members.Keys()
		next, changed, problem := nextKeys(current, mounted)
		if problem != nil {
			if problem.Error() != lastProblem {
				lastProblem = problem.Error()
				msg := fmt.Sprintf("memberlist keys %s kept: %v", current, problem)
				if errors.Is(problem, errNoKeySecret) {
					msg += " (deleted? the controller recreates it with the same key)"
				}
				s.log.Warn(msg)
				s.recorder.Event(node, corev1.EventTypeWarning, ReasonMemberlistKeyKept, msg)
			}
			continue
		}
		lastProblem = ""
		if !changed {
			continue
		}
		if err := s.members.SetKeys(next); err != nil {
			s.log.Error("installing the memberlist keys", "err", err)
			continue
		}
		s.opts.Metrics.Speaker.SetMemberlistKeys(next)
		msg := fmt.Sprintf("memberlist keys changed from %s to %s (primary first)", current, next)
		// Saved before it is announced: whoever sees the Event can rely on
		// the next restart starting with these keys.
		if err := saveKeys(s.opts.StateDir, s.installation, mounted); err != nil {
			s.log.Warn("the memberlist keys are not kept for the next restart", "err", err)
		}
		s.log.Info(msg)
		s.recorder.Event(node, corev1.EventTypeNormal, ReasonMemberlistKeyChanged, msg)
	}
}
