// Package speaker is the speaker's loop: it watches Services, EndpointSlices,
// Nodes, the configuration and the memberlist members, computes this node's
// plan with package announce, and applies the difference to the layer 2
// announcer and the BGP speaker. Every input change that the plan reads
// brings the plan up to date at the cost of what changed (an
// announce.Planner); changes arriving together are folded into one pass.
package speaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/configstate"
	"github.com/ironlb/ironlb/internal/election"
	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/layer2"
	"github.com/ironlb/ironlb/internal/members"
)

// Options configure a Speaker.
type Options struct {
	// NodeName is this node's Kubernetes name.
	NodeName string
	// Namespace holds the configuration and the memberlist Secret.
	Namespace string
	// LBClass is the loadBalancerClass handled ("" for Services without one).
	LBClass string
	// Memberlist enables fast failure detection; without it, membership
	// follows the Nodes' Ready condition (tens of seconds).
	Memberlist bool
	// MemberlistBind is the address gossip binds to; invalid means the
	// node's first InternalIP.
	MemberlistBind netip.Addr
	MemberlistPort int
	// StateDir keeps the last valid configuration across restarts; empty
	// keeps nothing.
	StateDir string
	// PodName is this speaker's pod (empty outside a pod). Its DaemonSet's
	// UID tells the memberlist keys this installation saved on the node
	// from those an uninstalled one left behind.
	PodName string
	// MemberlistSecretDir is where the memberlist Secret is mounted; its
	// keys are followed while the speaker runs (docs/layer2.md). Empty:
	// MemberlistSecret is the key.
	MemberlistSecretDir string
	// MemberlistSecret is the memberlist Secret's secretkey, fixed for the
	// process's life; nil without MemberlistSecretDir reads the Secret from
	// the API once.
	MemberlistSecret []byte
	// MemberlistTiming overrides members.DefaultConfig's timing (zero fields
	// keep the defaults).
	MemberlistTiming members.Config
	// Metrics receive what the speaker does.
	Metrics Metrics
}

// Speaker announces this node's share of the LoadBalancer addresses.
type Speaker struct {
	opts     Options
	clients  *k8s.Clients
	recorder record.EventRecorder
	log      *slog.Logger

	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	// installation is the speaker DaemonSet's UID, "" when unknown
	// (installationOf), set before memberlist starts.
	installation string
	// speakerPods lists the speaker pods (memberlist only), counted for
	// the quorum.
	speakerPods corelisters.PodLister
	endpoints   cache.Indexer
	// translated is the plan's view of the Services, kept up to date
	// Service by Service.
	translated *serviceCache

	members   *members.List
	announcer *layer2.Announcer
	bgpState  bgpApply
	// elector is shared by the plans, for its cache of balancing tables.
	elector *election.Elector
	status  *statusWriter
	// claims are the Services other nodes announce, read while this node
	// answers addresses without quorum.
	claims claims
	// interfaces remembers departed speakers' interfaces (used by
	// reconcile only).
	interfaces interfaceMemory
	// configState reports this speaker's ConfigurationState.
	configState *configstate.Reporter
	// bfdReported is the BFD report last handed to configState (used by
	// pollBGPStatus only).
	bfdReported *configstate.BFDReport

	cfg     *config.Config
	planned plannerInputs
	applied announce.Plan
	changed chan struct{}

	// pendingSince is when the oldest change not yet applied arrived: it
	// times announcements and failovers for the metrics. lastMembers is the
	// memberlist member count last seen.
	pendingMu    sync.Mutex
	pendingSince time.Time
	lastMembers  int
	// contextChanged is set when something other than a Service or its
	// endpoints changed since the last plan: a Node, the members, the
	// configuration.
	contextChanged bool
	// reannounce is set when the membership changed or the others declared
	// this node dead since the last plan: every kept address is announced
	// again.
	reannounce bool
	bgpMetrics *bgpSessions

	// running is set once the speaker watches the cluster and announces;
	// settled once its first plan is applied and its BGP sessions have its
	// routes (bgpSettled).
	running atomic.Bool
	settled atomic.Bool
	// loop is the main loop's watchdog, read by Healthy.
	loop watchdog
	// runDone is Run's ctx.Done(): what outlives one plan stops with it.
	runDone <-chan struct{}
}

