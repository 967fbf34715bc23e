package ipam

import (
	"net/netip"
	"testing"
)

// TestErrorMessages pins the sentences Events show for each reason.
func TestErrorMessages(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.7")
	tests := []struct {
		err  Error
		want string
	}{
		{Error{Reason: BadRequest, Service: "ns/a", Detail: "the service key is empty"},
			"invalid request for ns/a: the service key is empty"},
		{Error{Reason: WrongFamily, Service: "ns/a", Detail: "x"},
			"addresses requested by ns/a do not fit its IP families: x"},
		{Error{Reason: UnknownPool, Service: "ns/a", Pool: "gold"},
			`ns/a requests pool "gold", which does not exist`},
		{Error{Reason: PoolNotEligible, Service: "ns/a", Pool: "gold"},
			`pool "gold" does not admit ns/a (serviceAllocation)`},
		{Error{Reason: NoEligiblePool, Service: "ns/a"},
			"no pool assigns addresses automatically to ns/a (check autoAssign and serviceAllocation)"},
		{Error{Reason: IPNotInAnyPool, Service: "ns/a", IP: ip},
			"10.0.0.7 for ns/a is not in any pool"},
		{Error{Reason: IPNotInAnyPool, Service: "ns/a", IP: ip, Detail: "why"},
			"10.0.0.7 for ns/a is not in any pool: why"},
		{Error{Reason: IPNotInRequestedPool, Service: "ns/a", IP: ip, Pool: "gold"},
			`10.0.0.7 requested by ns/a is not in the requested pool "gold"`},
		{Error{Reason: IPsInDifferentPools, Service: "ns/a", Detail: "x"},
			"the addresses for ns/a must come from one pool, but x"},
		{Error{Reason: IPInUse, Service: "ns/a", IP: ip, Holder: "ns/b"},
			"10.0.0.7 for ns/a is in use by ns/b"},
		{Error{Reason: SharingRefused, Service: "ns/a", IP: ip, Holder: "ns/b", Conflict: KeysDiffer, Detail: `"k1" and "k2"`},
			`ns/a cannot share 10.0.0.7 with ns/b: their sharing keys differ ("k1" and "k2")`},
		{Error{Reason: SharingRefused, Service: "ns/a", IP: ip, Holder: "ns/b", Conflict: BackendsDiffer},
			"ns/a cannot share 10.0.0.7 with ns/b: they do not select the same pods (externalTrafficPolicy: Local)"},
		{Error{Reason: SharingRefused, Service: "ns/a", IP: ip, Holder: "ns/b", Conflict: PortsOverlap, Port: Port{"TCP", 80}},
			"ns/a cannot share 10.0.0.7 with ns/b: both use port TCP/80"},
		{Error{Reason: FamilyUnavailable, Service: "ns/a", Detail: "both IPv4 and IPv6"},
			"no pool eligible for ns/a has both IPv4 and IPv6 addresses"},
		{Error{Reason: PoolExhausted, Service: "ns/a", Family: IPv6, Pool: "gold"},
			`no free IPv6 address for ns/a in pool "gold"`},
		{Error{Reason: PoolExhausted, Service: "ns/a", Family: IPv4},
			"no free IPv4 address for ns/a in any eligible pool"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%v: Error() = %q, want %q", tt.err.Reason, got, tt.want)
		}
	}
	for r := BadRequest; r <= PoolExhausted; r++ {
		if reasonNames[r] == "" {
			t.Errorf("reason %d has no name", r)
		}
	}
}
