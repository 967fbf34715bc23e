package speaker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/configstate"
	"github.com/ironlb/ironlb/internal/k8s"
)

// Labels of the ServiceL2Status and ServiceBGPStatus objects, to find the
// objects of one node or one Service.
const (
	LabelNode             = "metallb.io/node"
	LabelServiceName      = "metallb.io/service-name"
	LabelServiceNamespace = "metallb.io/service-namespace"
)

// ReasonNodeAssigned is the Event reason when a node starts announcing a
// Service.
const ReasonNodeAssigned = "nodeAssigned"

// serviceState is what this node reports for one Service.
type serviceState struct {
	// l2 is set when this node announces the Service in layer 2.
	l2         bool
	interfaces []string
	// l2Election explains the election (ServiceL2Status annotations).
	l2Election map[string]string
	// bgp is set when this node advertises the Service over BGP, to peers.
	bgp   bool
	peers []string
}

// statusWriter publishes what this node announces as ServiceL2Status and
// ServiceBGPStatus objects and nodeAssigned Events. It works off the
// speaker's hot path: it writes, Service by Service from a workqueue, the
// objects that differ between the latest plan and what it wrote before, and
// retries a failed write with backoff instead of waiting for the next plan.
type statusWriter struct {
	clients   *k8s.Clients
	recorder  record.EventRecorder
	services  corelisters.ServiceLister
	namespace string
	node      string
	// nodeLabel is node as a label value (node names may be too long).
	nodeLabel string
	log       *slog.Logger

	queue workqueue.TypedRateLimitingInterface[string]
	// mu guards desired: what the latest plan announces, per Service.
	mu      sync.Mutex
	desired map[string]serviceState
	// written is what the objects say, per Service; only run's goroutine
	// touches it.
	written map[string]serviceState
	// rewriting are the Services whose deleted ServiceL2Status is being
	// written again (rewriteMissing): this node never stopped announcing
	// them, so writing it is no takeover and deletes no other node's object
	// — in particular not the one a node with quorum wrote after taking the
	// address over from this one, cut off (see claims.go). Only run's
	// goroutine touches it.
	rewriting map[string]bool
	// reported holds the NoEligibleNode Event messages written, by Service;
	// only update's caller touches it.
	reported map[string]string
	// stopped is closed when run returns.
	stopped chan struct{}
}

// Status write retries: 100 ms after the first failure of a Service, doubling
// up to a minute.
const (
	statusRetryMin = 100 * time.Millisecond
	statusRetryMax = time.Minute
)

func newStatusWriter(clients *k8s.Clients, recorder record.EventRecorder, services corelisters.ServiceLister, namespace, node string, log *slog.Logger) *statusWriter {
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[string](statusRetryMin, statusRetryMax)
	return &statusWriter{clients: clients, recorder: recorder, services: services, namespace: namespace, node: node,
		nodeLabel: k8s.LabelValue(node), log: log,
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[string]{Name: "status"}),
		desired: map[string]serviceState{}, written: map[string]serviceState{}, rewriting: map[string]bool{}, reported: map[string]string{},
		stopped: make(chan struct{})}
}

// update hands over the latest plan: the Services whose state changed are
// queued for writing, and Services no node may announce get their Event.
// Only the speaker's loop calls it.
func (w *statusWriter) update(plan announce.Plan) {
	w.reportUnowned(plan.L2Unowned)
	next := desiredStates(plan)
	w.mu.Lock()
	prev := w.desired
	w.desired = next
	w.mu.Unlock()
	for key, want := range next {
		if !want.equal(prev[key]) {
			w.queue.Add(key)
		}
	}
	for key := range prev {
		if _, still := next[key]; !still {
			w.queue.Add(key)
		}
	}
}

func (a serviceState) equal(b serviceState) bool {
	return a.l2 == b.l2 && a.bgp == b.bgp && slices.Equal(a.interfaces, b.interfaces) && slices.Equal(a.peers, b.peers) &&
		maps.Equal(a.l2Election, b.l2Election)
}