// Healthy reports whether the main loop makes progress (for /healthz).
func (s *Speaker) Healthy() error {
	return s.loop.healthy(time.Now())
}

// Ready reports whether the speaker is up: caches synced, responders
// started, a valid configuration applied, the memberlist cluster joined,
// the first plan applied and its BGP routes given to the peers (bgpSettled).
func (s *Speaker) Ready() error {
	if !s.running.Load() {
		return errors.New("speaker starting")
	}
	if !s.settled.Load() {
		return errors.New("speaker starting: BGP sessions not settled")
	}
	return nil
}

// checkSettled latches settled once the first plan is applied and the BGP
// sessions are settled; it says whether to check again.
func (s *Speaker) checkSettled(started time.Time) bool {
	var statuses []bgp.PeerStatus
	if s.bgpState.speaker != nil {
		statuses = s.bgpState.speaker.Status()
	}
	ok, why := bgpSettled(statuses, time.Since(started))
	if !ok {
		return true
	}
	if why != "" {
		s.log.Warn("reporting Ready", "reason", why)
	}
	s.settled.Store(true)
	return false
}

// endpointsByService indexes EndpointSlices by "namespace/service".
const endpointsByService = "service"

// New returns a Speaker; Run starts it.
func New(clients *k8s.Clients, recorder record.EventRecorder, log *slog.Logger, opts Options) *Speaker {
	return &Speaker{
		opts:       opts,
		clients:    clients,
		recorder:   recorder,
		log:        log.With("node", opts.NodeName),
		elector:    election.NewElector(),
		interfaces: interfaceMemory{},
		translated: newServiceCache(),
		changed:    make(chan struct{}, 1),
		bgpMetrics: newBGPSessions(opts.Metrics.BGP),
	}
}

