// Package configstate makes a refused configuration visible outside the
// logs. Each component (the controller, every speaker) reports its verdict
// on the latest metallb.io configuration in a ConfigurationState object —
// result, error summary and conditions — and the controller writes a Warning
// Event on every object at fault, so that `kubectl describe ipaddresspool x`
// tells what is wrong with x.
//
// Status and Offenders are pure; Reporter writes their results.
package configstate

import (
	"errors"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
)

// Condition types of a ConfigurationState.
const (
	// ConditionValid is True when the latest configuration was loaded.
	ConditionValid = "ConfigurationValid"
	// ConditionStale is True while the latest configuration is refused and
	// the component keeps serving its last valid one: the
	// metallb_k8s_client_config_stale_bool metric as a condition.
	ConditionStale = "Stale"
	// ConditionBGPPeers is True when a speaker serves every BGPPeer that
	// selects its node as configured; False lists, one per line, the peers
	// it leaves out or serves in part, and why.
	ConditionBGPPeers = "BGPPeersApplied"
	// ConditionBFD is True when every BFD session of a speaker is Up; its
	// message lists them, one per line: BGPPeer, address, state and the
	// negotiated intervals. Absent when the node has no BFD session.
	ConditionBFD = "BFDSessionsUp"
)

// Condition reasons.
const (
	// ReasonLoaded: the latest configuration was loaded.
	ReasonLoaded = "Loaded"
	// ReasonConfigError: the latest configuration was refused.
	ReasonConfigError = "ConfigError"
	// ReasonServingLastValid: refused, and the last valid one keeps serving.
	ReasonServingLastValid = "ServingLastValid"
	// ReasonNeverLoaded: refused, and there is no valid one to fall back on.
	ReasonNeverLoaded = "NeverLoaded"
	// ReasonCurrent: the configuration served is the latest one.
	ReasonCurrent = "Current"
	// ReasonPeersApplied: every BGPPeer of the node is served.
	ReasonPeersApplied = "PeersApplied"
	// ReasonPeerProblems: some BGPPeer of the node is left out or served in part.
	ReasonPeerProblems = "PeerProblems"
	// ReasonBFDUp: every BFD session of the node is Up.
	ReasonBFDUp = "AllUp"
	// ReasonBFDNotUp: some BFD session of the node is not Up.
	ReasonBFDNotUp = "NotUp"
)

// ReasonInvalidConfiguration is the reason of the Warning Events written on
// the objects at fault.
const ReasonInvalidConfiguration = "InvalidConfiguration"

// Labels of ConfigurationState objects.
const (
	LabelComponent = "metallb.io/component-type"
	LabelNode      = "metallb.io/node-name"
)

// Component types, the values of LabelComponent.
const (
	ComponentController = "controller"
	ComponentSpeaker    = "speaker"
)

// ControllerName is the controller's ConfigurationState; SpeakerName names a
// speaker's.
const ControllerName = "controller"

// SpeakerName is the name of the ConfigurationState of node's speaker.
func SpeakerName(node string) string { return "speaker-" + node }

// maxMessage bounds a condition message (the API allows 32768 bytes).
const maxMessage = 32000

// Status returns the status reporting a build of the configuration that
// ended with err (nil: loaded), given whether a valid configuration was ever
// loaded and the current status: conditions whose status does not change keep
// their lastTransitionTime; those that change take now.
func Status(current v1beta1.ConfigurationStateStatus, err error, everLoaded bool, now time.Time) v1beta1.ConfigurationStateStatus {
	out := v1beta1.ConfigurationStateStatus{Conditions: slices.Clone(current.Conditions)}
	at := metav1.NewTime(now.Truncate(time.Second))
	valid := metav1.Condition{Type: ConditionValid, LastTransitionTime: at}
	stale := metav1.Condition{Type: ConditionStale, LastTransitionTime: at}
	switch {
	case err == nil:
		out.Result = v1beta1.ConfigurationValid
		valid.Status, valid.Reason, valid.Message = metav1.ConditionTrue, ReasonLoaded, "the latest configuration is loaded"
		stale.Status, stale.Reason, stale.Message = metav1.ConditionFalse, ReasonCurrent, "the latest configuration is served"
	default:
		out.Result = v1beta1.ConfigurationInvalid
		out.ErrorSummary = truncate(err.Error())
		valid.Status, valid.Reason, valid.Message = metav1.ConditionFalse, ReasonConfigError, out.ErrorSummary
		if everLoaded {
			stale.Status, stale.Reason, stale.Message = metav1.ConditionTrue, ReasonServingLastValid,
				"the latest configuration is refused; the last valid one keeps serving"
		} else {
			stale.Status, stale.Reason, stale.Message = metav1.ConditionFalse, ReasonNeverLoaded,
				"no valid configuration was ever loaded: nothing is assigned or announced"
		}
	}
	meta.SetStatusCondition(&out.Conditions, valid)
	meta.SetStatusCondition(&out.Conditions, stale)
	return out
}

