package speaker

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/election"
)

const replanConfig = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [192.0.2.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec: {ipAddressPools: [lan]}
`

// TestReplanPlansWhatChanged drives the speaker's planning through its
// events and checks, with the planner's counters, how much each plans
// again, and that each plan is the plan of the snapshot computed afresh.
func TestReplanPlansWhatChanged(t *testing.T) {
	cfg := mustConfig(t, replanConfig)
	world := map[string]announce.Service{}
	s := &Speaker{translated: newServiceCache(), elector: election.NewElector()}
	nodes := map[string]announce.Node{}
	members := map[string]bool{}
	for i := range 5 {
		name := fmt.Sprintf("node%d", i)
		nodes[name] = announce.Node{Name: name, Labels: labels.Set{"kubernetes.io/hostname": name}}
		members[name] = true
	}
	for i := range 50 {
		key := fmt.Sprintf("default/svc%d", i)
		world[key] = announce.Service{Key: key, IPs: []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})}, HasReadyEndpoint: true}
		s.translated.invalidate(key)
	}
	translate := func(key string) (announce.Service, bool) { svc, ok := world[key]; return svc, ok }
	snapshot := func() *announce.Snapshot {
		return &announce.Snapshot{Config: cfg, Self: "node0", Nodes: maps.Clone(nodes), Members: maps.Clone(members)}
	}
	steps := []struct {
		name   string
		change func()
		full   bool
		want   announce.PlanCounters // of the planner, full plans aside
	}{
		{"first plan", func() {}, true, announce.PlanCounters{ServicesPlanned: 50}},
		{"nothing changed", func() {}, false, announce.PlanCounters{ServicesPlanned: 50}},
		{"one Service changed", func() {
			svc := world["default/svc7"]
			svc.HasReadyEndpoint = false
			world[svc.Key] = svc
			s.translated.invalidate(svc.Key)
		}, false, announce.PlanCounters{ServicesPlanned: 51}},
		{"one Service deleted", func() { delete(world, "default/svc8"); s.translated.invalidate("default/svc8") },
			false, announce.PlanCounters{ServicesPlanned: 51}},
		{"a member left", func() { delete(members, "node3") }, false, announce.PlanCounters{ServicesPlanned: 51, ServicesElected: -1}},
		{"a Node's label changed", func() {
			node := nodes["node2"]
			node.Labels = labels.Set{"kubernetes.io/hostname": "node2", "rack": "b"}
			nodes["node2"] = node
		}, true, announce.PlanCounters{ServicesPlanned: 49}},
		{"the configuration changed", func() { cfg = mustConfig(t, replanConfig) }, true, announce.PlanCounters{ServicesPlanned: 49}},
	}
	var planner *announce.Planner
	for _, step := range steps {
		step.change()
		snap := snapshot()
		plan := s.replan(snap, s.translated.refresh(translate))
		if full := s.planned.planner != planner; full != step.full {
			t.Errorf("%s: planned every Service %v, want %v", step.name, full, step.full)
		}
		planner = s.planned.planner
		got := planner.Counters()
		got.FullPlans = 0
		if step.want.ServicesElected < 0 {
			if got.ServicesElected == 0 || got.ServicesElected >= len(world) {
				t.Errorf("%s: %d Services elected again, want some, not all", step.name, got.ServicesElected)
			}
			step.want.ServicesElected = got.ServicesElected
		}
		if got != step.want {
			t.Errorf("%s: counters %+v, want %+v", step.name, got, step.want)
		}
		snap.Services = s.translated.all()
		if want := announce.Compute(snap, election.NewElector()); !reflect.DeepEqual(plan, want) {
			t.Errorf("%s: plan %+v, want %+v", step.name, plan, want)
		}
	}
}