// signal asks for a new plan; contextChanged says that something other than
// a Service or its endpoints changed, so that every Service must be planned
// again even if none changed.
func (s *Speaker) signal(contextChanged bool) {
	s.pendingMu.Lock()
	if s.pendingSince.IsZero() {
		s.pendingSince = time.Now()
	}
	s.contextChanged = s.contextChanged || contextChanged
	s.pendingMu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// nodeUpdated asks for a plan when a Node changed in a way the plan reads.
func (s *Speaker) nodeUpdated(old, updated any) {
	before, okBefore := old.(*corev1.Node)
	after, okAfter := updated.(*corev1.Node)
	if !okBefore || !okAfter || nodeChangesPlan(before, after) {
		s.signal(true)
	}
}

// Run announces until ctx is done, then leaves gracefully: it leaves the
// memberlist cluster (so another node takes over at once), stops answering and
// withdraws its BGP routes. It joins the memberlist cluster only once it can
// answer: caches synced, responders started, first valid configuration.
func (s *Speaker) Run(ctx context.Context) error {
	s.runDone = ctx.Done()
	factory := informers.NewSharedInformerFactoryWithOptions(s.clients.Kube, 0, informers.WithTransform(trimForSpeaker))
	svcInformer := factory.Core().V1().Services().Informer()
	nodeInformer := factory.Core().V1().Nodes().Informer()
	epInformer := factory.Discovery().V1().EndpointSlices().Informer()
	if err := epInformer.AddIndexers(cache.Indexers{endpointsByService: indexByService}); err != nil {
		return err
	}
	nodeNotify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.signal(true) },
		UpdateFunc: s.nodeUpdated,
		DeleteFunc: func(any) { s.signal(true) },
	}
	// A Service, or one of its EndpointSlices, changed: translate it again.
	serviceChanged := func(objs ...any) {
		for _, obj := range objs {
			s.translated.invalidate(serviceKeysOf(obj)...)
		}
		s.signal(false)
	}
	serviceNotify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { serviceChanged(obj) },
		UpdateFunc: func(old, obj any) { serviceChanged(old, obj) },
		DeleteFunc: func(obj any) { serviceChanged(obj) },
	}
	for _, h := range []struct {
		informer cache.SharedIndexInformer
		handler  cache.ResourceEventHandler
	}{{svcInformer, serviceNotify}, {epInformer, serviceNotify}, {nodeInformer, nodeNotify}} {
		if _, err := h.informer.AddEventHandler(h.handler); err != nil {
			return err
		}
	}
	s.services = factory.Core().V1().Services().Lister()
	s.nodes = factory.Core().V1().Nodes().Lister()
	s.endpoints = epInformer.GetIndexer()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	self, err := s.nodes.Get(s.opts.NodeName)
	if err != nil {
		return fmt.Errorf("node %q: %w", s.opts.NodeName, err)
	}

	s.announcer = layer2.New(layer2.Config{
		Logger:   s.log.With("component", "layer2"),
		Counters: layer2Counters{s.opts.Metrics.Layer2},
	})
	announcerDone := make(chan error, 1)
	go func() { announcerDone <- s.announcer.Run(ctx) }()
	lastGood, err := loadLastGood(s.opts.StateDir)
	if err != nil {
		s.log.Warn("the last valid configuration of the previous run is not usable", "err", err)
	}
	states := s.newConfigStateReporter(self)
	if lastGood != nil {
		states.Restored = true
		s.opts.Metrics.Client.ConfigRestored()
	}
	s.configState = states
	go states.Run(ctx)
	updates := make(chan k8s.ConfigUpdate)
	watcher := k8s.NewConfigWatcher(s.clients, s.opts.Namespace)
	go func() {
		if err := watcher.Run(ctx, updates); err != nil {
			s.log.Error("configuration watch stopped", "err", err)
		}
	}()

	// Other speakers hand addresses to a member at once: join only when
	// this node can answer for them.
	cfg, err := awaitReadyToAnswer(ctx, s.announcer.Started(), announcerDone, updates, func(u k8s.ConfigUpdate) { s.configUpdated(states, u) }, lastGood)
	if err != nil || ctx.Err() != nil {
		return err
	}
	s.cfg = cfg
	if s.opts.Memberlist {
		pods, synced, err := s.watchSpeakerPods(ctx)
		if err != nil {
			return err
		}
		if !cache.WaitForCacheSync(ctx.Done(), synced) {
			return ctx.Err()
		}
		s.speakerPods = pods
		if err := s.startMembers(ctx, self); err != nil {
			return err
		}
		defer s.members.Shutdown()
	}
	s.status = newStatusWriter(s.clients, s.recorder, s.services, s.opts.Namespace, s.opts.NodeName, s.log)
	go s.status.run(ctx)
	s.running.Store(true)
	s.signal(true)

	// lastCost is how long the last plan took, lastEnd when it ended.
	var (
		lastCost time.Duration
		lastEnd  time.Time
	)
	heartbeat := time.NewTicker(heartbeatInterval)
	defer heartbeat.Stop()
	// settleCheck ticks until Ready no longer waits for BGP.
	started, settleCheck, planned := time.Now(), time.NewTicker(bgpSettleCheck), false
	defer settleCheck.Stop()
	for {
		s.loop.beat(time.Now())
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case <-heartbeat.C:
		case <-settleCheck.C:
			if planned && !s.checkSettled(started) {
				settleCheck.Stop()
			}
		case err := <-announcerDone:
			if ctx.Err() == nil {
				return fmt.Errorf("layer 2 announcer: %w", err)
			}
		case u := <-updates:
			if s.configUpdated(states, u) {
				s.cfg = u.Config
				s.signal(true)
			}
		case <-s.changed:
			if wait := coalesceWait(lastCost, time.Since(lastEnd)); wait > 0 {
				select {
				case <-ctx.Done():
					s.shutdown()
					return nil
				case <-time.After(wait):
				}
				// Changes signalled meanwhile are in this plan.
				select {
				case <-s.changed:
				default:
				}
			}
			start := time.Now()
			s.reconcile(ctx)
			planned = true
			lastEnd = time.Now()
			lastCost = lastEnd.Sub(start)
		}
	}
}

