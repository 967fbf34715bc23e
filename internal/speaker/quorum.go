package speaker

import (
	"context"
	"log/slog"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/election"
)

// speakerPodSelector selects the speaker pods of the shipped DaemonSet in
// the speaker's namespace: their count, Ready ones per node, is the running
// speakers a quorum is counted against.
const speakerPodSelector = "app=metallb,component=speaker"

// ReasonNoQuorum is the Event reason on the node whose speaker holds back
// addresses for lack of quorum; ReasonQuorumRegained when it no longer does.
const (
	ReasonNoQuorum       = "NoQuorum"
	ReasonQuorumRegained = "QuorumRegained"
)

// watchSpeakerPods starts an informer on the speaker pods and returns their
// lister; a pod added or deleted, or one that starts or stops running, asks
// for a new plan at once (the main loop coalesces bursts): that is how a
// crashed speaker's failover starts.
func (s *Speaker) watchSpeakerPods(ctx context.Context) (corelisters.PodLister, cache.InformerSynced, error) {
	factory := informers.NewSharedInformerFactoryWithOptions(s.clients.Kube, 0, informers.WithNamespace(s.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = speakerPodSelector }))
	informer := factory.Core().V1().Pods().Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.signal(true) },
		UpdateFunc: s.speakerPodUpdated,
		DeleteFunc: func(any) { s.signal(true) },
	}); err != nil {
		return nil, nil, err
	}
	factory.Start(ctx.Done())
	return factory.Core().V1().Pods().Lister(), informer.HasSynced, nil
}

// speakerPodUpdated asks for a plan when a speaker pod's update changes
// what the plan reads of it.
func (s *Speaker) speakerPodUpdated(old, updated any) {
	before, okBefore := old.(*corev1.Pod)
	after, okAfter := updated.(*corev1.Pod)
	if !okBefore || !okAfter || podChangesLiveness(before, after) {
		s.signal(true)
	}
}

// runningSpeakers counts the nodes with a Ready speaker pod that is not
// being deleted: the speakers the API server lists as running. A speaker
// cut off from the others by a blocked port stays Ready, so it counts; a
// node that is gone stops counting once its pods are marked not Ready.
func runningSpeakers(pods []*corev1.Pod) int { return len(nodesWithRunningSpeaker(pods)) }

// nodesWithRunningSpeaker returns the nodes that runningSpeakers counts.
func nodesWithRunningSpeaker(pods []*corev1.Pod) map[string]bool {
	nodes := map[string]bool{}
	for _, pod := range pods {
		if speakerRunning(pod) {
			nodes[pod.Spec.NodeName] = true
		}
	}
	return nodes
}

// listSpeakerPods returns the speaker pods the informer knows; none
// without memberlist or before they are known.
func (s *Speaker) listSpeakerPods() []*corev1.Pod {
	if s.speakerPods == nil {
		return nil
	}
	pods, err := s.speakerPods.List(labels.Everything())
	if err != nil {
		return nil
	}
	return pods
}

// quorum returns what this speaker sees (its live members) against what
// runs; the zero Quorum (always held) without memberlist or before the pods
// are known.
func (s *Speaker) quorum(members map[string]bool, pods []*corev1.Pod) election.Quorum {
	if s.members == nil {
		return election.Quorum{}
	}
	return election.Quorum{Seen: len(members), Running: runningSpeakers(pods), Degraded: s.members.HealthScore() > 0}
}

// answering returns the addresses this node answers for after plan.
func answering(plan announce.Plan) map[netip.Addr]bool {
	out := make(map[netip.Addr]bool, len(plan.L2))
	for _, a := range plan.L2 {
		out[a.IP] = true
	}
	return out
}

// reportQuorum writes an Event on this node and a log line when it starts
// or stops holding back addresses for lack of quorum.
func reportQuorum(log *slog.Logger, recorder record.EventRecorder, node *corev1.Node, port int, q election.Quorum, before, after []netip.Addr) {
	switch {
	case len(after) > 0 && len(before) == 0:
		log.Warn("no quorum: not taking over addresses", "seen", q.Seen, "running", q.Running, "heldBack", len(after))
		if node != nil {
			recorder.Eventf(node, corev1.EventTypeWarning, ReasonNoQuorum,
				"speaker sees %d of %d running speakers (fewer than half): it takes over none of the %d addresses it was elected for (is port %d blocked?)",
				q.Seen, q.Running, len(after), port)
		}
	case len(after) == 0 && len(before) > 0:
		log.Info("quorum regained", "seen", q.Seen, "running", q.Running)
		if node != nil {
			recorder.Eventf(node, corev1.EventTypeNormal, ReasonQuorumRegained, "speaker sees %d of %d running speakers", q.Seen, q.Running)
		}
	}
}