// PeersCondition returns the ConditionBGPPeers of a speaker whose BGP peers
// have the given problems, one "BGPPeer name: problem" line each.
func PeersCondition(problems []string, now time.Time) metav1.Condition {
	c := metav1.Condition{Type: ConditionBGPPeers, LastTransitionTime: metav1.NewTime(now.Truncate(time.Second))}
	if len(problems) == 0 {
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, ReasonPeersApplied, "every BGPPeer selecting this node is applied"
		return c
	}
	c.Status, c.Reason, c.Message = metav1.ConditionFalse, ReasonPeerProblems, truncate(strings.Join(problems, "\n"))
	return c
}

// BFDReport is what a speaker tells of its BFD sessions: one line each
// (see ConditionBFD) and how many of them are not Up.
type BFDReport struct {
	Lines []string
	NotUp int
}

// BFDCondition returns the ConditionBFD of a speaker's BFD sessions; ok is
// false when it has none (the condition is then removed).
func BFDCondition(report BFDReport, now time.Time) (c metav1.Condition, ok bool) {
	if len(report.Lines) == 0 {
		return c, false
	}
	c = metav1.Condition{Type: ConditionBFD, Status: metav1.ConditionTrue, Reason: ReasonBFDUp,
		Message: truncate(strings.Join(report.Lines, "\n")), LastTransitionTime: metav1.NewTime(now.Truncate(time.Second))}
	if report.NotUp > 0 {
		c.Status, c.Reason = metav1.ConditionFalse, ReasonBFDNotUp
	}
	return c, true
}

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return s[:maxMessage] + "…"
}

// Offender is an object at fault and why, as the Event on it says.
type Offender struct {
	Object corev1.ObjectReference
	// Message is one "field: problem" per line.
	Message string
}

// Offenders groups the errors of err by object, in the order of the errors,
// and resolves each object's UID and API version from res (the objects the
// configuration was built from) so that the Events show in `kubectl
// describe`. Errors that name no object are left out: the ConfigurationState
// carries them.
func Offenders(err error, res config.Resources) []Offender {
	var errs config.Errors
	if !errors.As(err, &errs) {
		return nil
	}
	var out []Offender
	index := map[corev1.ObjectReference]int{}
	for _, e := range errs {
		if e.Kind == "" || e.Name == "" {
			continue
		}
		ref := corev1.ObjectReference{Kind: e.Kind, Namespace: e.Namespace, Name: e.Name}
		line := e.Message
		if e.Field != "" {
			line = e.Field + ": " + e.Message
		}
		if i, ok := index[ref]; ok {
			out[i].Message += "\n" + line
			continue
		}
		index[ref] = len(out)
		full := ref
		full.APIVersion, full.UID = lookup(res, ref)
		out = append(out, Offender{Object: full, Message: line})
	}
	for i := range out {
		out[i].Message = truncate(out[i].Message)
	}
	return out
}

// lookup returns the API version of ref's kind and, when res holds the
// object, its UID.
func lookup(res config.Resources, ref corev1.ObjectReference) (string, types.UID) {
	k, ok := config.KindNamed(ref.Kind)
	if !ok {
		return "", ""
	}
	for _, o := range k.Objects(&res) {
		if o.GetName() == ref.Name && (ref.Namespace == "" || o.GetNamespace() == ref.Namespace) {
			return k.APIVersion(), o.GetUID()
		}
	}
	return k.APIVersion(), ""
}

// summary is the text compared to tell whether the errors changed since the
// last report.
func summary(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}