// Planning takes at most a quarter of the speaker's time: after a plan that
// took d, the next one waits until 3d have passed, at most maxCoalesceWait.
const (
	coalesceFactor  = 3
	maxCoalesceWait = time.Second
)

// coalesceWait is how long to wait before planning again, given how long
// the last plan took and how long ago it ended, so that in a burst of
// changes (thousands of Services written at once) each plan covers many
// changes and leaves CPU to the rest of the node. A change after a quiet
// spell is planned at once.
func coalesceWait(lastCost, sinceLast time.Duration) time.Duration {
	return max(0, min(coalesceFactor*lastCost, maxCoalesceWait)-sinceLast)
}

// snapshot gathers the plan's inputs from the caches, Services aside (the
// planner has them).
func (s *Speaker) snapshot() *announce.Snapshot {
	snap := &announce.Snapshot{Config: s.cfg, Self: s.opts.NodeName, Nodes: map[string]announce.Node{}, Members: map[string]bool{}}
	metaByNode := map[string][]byte{}
	pods := s.listSpeakerPods()
	if s.members != nil {
		for _, m := range s.members.Members() {
			snap.Members[m.Name] = true
			metaByNode[m.Name] = m.Meta
		}
		snap.Members = liveMembers(snap.Members, pods)
	}
	nodes, _ := s.nodes.List(labels.Everything())
	names := make([]string, len(nodes))
	for i, node := range nodes {
		names[i] = node.Name
	}
	interfaces := s.interfaces.interfacesOf(names, metaByNode)
	for _, node := range nodes {
		snap.Nodes[node.Name] = nodeFor(node, interfaces[node.Name])
		if s.members == nil && nodeReady(node) {
			snap.Members[node.Name] = true
		}
	}
	snap.Quorum = s.quorum(snap.Members, pods)
	snap.Answering = answering(s.applied)
	snap.ClaimedElsewhere = s.claims.snapshot()
	return snap
}

// replan brings the plan up to date with snap: every Service is planned
// again when the configuration or a Node (labels, addresses, interfaces)
// changed, else only the Services that changed, and the Services whose
// layer 2 owner a membership change can move.
func (s *Speaker) replan(snap *announce.Snapshot, changedServices []string) announce.Plan {
	p := &s.planned
	if p.planner == nil || p.config != snap.Config || !announce.SameNodes(p.nodes, snap.Nodes) {
		snap.Services = s.translated.all()
		*p = plannerInputs{planner: announce.NewPlanner(snap, s.elector), config: snap.Config, nodes: snap.Nodes, members: snap.Members}
		return p.planner.Plan()
	}
	for _, key := range changedServices {
		if svc, ok := s.translated.get(key); ok {
			p.planner.UpdateService(svc)
		} else {
			p.planner.DeleteService(key)
		}
	}
	if !maps.Equal(p.members, snap.Members) {
		p.planner.SetMembers(snap.Members, snap.Quorum)
		p.members = snap.Members
	}
	p.planner.SetQuorum(snap.Quorum, snap.Answering, snap.ClaimedElsewhere)
	return p.planner.Plan()
}

// plannerInputs is the speaker's Planner and what it was last told of the
// configuration, the Nodes and the members.
type plannerInputs struct {
	planner *announce.Planner
	config  *config.Config
	nodes   map[string]announce.Node
	members map[string]bool
}

