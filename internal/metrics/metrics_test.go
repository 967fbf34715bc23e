package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ironlb/ironlb/internal/ipam"
	"github.com/ironlb/ironlb/internal/members"
)

// compare checks the exposition of the named families on reg.
func compare(t *testing.T, reg *prometheus.Registry, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func TestAllocatorExportsMetalLBGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewAllocator(reg)
	a.Update([]ipam.PoolStats{
		{Pool: "dual", AssignedIPv4: 3, AssignedIPv6: 1, AvailableIPv4: 7, AvailableIPv6: 255},
		{Pool: "old", AssignedIPv4: 1, AvailableIPv4: 0},
	})
	// "old" disappears from the configuration; "v4" appears.
	a.Update([]ipam.PoolStats{
		{Pool: "dual", AssignedIPv4: 4, AssignedIPv6: 1, AvailableIPv4: 6, AvailableIPv6: 255},
		{Pool: "v4", AssignedIPv4: 0, AvailableIPv4: 10},
	})
	compare(t, reg, `
# HELP metallb_allocator_addresses_in_use_total Number of IP addresses in use, per pool
# TYPE metallb_allocator_addresses_in_use_total gauge
metallb_allocator_addresses_in_use_total{pool="dual"} 5
metallb_allocator_addresses_in_use_total{pool="v4"} 0
# HELP metallb_allocator_addresses_total Number of usable IP addresses, per pool
# TYPE metallb_allocator_addresses_total gauge
metallb_allocator_addresses_total{pool="dual"} 266
metallb_allocator_addresses_total{pool="v4"} 10
# HELP metallb_allocator_ipv4_addresses_in_use_total Number of IPv4 addresses in use, per pool
# TYPE metallb_allocator_ipv4_addresses_in_use_total gauge
metallb_allocator_ipv4_addresses_in_use_total{pool="dual"} 4
metallb_allocator_ipv4_addresses_in_use_total{pool="v4"} 0
# HELP metallb_allocator_ipv4_addresses_total Number of usable IPv4 addresses, per pool
# TYPE metallb_allocator_ipv4_addresses_total gauge
metallb_allocator_ipv4_addresses_total{pool="dual"} 10
metallb_allocator_ipv4_addresses_total{pool="v4"} 10
# HELP metallb_allocator_ipv6_addresses_in_use_total Number of IPv6 addresses in use, per pool
# TYPE metallb_allocator_ipv6_addresses_in_use_total gauge
metallb_allocator_ipv6_addresses_in_use_total{pool="dual"} 1
metallb_allocator_ipv6_addresses_in_use_total{pool="v4"} 0
# HELP metallb_allocator_ipv6_addresses_total Number of usable IPv6 addresses, per pool
# TYPE metallb_allocator_ipv6_addresses_total gauge
metallb_allocator_ipv6_addresses_total{pool="dual"} 256
metallb_allocator_ipv6_addresses_total{pool="v4"} 0
`)
}

func TestK8sClient(t *testing.T) {
	reg := prometheus.NewRegistry()
	k := NewK8sClient(reg)
	compare(t, reg, `
# HELP metallb_k8s_client_config_loaded_bool 1 if the MetalLB configuration was successfully loaded at least once.
# TYPE metallb_k8s_client_config_loaded_bool gauge
metallb_k8s_client_config_loaded_bool 0
# HELP metallb_k8s_client_config_stale_bool 1 if running on a stale configuration, because the latest config failed to load.
# TYPE metallb_k8s_client_config_stale_bool gauge
metallb_k8s_client_config_stale_bool 0
`, "metallb_k8s_client_config_loaded_bool", "metallb_k8s_client_config_stale_bool")

	// Refused before any valid configuration: not stale, just not loaded.
	k.ConfigBuilt(errors.New("IPAddressPool metallb-system/a: spec.addresses[0]: overlaps"))
	if loaded, stale := testutil.ToFloat64(k.loaded), testutil.ToFloat64(k.stale); loaded != 0 || stale != 0 {
		t.Errorf("refused first configuration: loaded %v stale %v, want 0 0", loaded, stale)
	}
	k.ConfigBuilt(nil)
	k.ConfigBuilt(errors.New("IPAddressPool metallb-system/a: spec.addresses[0]: overlaps"))
	k.UpdateProcessed(nil)
	k.UpdateProcessed(nil)
	k.UpdateProcessed(errors.New("conflict"))
	compare(t, reg, `
# HELP metallb_k8s_client_config_loaded_bool 1 if the MetalLB configuration was successfully loaded at least once.
# TYPE metallb_k8s_client_config_loaded_bool gauge
metallb_k8s_client_config_loaded_bool 1
# HELP metallb_k8s_client_config_stale_bool 1 if running on a stale configuration, because the latest config failed to load.
# TYPE metallb_k8s_client_config_stale_bool gauge
metallb_k8s_client_config_stale_bool 1
# HELP metallb_k8s_client_update_errors_total Number of k8s object updates that failed for some reason.
# TYPE metallb_k8s_client_update_errors_total counter
metallb_k8s_client_update_errors_total 1
# HELP metallb_k8s_client_updates_total Number of k8s object updates that have been processed.
# TYPE metallb_k8s_client_updates_total counter
metallb_k8s_client_updates_total 6
`)

	k.ConfigBuilt(nil) // fixed: no longer stale
	if got := testutil.ToFloat64(k.stale); got != 0 {
		t.Errorf("stale after a good config = %v, want 0", got)
	}
}

