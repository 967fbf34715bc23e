// Package statusview answers "which node announces which IP, and why does
// this Service have none?" from the API: it joins LoadBalancer Services with
// the configuration (pools, advertisements), the speakers' ServiceL2Status
// and ServiceBGPStatus objects and the Services' warning Events into one
// table, printed by `controller status`, with notes above it when the
// configuration is refused and for each component (ConfigurationState) that
// runs without the latest one, and below it each node's BFD sessions (from
// the speakers' ConfigurationStates).
//
// Build and Render are pure; Fetch reads their input from the API server.
package statusview

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/annotations"
	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/configstate"
	"github.com/ironlb/ironlb/internal/k8s"
)

// The protocol names shown, as in metallb_speaker_announced.
const (
	ProtocolLayer2 = "layer2"
	ProtocolBGP    = "bgp"
)

// Input is everything the view is built from.
type Input struct {
	// Services of type LoadBalancer handled by ironlb.
	Services []corev1.Service
	// Config is the current configuration; nil when it is refused
	// (ConfigErr says why) or absent.
	Config    *config.Config
	ConfigErr error
	L2        []v1beta1.ServiceL2Status
	BGP       []v1beta1.ServiceBGPStatus
	// Events are Warning Events about Services, the newest of which explains
	// a Service without an address.
	Events []corev1.Event
	// States are the components' ConfigurationStates.
	States []v1beta1.ConfigurationState
}

// Row is one Service.
type Row struct {
	// Service is "namespace/name".
	Service string
	IPs     []netip.Addr
	Pool    string
	// Protocols announcing the Service's pool: layer2 and/or bgp.
	Protocols []string
	// AnnouncedBy lists the announcing nodes: "node (interface…)" in layer
	// 2, with "[any interface]" when no node's subnet holds the address and
	// the owner was elected as MetalLB does; "node → peer,peer" in BGP.
	AnnouncedBy []string
	// NotEligible says which nodes could not own the layer 2 addresses and
	// why, as the owner's speaker explains it.
	NotEligible string
	// Problem says what is wrong, "" when the Service is announced.
	Problem string
}

// View is the table, the notes that go above it and the BFD sessions
// that go below it.
type View struct {
	Notes []string
	Rows  []Row
	BFD   []BFDSession
}

// Build joins the input into one Row per Service, sorted by Service.
func Build(in Input) View {
	var view View
	if in.ConfigErr != nil {
		view.Notes = append(view.Notes, "configuration refused (ironlb keeps serving the last valid one): "+
			strings.ReplaceAll(in.ConfigErr.Error(), "\n", "; "))
	}
	view.Notes = append(view.Notes, stateNotes(in.States)...)
	view.BFD = bfdSessions(in.States)
	l2, notEligible := layer2Announcers(in.L2)
	bgp := map[string][]string{}
	for _, s := range in.BGP {
		key := s.Status.ServiceNamespace + "/" + s.Status.ServiceName
		peers := slices.Sorted(slices.Values(s.Status.Peers))
		bgp[key] = append(bgp[key], s.Status.Node+" → "+strings.Join(peers, ","))
	}
	warnings := newestWarnings(in.Events)

	for i := range in.Services {
		svc := &in.Services[i]
		row := Row{Service: svc.Namespace + "/" + svc.Name, IPs: k8s.StatusIPs(svc)}
		row.Pool = annotations.Get(svc.Annotations, annotations.IPAllocatedFromPool).Value
		if in.Config != nil && len(row.IPs) > 0 {
			// The annotation may name a pool deleted or shrunk since.
			if p := in.Config.Pools[row.Pool]; p == nil || !p.Contains(row.IPs[0]) {
				row.Pool = poolOf(in.Config, row.IPs[0])
			}
		}
		if in.Config != nil && row.Pool != "" {
			row.Protocols = protocols(in.Config, row.Pool, svc.Labels)
		}
		row.AnnouncedBy = append(slices.Sorted(slices.Values(l2[row.Service])), slices.Sorted(slices.Values(bgp[row.Service]))...)
		row.NotEligible = notEligible[row.Service]
		row.Problem = problem(in, &row, warnings[row.Service])
		view.Rows = append(view.Rows, row)
	}
	sort.Slice(view.Rows, func(i, j int) bool { return view.Rows[i].Service < view.Rows[j].Service })
	return view
}