// translateService reads a Service and its EndpointSlices from the caches
// and translates them for the plan; false means the Service is gone or not
// one this speaker announces (another class, no address yet).
func (s *Speaker) translateService(key string) (announce.Service, bool) {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return announce.Service{}, false
	}
	svc, err := s.services.Services(namespace).Get(name)
	if err != nil || !k8s.IsOurs(svc, s.opts.LBClass) || len(svc.Status.LoadBalancer.Ingress) == 0 {
		return announce.Service{}, false
	}
	items, _ := s.endpoints.ByIndex(endpointsByService, key)
	endpointSlices := make([]*discoveryv1.EndpointSlice, 0, len(items))
	for _, item := range items {
		if slice, ok := item.(*discoveryv1.EndpointSlice); ok {
			endpointSlices = append(endpointSlices, slice)
		}
	}
	return serviceFor(svc, endpointSlices), true
}

// indexByService keys an EndpointSlice by the Service it belongs to.
func indexByService(obj any) ([]string, error) {
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := slice.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{slice.Namespace + "/" + name}, nil
}

// reconcile computes the plan and applies what changed.
func (s *Speaker) reconcile(ctx context.Context) {
	s.pendingMu.Lock()
	since, contextChanged, reannounce := s.pendingSince, s.contextChanged, s.reannounce
	s.pendingSince, s.contextChanged, s.reannounce = time.Time{}, false, false
	s.pendingMu.Unlock()
	if since.IsZero() {
		since = time.Now()
	}
	changedServices := s.translated.refresh(s.translateService)
	if !contextChanged && len(changedServices) == 0 {
		return // nothing the plan depends on changed
	}

	snap := s.snapshot()
	// A member left: its addresses taken over now are a failover.
	membersLeft := memberLeft(s.planned.members, snap.Members)
	plan := s.replan(snap, changedServices)
	s.applyL2(plan.L2)
	s.claims.setCutOff(!snap.Quorum.Held() && len(plan.L2) > 0)
	if again := announce.Reannounce(s.applied.L2, plan.L2, reannounce); len(again) > 0 {
		s.log.Info("announcing kept addresses again after a membership change", "addresses", len(again))
		s.announcer.Reannounce(again)
		s.status.recheck()
	}
	self, _ := s.nodes.Get(s.opts.NodeName)
	reportQuorum(s.log, s.recorder, self, s.opts.MemberlistPort, snap.Quorum, s.applied.L2WithoutQuorum, plan.L2WithoutQuorum)
	callCtx, cancel := context.WithTimeout(ctx, loopCallTimeout)
	plan.BGP = s.applyBGP(callCtx, plan.BGP)
	cancel()
	s.opts.Metrics.recordTakeovers(s.applied.L2, plan.L2, since, membersLeft)
	s.opts.Metrics.recordBGPAnnouncements(s.applied.BGP, plan.BGP, since)
	s.opts.Metrics.Speaker.SetAnnounced(announcedList(plan))
	s.applied = plan
	s.status.update(plan)
	s.opts.Metrics.Client.UpdateProcessed(nil)
}

func (s *Speaker) applyL2(desired []announce.L2Announcement) {
	if slices.EqualFunc(desired, s.applied.L2, func(a, b announce.L2Announcement) bool {
		return a.IP == b.IP && a.Service == b.Service && slices.Equal(a.Interfaces, b.Interfaces)
	}) {
		return
	}
	anns := make([]layer2.Announcement, len(desired))
	for i, a := range desired {
		anns[i] = layer2.Announcement{IP: a.IP, Interfaces: a.Interfaces}
	}
	s.announcer.SetOwned(anns)
	logOwnershipChanges(s.log, s.applied.L2, desired)
}

// logOwnershipChanges writes one line per address taken over or given up.
func logOwnershipChanges(log *slog.Logger, before, after []announce.L2Announcement) {
	had := map[netip.Addr]string{}
	for _, a := range before {
		had[a.IP] = a.Service
	}
	has := map[netip.Addr]bool{}
	for _, a := range after {
		has[a.IP] = true
		if _, ok := had[a.IP]; !ok {
			log.Info("announcing address in layer 2", "service", a.Service, "ip", a.IP, "anyInterface", a.AnyInterface)
		}
	}
	for ip, svc := range had {
		if !has[ip] {
			log.Info("stopped announcing address in layer 2", "service", svc, "ip", ip)
		}
	}
}

