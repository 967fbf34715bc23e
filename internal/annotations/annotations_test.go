package annotations

import "testing"

func TestGet(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		read        string
		want        Value
		deprecated  bool
		warning     string
	}{
		{name: "absent", annotations: map[string]string{"other": "x"}, read: AddressPool, want: Value{}},
		{name: "current name", annotations: map[string]string{AddressPool: "gold"}, read: AddressPool,
			want: Value{Value: "gold", Key: AddressPool}},
		{name: "deprecated name", annotations: map[string]string{"metallb.universe.tf/address-pool": "gold"}, read: AddressPool,
			want: Value{Value: "gold", Key: "metallb.universe.tf/address-pool"}, deprecated: true,
			warning: "annotation metallb.universe.tf/address-pool is deprecated, use metallb.io/address-pool"},
		{name: "both, same value", annotations: map[string]string{AllowSharedIP: "k", "metallb.universe.tf/allow-shared-ip": "k"},
			read: AllowSharedIP, want: Value{Value: "k", Key: AllowSharedIP}},
		{name: "both, different values: current wins", read: LoadBalancerIPs,
			annotations: map[string]string{LoadBalancerIPs: "10.0.0.1", "metallb.universe.tf/loadBalancerIPs": "10.0.0.2"},
			want:        Value{Value: "10.0.0.1", Key: LoadBalancerIPs, Ignored: "metallb.universe.tf/loadBalancerIPs"},
			warning:     "annotation metallb.universe.tf/loadBalancerIPs is deprecated and ignored because metallb.io/loadBalancerIPs is set"},
		{name: "set but empty", annotations: map[string]string{AllowSharedIP: ""}, read: AllowSharedIP,
			want: Value{Key: AllowSharedIP}},
		{name: "nil map", read: AddressPool, want: Value{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Get(tt.annotations, tt.read)
			if got != tt.want {
				t.Fatalf("Get = %+v, want %+v", got, tt.want)
			}
			if got.Found() != (tt.want.Key != "") || got.Deprecated() != tt.deprecated || got.Warning() != tt.warning {
				t.Fatalf("Found=%v Deprecated=%v Warning=%q; want Deprecated=%v Warning=%q",
					got.Found(), got.Deprecated(), got.Warning(), tt.deprecated, tt.warning)
			}
		})
	}
}

func TestLegacy(t *testing.T) {
	for name, want := range map[string]string{
		LoadBalancerIPs:     "metallb.universe.tf/loadBalancerIPs",
		AddressPool:         "metallb.universe.tf/address-pool",
		AllowSharedIP:       "metallb.universe.tf/allow-shared-ip",
		IPAllocatedFromPool: "metallb.universe.tf/ip-allocated-from-pool",
	} {
		if got := Legacy(name); got != want {
			t.Errorf("Legacy(%q) = %q, want %q", name, got, want)
		}
	}
}
