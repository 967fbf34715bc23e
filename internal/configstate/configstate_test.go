package configstate

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
	"github.com/ironlb/ironlb/internal/config"
)

var (
	t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 = t0.Add(time.Minute)
)

var overlap = config.Errors{{
	Kind: config.KindIPAddressPool, Namespace: "metallb-system", Name: "b",
	Field: "spec.addresses[0]", Message: "192.168.10.128-192.168.10.200 overlaps 192.168.10.0-192.168.10.255 of IPAddressPool a (spec.addresses[0])",
}}

type cond struct {
	status metav1.ConditionStatus
	reason string
	at     time.Time
}

func conditions(s v1beta1.ConfigurationStateStatus) map[string]cond {
	out := map[string]cond{}
	for _, c := range s.Conditions {
		out[c.Type] = cond{c.Status, c.Reason, c.LastTransitionTime.Time}
	}
	return out
}

func TestStatus(t *testing.T) {
	loaded := Status(v1beta1.ConfigurationStateStatus{}, nil, true, t0)
	tests := []struct {
		name       string
		current    v1beta1.ConfigurationStateStatus
		err        error
		everLoaded bool
		result     v1beta1.ConfigurationResult
		summary    string
		want       map[string]cond
	}{
		{
			name: "first configuration loaded", err: nil, everLoaded: true,
			result: v1beta1.ConfigurationValid,
			want: map[string]cond{
				ConditionValid: {metav1.ConditionTrue, ReasonLoaded, t1},
				ConditionStale: {metav1.ConditionFalse, ReasonCurrent, t1},
			},
		},
		{
			name: "refused before any valid one: invalid, not stale", err: overlap, everLoaded: false,
			result: v1beta1.ConfigurationInvalid, summary: overlap.Error(),
			want: map[string]cond{
				ConditionValid: {metav1.ConditionFalse, ReasonConfigError, t1},
				ConditionStale: {metav1.ConditionFalse, ReasonNeverLoaded, t1},
			},
		},
		{
			name: "refused after a valid one: stale", current: loaded, err: overlap, everLoaded: true,
			result: v1beta1.ConfigurationInvalid, summary: overlap.Error(),
			want: map[string]cond{
				ConditionValid: {metav1.ConditionFalse, ReasonConfigError, t1},
				ConditionStale: {metav1.ConditionTrue, ReasonServingLastValid, t1},
			},
		},
		{
			name: "still valid: transition times kept", current: loaded, err: nil, everLoaded: true,
			result: v1beta1.ConfigurationValid,
			want: map[string]cond{
				ConditionValid: {metav1.ConditionTrue, ReasonLoaded, t0},
				ConditionStale: {metav1.ConditionFalse, ReasonCurrent, t0},
			},
		},
		{
			name: "error that names no object", current: loaded, err: errors.New("listing bgppeers: forbidden"), everLoaded: true,
			result: v1beta1.ConfigurationInvalid, summary: "listing bgppeers: forbidden",
			want: map[string]cond{
				ConditionValid: {metav1.ConditionFalse, ReasonConfigError, t1},
				ConditionStale: {metav1.ConditionTrue, ReasonServingLastValid, t1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.current.DeepCopy()
			got := Status(tt.current, tt.err, tt.everLoaded, t1)
			if got.Result != tt.result || got.ErrorSummary != tt.summary {
				t.Errorf("result %q summary %q, want %q %q", got.Result, got.ErrorSummary, tt.result, tt.summary)
			}
			if c := conditions(got); !reflect.DeepEqual(c, tt.want) {
				t.Errorf("conditions %+v, want %+v", c, tt.want)
			}
			if msg := meta.FindStatusCondition(got.Conditions, ConditionValid).Message; tt.err != nil && msg != tt.summary {
				t.Errorf("ConfigurationValid message %q, want the errors", msg)
			}
			if !reflect.DeepEqual(before, &tt.current) {
				t.Error("Status changed its input")
			}
		})
	}
}

func TestStatusBoundsTheSummary(t *testing.T) {
	huge := errors.New(strings.Repeat("x", 40000))
	got := Status(v1beta1.ConfigurationStateStatus{}, huge, true, t0)
	if len(got.ErrorSummary) > maxMessage+len("…") || !strings.HasSuffix(got.ErrorSummary, "…") {
		t.Errorf("summary of %d bytes not cut: %d bytes", len(huge.Error()), len(got.ErrorSummary))
	}
}

func TestOffenders(t *testing.T) {
	res := config.Resources{
		Pools: []v1beta1.IPAddressPool{
			{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "metallb-system", UID: "uid-a"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "metallb-system", UID: "uid-b"}},
		},
		L2Advertisements: []v1beta1.L2Advertisement{{ObjectMeta: metav1.ObjectMeta{Name: "l2", Namespace: "metallb-system", UID: "uid-l2"}}},
		Peers:            []v1beta2.BGPPeer{{ObjectMeta: metav1.ObjectMeta{Name: "router", Namespace: "metallb-system", UID: "uid-router"}}},
	}
	errs := config.Errors{
		{Kind: config.KindIPAddressPool, Namespace: "metallb-system", Name: "b", Field: "spec.addresses[0]", Message: "overlaps a"},
		{Kind: config.KindIPAddressPool, Namespace: "metallb-system", Name: "b", Field: "spec.addresses[1]", Message: "not an address"},
		{Kind: config.KindL2Advertisement, Namespace: "metallb-system", Name: "l2", Field: "spec.ipAddressPools[0]", Message: "no IPAddressPool gone"},
		{Kind: config.KindBGPPeer, Namespace: "metallb-system", Name: "router", Message: "BFD is not supported"},
		{Kind: config.KindBGPAdvertisement, Namespace: "metallb-system", Name: "deleted-meanwhile", Field: "spec.peers[0]", Message: "no BGPPeer x"},
	}
	want := []Offender{
		{Object: corev1.ObjectReference{Kind: "IPAddressPool", APIVersion: "metallb.io/v1beta1", Namespace: "metallb-system", Name: "b", UID: "uid-b"},
			Message: "spec.addresses[0]: overlaps a\nspec.addresses[1]: not an address"},
		{Object: corev1.ObjectReference{Kind: "L2Advertisement", APIVersion: "metallb.io/v1beta1", Namespace: "metallb-system", Name: "l2", UID: "uid-l2"},
			Message: "spec.ipAddressPools[0]: no IPAddressPool gone"},
		{Object: corev1.ObjectReference{Kind: "BGPPeer", APIVersion: "metallb.io/v1beta2", Namespace: "metallb-system", Name: "router", UID: "uid-router"},
			Message: "BFD is not supported"},
		{Object: corev1.ObjectReference{Kind: "BGPAdvertisement", APIVersion: "metallb.io/v1beta1", Namespace: "metallb-system", Name: "deleted-meanwhile"},
			Message: "spec.peers[0]: no BGPPeer x"},
	}
	if got := Offenders(errs, res); !reflect.DeepEqual(got, want) {
		t.Errorf("Offenders:\n got %+v\nwant %+v", got, want)
	}
	if got := Offenders(errors.New("listing pools: timeout"), res); got != nil {
		t.Errorf("an error naming no object gave offenders %+v", got)
	}
	if got := Offenders(nil, res); got != nil {
		t.Errorf("no error gave offenders %+v", got)
	}
}