// pollBGPStatus refreshes the BGP and BFD metrics that change without a
// state change: prefixes advertised, UPDATEs sent, BFD packets and events;
// and the BFD sessions in the ConfigurationState, whose negotiated
// intervals change without a state change too (Poll Sequences).
func (s *Speaker) pollBGPStatus(stop <-chan struct{}) {
	ticker := time.NewTicker(2 * time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			s.bgpMetrics.observe(s.bgpState.speaker.Status()...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if sessions, err := s.bgpState.speaker.BFDStatus(ctx); err == nil {
				s.opts.Metrics.BFD.Set(bfdSnapshot(sessions))
				s.reportBFD(sessions)
			}
			cancel()
		}
	}
}

// Each step of the graceful stop has its own deadline, so that a stuck
// step (an unreachable API server, a peer that never answers) delays the
// stop by at most its share.
const (
	leaveTimeout    = time.Second     // memberlist Leave: one gossip round, ~10 ms normally
	bgpCloseTimeout = 2 * time.Second // withdrawals, Cease and the sessions closing
	withdrawTimeout = 2 * time.Second // deleting this node's status objects
)

// StopBudget is the longest a graceful stop (SIGTERM until the process
// exits) takes: the sum of its steps' deadlines plus stopExitSlack for what
// follows them (memberlist and informer shutdown, flushing Events). The
// speaker DaemonSet's terminationGracePeriodSeconds must cover it, or the
// kubelet SIGKILLs a speaker in the middle of its stop (manifests'
// TestSpeakerDaemonSet checks it).
const StopBudget = leaveTimeout + bgpCloseTimeout + withdrawTimeout + stopExitSlack

// stopExitSlack bounds what runs after shutdown returns.
const stopExitSlack = time.Second

// shutdown leaves gracefully, quickest handover first, and then deletes
// the status objects that said what this node announced. Routes to
// graceful-restart peers stay with their routers when a new speaker is
// expected on this node (closeBGP). It stops
// answering ARP/NDP before it leaves, so that at no time two nodes answer
// for one IP: for the one gossip round until the successor takes over
// (about 10 ms) nobody answers, which clients' neighbour caches and
// retries absorb. It takes at most StopBudget minus stopExitSlack.
func (s *Speaker) shutdown() {
	start := time.Now()
	s.announcer.SetOwned(nil)
	if s.members != nil {
		if err := s.members.Leave(leaveTimeout); err != nil {
			s.log.Warn("leaving memberlist", "err", err)
		}
	}
	left := time.Since(start)
	if s.bgpState.speaker != nil {
		s.closeBGP()
	}
	closed := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), withdrawTimeout)
	defer cancel()
	s.status.withdraw(ctx)
	s.log.Info("speaker stopped", "left", left.Round(time.Millisecond), "bgpClosed", closed.Round(time.Millisecond),
		"took", time.Since(start).Round(time.Millisecond), "budget", StopBudget)
}

// closeBGP ends the BGP sessions: when a restart of the speaker on this node
// is expected (restartFollows), the sessions to graceful-restart peers end
// with the process and their routers keep the routes as stale until the next
// speaker renews them; every other session is withdrawn and closed with a
// Cease.
func (s *Speaker) closeBGP() {
	ctx, cancel := context.WithTimeout(context.Background(), bgpCloseTimeout)
	defer cancel()
	var node *corev1.Node
	if s.nodes != nil {
		node, _ = s.nodes.Get(s.opts.NodeName)
	}
	restart, why := restartFollows(node)
	var err error
	if restart {
		err = s.bgpState.speaker.CloseForRestart(ctx)
	} else {
		s.log.Info("no speaker restart expected on this node: withdrawing every BGP route", "reason", why)
		err = s.bgpState.speaker.Close(ctx)
	}
	if err != nil && !errors.Is(err, bgp.ErrClosed) {
		s.log.Warn("closing BGP sessions", "err", err)
	}
}