// TestConfigRestored: a speaker serving the configuration an earlier run
// saved is loaded, and stale once the live one is refused.
func TestConfigRestored(t *testing.T) {
	k := NewK8sClient(prometheus.NewRegistry())
	k.ConfigRestored()
	if loaded, stale := testutil.ToFloat64(k.loaded), testutil.ToFloat64(k.stale); loaded != 1 || stale != 0 {
		t.Errorf("restored: loaded %v stale %v, want 1 0", loaded, stale)
	}
	k.ConfigBuilt(errors.New("BGPPeer metallb-system/p: spec.passwordSecret: Secret metallb-system/s not found"))
	if loaded, stale := testutil.ToFloat64(k.loaded), testutil.ToFloat64(k.stale); loaded != 1 || stale != 1 {
		t.Errorf("restored, then refused: loaded %v stale %v, want 1 1", loaded, stale)
	}
}

func TestSpeakerAnnouncedFollowsTheSet(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewSpeaker(reg, "node-a")
	web := Announcement{Service: "default/web", Protocol: ProtocolLayer2, IP: netip.MustParseAddr("192.0.2.10")}
	dns := Announcement{Service: "kube-system/dns", Protocol: ProtocolBGP, IP: netip.MustParseAddr("2001:db8::53")}
	s.SetAnnounced([]Announcement{web, dns})
	s.SetAnnounced([]Announcement{dns, dns}) // web withdrawn; dns listed twice
	compare(t, reg, `
# HELP metallb_speaker_announced Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged.
# TYPE metallb_speaker_announced gauge
metallb_speaker_announced{ip="2001:db8::53",node="node-a",protocol="bgp",service="kube-system/dns"} 1
`, "metallb_speaker_announced")
	s.SetAnnounced(nil)
	if n := testutil.CollectAndCount(s.announced); n != 0 {
		t.Errorf("%d series left after withdrawing everything", n)
	}
}

// TestSpeakerMemberlistKeyMetrics: decryption failures are counted and the
// keys exported by fingerprint, primary and accepted, replaced as a whole
// when they change.
func TestSpeakerMemberlistKeyMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewSpeaker(reg, "node-a")
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	s.SetMemberlistKeys(members.Keys{Primary: oldKey})
	s.SetMemberlistKeys(members.Keys{Primary: newKey, Accepted: [][]byte{oldKey}})
	s.MemberlistDecryptFailed()
	s.MemberlistDecryptFailed()
	compare(t, reg, fmt.Sprintf(`
# HELP ironlb_memberlist_decrypt_failures_total Memberlist messages this speaker received or was answered that none of its keys decrypts: a speaker with another memberlist key, or a stranger on the memberlist port.
# TYPE ironlb_memberlist_decrypt_failures_total counter
ironlb_memberlist_decrypt_failures_total 2
# HELP ironlb_memberlist_key_info 1 for each memberlist key this speaker holds, by fingerprint (first 8 hex digits of the key's SHA-256): role=primary encrypts what it sends, role=accepted only decrypts.
# TYPE ironlb_memberlist_key_info gauge
ironlb_memberlist_key_info{fingerprint="%s",role="accepted"} 1
ironlb_memberlist_key_info{fingerprint="%s",role="primary"} 1
`, members.Fingerprint(oldKey), members.Fingerprint(newKey)), "ironlb_memberlist_decrypt_failures_total", "ironlb_memberlist_key_info")
}

func TestSpeakerOwnMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewSpeaker(reg, "node-a")
	ip := netip.MustParseAddr("192.0.2.10")
	s.OwnershipGained(ip)
	s.OwnershipLost(ip)
	s.OwnershipGained(ip)
	s.ObserveFailover(1500 * time.Millisecond)
	s.ObserveAnnounceLatency(ProtocolLayer2, 20*time.Millisecond)
	s.ObserveAnnounceLatency(ProtocolBGP, 300*time.Millisecond)
	s.SetMembers(3)
	compare(t, reg, `
# HELP ironlb_layer2_ownership_changes_total Times this node gained or lost the layer 2 ownership of an IP (change=gained|lost).
# TYPE ironlb_layer2_ownership_changes_total counter
ironlb_layer2_ownership_changes_total{change="gained",ip="192.0.2.10"} 2
ironlb_layer2_ownership_changes_total{change="lost",ip="192.0.2.10"} 1
# HELP ironlb_memberlist_members Speakers in the memberlist cluster as this speaker sees it, itself included.
# TYPE ironlb_memberlist_members gauge
ironlb_memberlist_members 3
`, "ironlb_layer2_ownership_changes_total", "ironlb_memberlist_members")

	// Histograms: check the counts and sums rather than every bucket.
	if got := testutil.CollectAndCount(s.failover); got != 1 {
		t.Errorf("failover histogram series = %d, want 1", got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ironlb_layer2_failover_duration_seconds Time from the owner of an IP leaving the cluster (as memberlist reports it) to this node announcing the IP.
# TYPE ironlb_layer2_failover_duration_seconds histogram
ironlb_layer2_failover_duration_seconds_bucket{le="0.05"} 0
ironlb_layer2_failover_duration_seconds_bucket{le="0.1"} 0
ironlb_layer2_failover_duration_seconds_bucket{le="0.25"} 0
ironlb_layer2_failover_duration_seconds_bucket{le="0.5"} 0
ironlb_layer2_failover_duration_seconds_bucket{le="1"} 0
ironlb_layer2_failover_duration_seconds_bucket{le="2"} 1
ironlb_layer2_failover_duration_seconds_bucket{le="3"} 1
ironlb_layer2_failover_duration_seconds_bucket{le="5"} 1
ironlb_layer2_failover_duration_seconds_bucket{le="10"} 1
ironlb_layer2_failover_duration_seconds_bucket{le="20"} 1
ironlb_layer2_failover_duration_seconds_bucket{le="30"} 1
ironlb_layer2_failover_duration_seconds_bucket{le="60"} 1
ironlb_layer2_failover_duration_seconds_bucket{le="+Inf"} 1
ironlb_layer2_failover_duration_seconds_sum 1.5
ironlb_layer2_failover_duration_seconds_count 1
`), "ironlb_layer2_failover_duration_seconds"); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(s.announceLatency); got != 2 {
		t.Errorf("announce latency series = %d, want one per protocol", got)
	}
	if problems, err := testutil.CollectAndLint(s.failover); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if problems, err := testutil.CollectAndLint(s.announceLatency); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestLayer2Counters(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := NewLayer2(reg)
	v4, v6 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")
	l.RequestReceived(v4)
	l.RequestReceived(v4)
	l.ResponseSent(v4)
	l.GratuitousSent(v6)
	compare(t, reg, `
# HELP metallb_layer2_gratuitous_sent Number of gratuitous layer2 packets sent for owned IPs as a result of failovers
# TYPE metallb_layer2_gratuitous_sent counter
metallb_layer2_gratuitous_sent{ip="2001:db8::10"} 1
# HELP metallb_layer2_requests_received Number of layer2 requests received for owned IPs
# TYPE metallb_layer2_requests_received counter
metallb_layer2_requests_received{ip="192.0.2.10"} 2
# HELP metallb_layer2_responses_sent Number of layer2 responses sent for owned IPs in response to requests
# TYPE metallb_layer2_responses_sent counter
metallb_layer2_responses_sent{ip="192.0.2.10"} 1
`)
}

func TestBGPSessions(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := NewBGP(reg)
	router := PeerLabel(netip.MustParseAddr("192.0.2.1"), 179)
	spine := PeerLabel(netip.MustParseAddr("2001:db8::1"), 1179)
	gone := PeerLabel(netip.MustParseAddr("192.0.2.99"), 179)
	for _, p := range []string{router, spine, gone} {
		b.SessionAdded(p)
	}
	b.SessionState(router, true)
	b.UpdatesSent(router, 2)
	b.AnnouncedPrefixes(router, 4)
	b.SessionState(spine, true)
	b.AnnouncedPrefixes(spine, 2)
	b.SessionState(spine, false) // down: nothing advertised
	b.SessionRemoved(gone)
	compare(t, reg, `
# HELP metallb_bgp_announced_prefixes_total Number of prefixes currently being advertised on the BGP session
# TYPE metallb_bgp_announced_prefixes_total gauge
metallb_bgp_announced_prefixes_total{peer="192.0.2.1:179"} 4
metallb_bgp_announced_prefixes_total{peer="[2001:db8::1]:1179"} 0
# HELP metallb_bgp_session_up BGP session state (1 is up, 0 is down)
# TYPE metallb_bgp_session_up gauge
metallb_bgp_session_up{peer="192.0.2.1:179"} 1
metallb_bgp_session_up{peer="[2001:db8::1]:1179"} 0
# HELP metallb_bgp_updates_total Number of BGP UPDATE messages sent
# TYPE metallb_bgp_updates_total counter
metallb_bgp_updates_total{peer="192.0.2.1:179"} 2
metallb_bgp_updates_total{peer="[2001:db8::1]:1179"} 0
`)
}

// familyNames lists every family a fully populated registry exports.
func familyNames(t *testing.T) []string {
	t.Helper()
	reg := prometheus.NewRegistry()
	ip := netip.MustParseAddr("192.0.2.1")
	NewAllocator(reg).Update([]ipam.PoolStats{{Pool: "p"}})
	k := NewK8sClient(reg)
	k.UpdateProcessed(errors.New("x"))
	s := NewSpeaker(reg, "n")
	s.SetAnnounced([]Announcement{{Service: "a/b", Protocol: ProtocolBGP, IP: ip}})
	s.OwnershipGained(ip)
	s.ObserveFailover(time.Second)
	s.ObserveAnnounceLatency(ProtocolBGP, time.Second)
	s.SetMemberlistKeys(members.Keys{Primary: make([]byte, 32)})
	l := NewLayer2(reg)
	l.RequestReceived(ip)
	l.ResponseSent(ip)
	l.GratuitousSent(ip)
	NewBGP(reg).SessionAdded("192.0.2.1:179")
	NewBFD(reg).Set(map[string]BFDSession{"192.0.2.1": {}})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	return names
}

func TestEveryFamilyIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	names := familyNames(t)
	if len(names) != 30 {
		t.Errorf("%d families, want 30: %v", len(names), names)
	}
	for _, name := range names {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not document %s", name)
		}
	}
}

func TestNewRegistryHasRuntimeMetrics(t *testing.T) {
	families, err := NewRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var goroutines bool
	for _, f := range families {
		goroutines = goroutines || f.GetName() == "go_goroutines"
	}
	if !goroutines {
		t.Error("go_goroutines missing from NewRegistry")
	}
}

func TestBFDSessions(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := NewBFD(reg)
	b.Set(map[string]BFDSession{
		"192.0.2.1":   {Up: true, ControlIn: 10, ControlOut: 12, UpEvents: 1},
		"2001:db8::1": {ControlOut: 3, UpEvents: 1, DownEvents: 1},
		"192.0.2.99":  {Up: true},
	})
	b.Set(map[string]BFDSession{ // 192.0.2.99 removed
		"192.0.2.1":   {Up: true, ControlIn: 10, ControlOut: 12, UpEvents: 1},
		"2001:db8::1": {ControlOut: 3, UpEvents: 1, DownEvents: 1},
	})
	b.SessionState("192.0.2.1", false)
	b.SessionState("192.0.2.50", true) // unknown: ignored
	compare(t, reg, `
# HELP metallb_bfd_control_packet_input Number of received BFD control packets
# TYPE metallb_bfd_control_packet_input counter
metallb_bfd_control_packet_input{peer="192.0.2.1"} 10
metallb_bfd_control_packet_input{peer="2001:db8::1"} 0
# HELP metallb_bfd_control_packet_output Number of sent BFD control packets
# TYPE metallb_bfd_control_packet_output counter
metallb_bfd_control_packet_output{peer="192.0.2.1"} 12
metallb_bfd_control_packet_output{peer="2001:db8::1"} 3
# HELP metallb_bfd_echo_packet_input Number of received BFD echo packets
# TYPE metallb_bfd_echo_packet_input counter
metallb_bfd_echo_packet_input{peer="192.0.2.1"} 0
metallb_bfd_echo_packet_input{peer="2001:db8::1"} 0
# HELP metallb_bfd_echo_packet_output Number of sent BFD echo packets
# TYPE metallb_bfd_echo_packet_output counter
metallb_bfd_echo_packet_output{peer="192.0.2.1"} 0
metallb_bfd_echo_packet_output{peer="2001:db8::1"} 0
# HELP metallb_bfd_session_down_events Number of BFD session down events
# TYPE metallb_bfd_session_down_events counter
metallb_bfd_session_down_events{peer="192.0.2.1"} 0
metallb_bfd_session_down_events{peer="2001:db8::1"} 1
# HELP metallb_bfd_session_up BFD session state (1 is up, 0 is down)
# TYPE metallb_bfd_session_up gauge
metallb_bfd_session_up{peer="192.0.2.1"} 0
metallb_bfd_session_up{peer="2001:db8::1"} 0
# HELP metallb_bfd_session_up_events Number of BFD session up events
# TYPE metallb_bfd_session_up_events counter
metallb_bfd_session_up_events{peer="192.0.2.1"} 1
metallb_bfd_session_up_events{peer="2001:db8::1"} 1
`)
}