// desiredStates returns, per Service, what the plan announces.
func desiredStates(plan announce.Plan) map[string]serviceState {
	out := map[string]serviceState{}
	for _, a := range plan.L2 {
		st := out[a.Service]
		st.l2 = true
		st.interfaces = a.Interfaces
		st.l2Election = explainElection(st.l2Election, a)
		out[a.Service] = st
	}
	for svc, adv := range plan.BGP.Services {
		st := out[svc]
		st.bgp = true
		st.peers = adv.Peers
		out[svc] = st
	}
	return out
}

// statusResources are the resources of the status objects, one per protocol.
var statusResources = []string{"servicel2statuses", "servicebgpstatuses"}

// run writes queued Services until ctx ends.
func (w *statusWriter) run(ctx context.Context) {
	defer close(w.stopped)
	go func() {
		<-ctx.Done()
		w.queue.ShutDown()
	}()
	w.adoptExisting(ctx)
	for key := range w.written {
		w.queue.Add(key) // deleted unless the plan still announces it
	}
	for w.processNext(ctx) {
	}
}

// processNext writes one queued Service; false once the queue shut down.
func (w *statusWriter) processNext(ctx context.Context) bool {
	key, shutdown := w.queue.Get()
	if shutdown {
		return false
	}
	defer w.queue.Done(key)
	callCtx, cancel := context.WithTimeout(ctx, loopCallTimeout)
	err := w.sync(callCtx, key)
	cancel()
	if err != nil {
		w.log.Warn("writing service status, will retry", "service", key, "retries", w.queue.NumRequeues(key), "err", err)
		w.queue.AddRateLimited(key)
		return true
	}
	w.queue.Forget(key)
	return true
}

// recheckKey, queued, has run compare this node's ServiceL2Status objects
// with what it wrote; it cannot be a Service's "namespace/name".
const recheckKey = "\x00recheck"

// recheckAfter is when the comparison is made once more, for a deletion
// that raced the first one.
const recheckAfter = 2 * time.Second

// recheck has this node's ServiceL2Status objects compared with what it
// wrote, now and once more a little later, and those missing written again.
// A node that takes an address over deletes the other nodes' objects for
// it; after a partition, or a member that saw a half-learnt member set for a
// moment, that deletes the object of an owner that never stopped owning the
// address, and which would otherwise never write it again.
func (w *statusWriter) recheck() {
	w.queue.Add(recheckKey)
	w.queue.AddAfter(recheckKey, recheckAfter)
}

// rewriteMissing lists this node's ServiceL2Status objects and queues, as
// not written, the Services whose object is missing.
func (w *statusWriter) rewriteMissing(ctx context.Context) error {
	var list struct {
		Items []metav1.PartialObjectMetadata `json:"items"`
	}
	raw, err := w.clients.MetalLBv1beta1.Get().Namespace(w.namespace).Resource("servicel2statuses").
		Param("labelSelector", LabelNode+"="+w.nodeLabel).DoRaw(ctx)
	if err == nil {
		err = json.Unmarshal(raw, &list)
	}
	if err != nil {
		return fmt.Errorf("listing the ServiceL2Status objects of this node: %w", err)
	}
	present := map[string]bool{}
	for _, item := range list.Items {
		present[item.Labels[LabelServiceNamespace]+"/"+item.Labels[LabelServiceName]] = true
	}
	for _, key := range missingL2(w.written, present) {
		w.log.Info("ServiceL2Status of an announced Service was deleted; writing it again", "service", key)
		st := w.written[key]
		st.l2 = false
		w.written[key] = st
		w.rewriting[key] = true
		w.queue.Add(key)
	}
	return nil
}