// layer2Announcers returns, per Service, its layer 2 announcers and the
// explanation of their election.
func layer2Announcers(statuses []v1beta1.ServiceL2Status) (map[string][]string, map[string]string) {
	announcers, notEligible := map[string][]string{}, map[string]string{}
	for _, s := range statuses {
		key := s.Status.ServiceNamespace + "/" + s.Status.ServiceName
		announcer := s.Status.Node
		if len(s.Status.Interfaces) > 0 {
			var names []string
			for _, i := range s.Status.Interfaces {
				names = append(names, i.Name)
			}
			announcer += " (" + strings.Join(names, ",") + ")"
		}
		if s.Annotations[k8s.AnnotationL2Rule] == k8s.L2RuleAnyInterface {
			announcer += " [any interface]"
		}
		announcers[key] = append(announcers[key], announcer)
		if why := s.Annotations[k8s.AnnotationL2NotEligible]; why != "" {
			notEligible[key] = why
		}
	}
	return announcers, notEligible
}

// stateNotes names the components that run on a refused configuration, in
// name order.
func stateNotes(states []v1beta1.ConfigurationState) []string {
	var notes []string
	for _, st := range states {
		if st.Status.Result != v1beta1.ConfigurationInvalid {
			continue
		}
		if meta.IsStatusConditionTrue(st.Status.Conditions, configstate.ConditionStale) {
			notes = append(notes, st.Name+" refused the latest configuration and serves its last valid one")
		} else {
			notes = append(notes, st.Name+" has no valid configuration: it assigns or announces nothing")
		}
	}
	sort.Strings(notes)
	return notes
}

// problem explains, in order of cause, why row is not served.
func problem(in Input, row *Row, warning warningEvent) string {
	switch {
	case len(row.IPs) == 0 && warning.message != "":
		return "no IP: " + warning.Reason()
	case len(row.IPs) == 0:
		return "no IP yet"
	case in.Config == nil:
		return ""
	case row.Pool == "":
		return "IP outside every pool: kept, not announced until a pool contains it again"
	case len(row.Protocols) == 0:
		return "not advertised: no L2Advertisement or BGPAdvertisement selects pool " + row.Pool + " for this Service"
	case len(row.AnnouncedBy) == 0 && warning.reason == k8s.ReasonNoEligibleNode:
		return warning.message
	case len(row.AnnouncedBy) == 0:
		return "no node announces it, and no speaker reported why (is one running?)"
	}
	return ""
}

func poolOf(cfg *config.Config, ip netip.Addr) string {
	for name, pool := range cfg.Pools {
		if pool.Contains(ip) {
			return name
		}
	}
	return ""
}

// protocols lists the protocols whose advertisements select pool for a
// Service with labels svcLabels.
func protocols(cfg *config.Config, pool string, svcLabels map[string]string) []string {
	var out []string
	set := labels.Set(svcLabels)
	for _, adv := range cfg.L2Advertisements {
		if slices.Contains(adv.Pools, pool) && adv.ServiceSelectors.Matches(set) {
			out = append(out, ProtocolLayer2)
			break
		}
	}
	for _, adv := range cfg.BGPAdvertisements {
		if slices.Contains(adv.Pools, pool) && adv.ServiceSelectors.Matches(set) {
			out = append(out, ProtocolBGP)
			break
		}
	}
	return out
}

// warningEvent is the newest Warning Event of a Service.
type warningEvent struct {
	at              time.Time
	reason, message string
}

// Reason returns "reason: message".
func (w warningEvent) Reason() string { return w.reason + ": " + w.message }

// newestWarnings returns, per Service, its newest Warning Event.
func newestWarnings(events []corev1.Event) map[string]warningEvent {
	by := map[string]warningEvent{}
	for _, e := range events {
		if e.Type != corev1.EventTypeWarning || e.InvolvedObject.Kind != "Service" {
			continue
		}
		key := e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name
		at := eventTime(&e)
		if current, ok := by[key]; !ok || at.After(current.at) {
			by[key] = warningEvent{at: at, reason: e.Reason, message: e.Message}
		}
	}
	return by
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// Render prints the view as a table.
func Render(w io.Writer, view View) error {
	for _, note := range view.Notes {
		if _, err := fmt.Fprintln(w, "note: "+note); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tIP\tPOOL\tPROTOCOL\tANNOUNCED BY\tPROBLEM\tNOT ELIGIBLE")
	for _, r := range view.Rows {
		ips := make([]string, len(r.IPs))
		for i, ip := range r.IPs {
			ips[i] = ip.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Service, orDash(strings.Join(ips, ",")), orDash(r.Pool),
			orDash(strings.Join(r.Protocols, "+")), orDash(strings.Join(r.AnnouncedBy, "; ")), orDash(r.Problem), orDash(r.NotEligible))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return renderBFD(w, view.BFD)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
