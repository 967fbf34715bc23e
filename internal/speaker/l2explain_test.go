package speaker

import (
	"maps"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/election"
	"github.com/ironlb/ironlb/internal/k8s"
)

func TestDesiredStatesExplainTheElection(t *testing.T) {
	plan := announce.Plan{L2: []announce.L2Announcement{
		{IP: netip.MustParseAddr("192.0.2.1"), Service: "default/web",
			Rejected: []election.Rejection{{Node: "b", Reason: election.NoInterface}, {Node: "c", Reason: election.NotMember}}},
		{IP: netip.MustParseAddr("203.0.113.1"), Service: "default/far", AnyInterface: true},
	}}
	got := desiredStates(plan)
	want := map[string]map[string]string{
		"default/web": {k8s.AnnotationL2Rule: k8s.L2RuleSubnet, k8s.AnnotationL2NotEligible: "NotMember: c; NoInterface: b"},
		"default/far": {k8s.AnnotationL2Rule: k8s.L2RuleAnyInterface, k8s.AnnotationL2NotEligible: ""},
	}
	for svc, annotations := range want {
		if !maps.Equal(got[svc].l2Election, annotations) {
			t.Errorf("%s: annotations %v, want %v", svc, got[svc].l2Election, annotations)
		}
	}
}

func TestReportUnownedWritesOneEventPerExplanation(t *testing.T) {
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	indexer.Add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}})
	recorder := record.NewFakeRecorder(10)
	w := &statusWriter{recorder: recorder, services: corelisters.NewServiceLister(indexer), reported: map[string]string{}}
	ip := netip.MustParseAddr("192.0.2.1")
	noEndpoints := []announce.L2Unowned{{IP: ip, Service: "default/web", Rejected: []election.Rejection{{Node: "a", Reason: election.NoEndpoints}}}}
	notMember := []announce.L2Unowned{{IP: ip, Service: "default/web", Rejected: []election.Rejection{{Node: "a", Reason: election.NotMember}}}}

	steps := []struct {
		unowned []announce.L2Unowned
		want    string // the Event written, "" for none
	}{
		{noEndpoints, "Warning NoEligibleNode no node may announce 192.0.2.1 in layer 2: NoEndpoints: a"},
		{noEndpoints, ""},
		{notMember, "Warning NoEligibleNode no node may announce 192.0.2.1 in layer 2: NotMember: a"},
		{nil, ""},
		{notMember, "Warning NoEligibleNode no node may announce 192.0.2.1 in layer 2: NotMember: a"},
	}
	for i, step := range steps {
		w.reportUnowned(step.unowned)
		got := ""
		select {
		case got = <-recorder.Events:
		default:
		}
		if got != step.want {
			t.Errorf("step %d: event %q, want %q", i, got, step.want)
		}
	}
}
