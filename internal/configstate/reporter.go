package configstate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/logging"
)

// resource is the plural of ConfigurationState in the API.
const resource = "configurationstates"

// retryAfter is how long the Reporter waits before writing again after the
// API server refused a write.
const retryAfter = 5 * time.Second

// Reporter keeps one component's ConfigurationState in line with the
// outcome of its latest configuration build and, when it has a Recorder,
// writes Warning Events on the objects at fault. It works off the caller's
// path: Report never blocks, and only the latest outcome is written.
type Reporter struct {
	// Client is a REST client for metallb.io/v1beta1.
	Client    rest.Interface
	Namespace string
	// Name and Labels of the ConfigurationState.
	Name   string
	Labels map[string]string
	// Owner, when set, owns the ConfigurationState (a speaker's Node, so
	// that its state goes away with the node).
	Owner *metav1.OwnerReference
	// Recorder, when set, receives one Warning Event per object at fault
	// each time the errors change. Only the controller sets it: the
	// speakers build the same configuration and would repeat its Events.
	Recorder record.EventRecorder
	Log      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Restored, set before Run, says that a valid configuration saved by an
	// earlier run serves until one is loaded: a refusal then reads
	// ServingLastValid, not NeverLoaded.
	Restored bool

	latest     chan outcome
	peers      chan []string
	bfd        chan BFDReport
	everLoaded bool
	// evented is the error summary Events were last written for.
	evented string
}

// outcome is one build of the configuration, the problems of the BGP peers
// (nil: not reported, so no BGPPeersApplied condition) and the BFD sessions
// (nil: not reported).
type outcome struct {
	err   error
	res   config.Resources
	peers []string
	bfd   *BFDReport
}

// NewReporter returns a Reporter of the ConfigurationState name in
// namespace; set Labels, Owner and Recorder before Run.
func NewReporter(client rest.Interface, namespace, name string, log *slog.Logger) *Reporter {
	return &Reporter{Client: client, Namespace: namespace, Name: name, Log: log, latest: make(chan outcome, 1), peers: make(chan []string, 1), bfd: make(chan BFDReport, 1)}
}

// Report hands over the outcome of a configuration build (err nil: loaded)
// and the objects it was built from, replacing one not yet written.
func (r *Reporter) Report(err error, res config.Resources) {
	o := outcome{err: err, res: res}
	for {
		select {
		case r.latest <- o:
			return
		default:
		}
		select {
		case <-r.latest:
		default:
		}
	}
}

// ReportPeers hands over the problems of a speaker's BGP peers, one
// "BGPPeer name: problem" line each (empty: none), replacing those not yet
// written. They are written with the latest configuration outcome.
func (r *Reporter) ReportPeers(problems []string) {
	if problems == nil {
		problems = []string{}
	}
	for {
		select {
		case r.peers <- problems:
			return
		default:
		}
		select {
		case <-r.peers:
		default:
		}
	}
}

// ReportBFD hands over a speaker's BFD sessions, replacing those not yet
// written. They are written with the latest configuration outcome.
func (r *Reporter) ReportBFD(report BFDReport) {
	for {
		select {
		case r.bfd <- report:
			return
		default:
		}
		select {
		case <-r.bfd:
		default:
		}
	}
}

// Run writes the outcomes handed to Report and ReportPeers until ctx is
// done, retrying a failed write until it succeeds or a newer outcome
// replaces it.
func (r *Reporter) Run(ctx context.Context) {
	var pending, last *outcome
	var peers []string
	var bfd *BFDReport
	r.everLoaded = r.everLoaded || r.Restored
	for {
		var retry <-chan time.Time
		if pending != nil {
			retry = time.After(retryAfter)
		}
		select {
		case <-ctx.Done():
			return
		case o := <-r.latest:
			o.peers, o.bfd = peers, bfd
			pending, last = &o, &o
		case peers = <-r.peers:
			if last == nil {
				continue // written with the first configuration outcome
			}
			o := *last
			o.peers = peers
			pending, last = &o, &o
		case report := <-r.bfd:
			bfd = &report
			if last == nil {
				continue
			}
			o := *last
			o.bfd = bfd
			pending, last = &o, &o
		case <-retry:
		}
		if err := r.write(ctx, *pending); err != nil {
			if ctx.Err() == nil {
				r.Log.Warn("writing the configuration state; retrying", "name", r.Namespace+"/"+r.Name, logging.KeyError, err)
			}
			continue
		}
		pending = nil
	}
}

// write brings the ConfigurationState and the Events in line with o.
func (r *Reporter) write(ctx context.Context, o outcome) error {
	if o.err == nil {
		r.everLoaded = true
	}
	state, err := r.get(ctx)
	if err != nil {
		return err
	}
	status := Status(state.Status, o.err, r.everLoaded, r.now())
	if o.peers != nil {
		meta.SetStatusCondition(&status.Conditions, PeersCondition(o.peers, r.now()))
	}
	if o.bfd != nil {
		if c, ok := BFDCondition(*o.bfd, r.now()); ok {
			meta.SetStatusCondition(&status.Conditions, c)
		} else {
			meta.RemoveStatusCondition(&status.Conditions, ConditionBFD)
		}
	}
	if !equality.Semantic.DeepEqual(status, state.Status) {
		state.Status = status
		if err := r.Client.Put().Namespace(r.Namespace).Resource(resource).Name(r.Name).SubResource("status").
			Body(state).Do(ctx).Into(state); err != nil {
			return fmt.Errorf("updating ConfigurationState %s/%s: %w", r.Namespace, r.Name, err)
		}
	}
	r.writeEvents(o, state)
	return nil
}

// get returns the ConfigurationState, creating it when it does not exist.
func (r *Reporter) get(ctx context.Context) (*v1beta1.ConfigurationState, error) {
	state := &v1beta1.ConfigurationState{}
	err := r.Client.Get().Namespace(r.Namespace).Resource(resource).Name(r.Name).Do(ctx).Into(state)
	if err == nil {
		return state, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading ConfigurationState %s/%s: %w", r.Namespace, r.Name, err)
	}
	state = &v1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, Labels: r.Labels}}
	if r.Owner != nil {
		state.OwnerReferences = []metav1.OwnerReference{*r.Owner}
	}
	created := &v1beta1.ConfigurationState{}
	if err := r.Client.Post().Namespace(r.Namespace).Resource(resource).Body(state).Do(ctx).Into(created); err != nil {
		return nil, fmt.Errorf("creating ConfigurationState %s/%s: %w", r.Namespace, r.Name, err)
	}
	return created, nil
}

// writeEvents writes one Warning Event per object at fault when the errors
// differ from the ones last evented; errors that name no object go on the
// ConfigurationState itself.
func (r *Reporter) writeEvents(o outcome, state *v1beta1.ConfigurationState) {
	text := summary(o.err)
	if r.Recorder == nil || text == r.evented {
		return
	}
	r.evented = text
	if o.err == nil {
		return
	}
	offenders := Offenders(o.err, o.res)
	for _, off := range offenders {
		ref := off.Object
		r.Recorder.Event(&ref, corev1.EventTypeWarning, ReasonInvalidConfiguration, "configuration refused: "+off.Message)
	}
	if len(offenders) == 0 {
		state.SetGroupVersionKind(v1beta1.GroupVersion.WithKind("ConfigurationState"))
		r.Recorder.Event(state, corev1.EventTypeWarning, ReasonInvalidConfiguration, truncate(text))
	}
}

func (r *Reporter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