// missingL2 returns, sorted, the Services written with a ServiceL2Status
// that present (the objects found, by Service) lacks.
func missingL2(written map[string]serviceState, present map[string]bool) []string {
	var out []string
	for key, st := range written {
		if st.l2 && !present[key] {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out
}

// sync moves one Service's status objects to what the latest plan says.
func (w *statusWriter) sync(ctx context.Context, key string) error {
	if key == recheckKey {
		return w.rewriteMissing(ctx)
	}
	w.mu.Lock()
	want := w.desired[key]
	w.mu.Unlock()
	have := w.written[key]
	if want.equal(have) {
		return nil
	}
	if err := w.writeService(ctx, key, have, want); err != nil {
		return err
	}
	if want.equal(serviceState{}) {
		delete(w.written, key)
	} else {
		w.written[key] = want
	}
	return nil
}

// adoptExisting loads this node's status objects left by a previous run, so
// that those no longer true are deleted.
func (w *statusWriter) adoptExisting(ctx context.Context) {
	for _, resource := range statusResources {
		var list struct {
			Items []metav1.PartialObjectMetadata `json:"items"`
		}
		raw, err := w.clients.MetalLBv1beta1.Get().Namespace(w.namespace).Resource(resource).
			Param("labelSelector", LabelNode+"="+w.nodeLabel).DoRaw(ctx)
		if err == nil {
			err = json.Unmarshal(raw, &list)
		}
		if err != nil {
			w.log.Warn("listing status objects of this node", "resource", resource, "err", err)
			continue
		}
		for _, item := range list.Items {
			key := item.Labels[LabelServiceNamespace] + "/" + item.Labels[LabelServiceName]
			st := w.written[key]
			if resource == "servicel2statuses" {
				st.l2 = true
			} else {
				st.bgp = true // peers unknown: rewritten or deleted on the first write
			}
			w.written[key] = st
		}
	}
}

// writeService moves one Service's status objects from have to want.
func (w *statusWriter) writeService(ctx context.Context, key string, have, want serviceState) error {
	namespace, name, _ := cache.SplitMetaNamespaceKey(key)
	if want.l2 != have.l2 || !slices.Equal(want.interfaces, have.interfaces) || !maps.Equal(want.l2Election, have.l2Election) {
		if want.l2 {
			ifaces := make([]v1beta1.InterfaceInfo, len(want.interfaces))
			for i, n := range want.interfaces {
				ifaces[i] = v1beta1.InterfaceInfo{Name: n}
			}
			status := v1beta1.MetalLBServiceL2Status{Node: w.node, ServiceName: name, ServiceNamespace: namespace, Interfaces: ifaces}
			if err := w.put(ctx, "servicel2statuses", "ServiceL2Status", "l2", namespace, name, status); err != nil {
				return err
			}
			if err := w.annotateL2(ctx, namespace, name, want.l2Election); err != nil {
				return err
			}
			if !have.l2 && !w.rewriting[key] {
				if err := w.removeOtherL2(ctx, namespace, name); err != nil {
					return err
				}
				w.event(namespace, name, "layer2")
			}
			delete(w.rewriting, key)
		} else if err := w.remove(ctx, "servicel2statuses", "l2", namespace, name); err != nil {
			return err
		}
	}
	if want.bgp != have.bgp || !slices.Equal(want.peers, have.peers) {
		if want.bgp {
			status := v1beta1.MetalLBServiceBGPStatus{Node: w.node, ServiceName: name, ServiceNamespace: namespace, Peers: want.peers}
			if err := w.put(ctx, "servicebgpstatuses", "ServiceBGPStatus", "bgp", namespace, name, status); err != nil {
				return err
			}
			if !have.bgp {
				w.event(namespace, name, "bgp")
			}
		} else if err := w.remove(ctx, "servicebgpstatuses", "bgp", namespace, name); err != nil {
			return err
		}
	}
	return nil
}

func (w *statusWriter) event(namespace, name, protocol string) {
	svc, err := w.services.Services(namespace).Get(name)
	if err != nil {
		return
	}
	w.recorder.Eventf(svc, corev1.EventTypeNormal, ReasonNodeAssigned, "announcing from node %q with protocol %q", w.node, protocol)
}

// objectName is the status object's name: unique per node, Service and
// protocol, and a valid DNS label whatever the names' lengths.
func (w *statusWriter) objectName(prefix, namespace, name string) string {
	sum := sha256.Sum256([]byte(w.node + "/" + namespace + "/" + name))
	return prefix + "-" + hex.EncodeToString(sum[:10])
}

// put creates the status object if needed and writes its status.
func (w *statusWriter) put(ctx context.Context, resource, kind, prefix, namespace, name string, status any) error {
	objName := w.objectName(prefix, namespace, name)
	obj := map[string]any{
		"apiVersion": v1beta1.GroupVersion.String(),
		"kind":       kind,
		"metadata": map[string]any{
			"name": objName, "namespace": w.namespace,
			"labels": map[string]string{LabelNode: w.nodeLabel, LabelServiceName: name, LabelServiceNamespace: namespace},
		},
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	client := w.clients.MetalLBv1beta1
	err = client.Post().Namespace(w.namespace).Resource(resource).Body(body).Do(ctx).Error()
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %s %s: %w", kind, objName, err)
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	return client.Patch(types.MergePatchType).Namespace(w.namespace).Resource(resource).Name(objName).
		SubResource("status").Body(patch).Do(ctx).Error()
}

// withdraw deletes every status object of this node, once run has
// returned. A speaker that stops gracefully announces nothing any more, and
// a Service left with no other candidate must not keep naming this node (a
// successor writes its own objects).
func (w *statusWriter) withdraw(ctx context.Context) {
	select {
	case <-w.stopped:
	case <-ctx.Done():
		return
	}
	for _, resource := range statusResources {
		err := w.clients.MetalLBv1beta1.Delete().Namespace(w.namespace).Resource(resource).
			Param("labelSelector", LabelNode+"="+w.nodeLabel).Do(ctx).Error()
		if err != nil {
			w.log.Warn("deleting the status objects of this node", "resource", resource, "err", err)
		}
	}
}

// removeOtherL2 deletes the ServiceL2Status objects of a Service that
// other nodes left: one node announces a Service in layer 2, and a node that
// died or stopped cannot delete its own.
func (w *statusWriter) removeOtherL2(ctx context.Context, namespace, name string) error {
	var list struct {
		Items []metav1.PartialObjectMetadata `json:"items"`
	}
	raw, err := w.clients.MetalLBv1beta1.Get().Namespace(w.namespace).Resource("servicel2statuses").
		Param("labelSelector", LabelServiceName+"="+name+","+LabelServiceNamespace+"="+namespace).DoRaw(ctx)
	if err == nil {
		err = json.Unmarshal(raw, &list)
	}
	if err != nil {
		return fmt.Errorf("listing the ServiceL2Status objects of %s/%s: %w", namespace, name, err)
	}
	for _, objName := range othersObjects(list.Items, w.nodeLabel) {
		err := w.clients.MetalLBv1beta1.Delete().Namespace(w.namespace).Resource("servicel2statuses").Name(objName).Do(ctx).Error()
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting ServiceL2Status %s: %w", objName, err)
		}
	}
	return nil
}

// othersObjects returns the names of the status objects that belong to
// nodes other than the one labelled nodeLabel.
func othersObjects(items []metav1.PartialObjectMetadata, nodeLabel string) []string {
	var out []string
	for _, item := range items {
		if item.Labels[LabelNode] != nodeLabel {
			out = append(out, item.Name)
		}
	}
	return out
}

func (w *statusWriter) remove(ctx context.Context, resource, prefix, namespace, name string) error {
	err := w.clients.MetalLBv1beta1.Delete().Namespace(w.namespace).Resource(resource).
		Name(w.objectName(prefix, namespace, name)).Do(ctx).Error()
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// newConfigStateReporter returns the reporter of this speaker's
// ConfigurationState, owned by its Node so that it goes away with the node.
// It writes no Events: the controller writes them for the same errors.
func (s *Speaker) newConfigStateReporter(self *corev1.Node) *configstate.Reporter {
	r := configstate.NewReporter(s.clients.MetalLBv1beta1, s.opts.Namespace, configstate.SpeakerName(s.opts.NodeName), s.log)
	r.Labels = map[string]string{configstate.LabelComponent: configstate.ComponentSpeaker}
	r.Labels[configstate.LabelNode] = k8s.LabelValue(s.opts.NodeName)
	r.Owner = &metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: self.Name, UID: self.UID}
	return r
}
