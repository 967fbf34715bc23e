package k8s

import (
	"fmt"
	"slices"
)

// Permission is one API permission a component needs, with the code that
// uses it. manifests/base/20-rbac.yaml grants exactly these (a test in
// manifests compares them): a verb the code starts using must be declared
// here, and a grant nothing here declares is refused.
type Permission struct {
	// Namespaced permissions are granted in metallb-system by a Role,
	// the others cluster-wide by a ClusterRole.
	Namespaced bool
	Group      string // "" for the core group
	Resources  []string
	// Names restricts the permission to these objects (resourceNames).
	Names []string
	Verbs []string
	// UsedBy names the code that needs it.
	UsedBy string
	// Rare, when set, names the unit test that drives a path a lab run may
	// not take (a stale object, a renewal): the audit of a lab run does not
	// require these verbs to be used.
	Rare string
}

// configKinds are the metallb.io configuration resources.
var configKinds = []string{"ipaddresspools", "l2advertisements", "bgpadvertisements", "bgppeers", "communities", "bfdprofiles"}

// metricsAuth is what the secure metrics endpoint asks the API server:
// whose bearer token a scrape carries, and whether that user may get
// /metrics.
var metricsAuth = []Permission{
	{Group: "authentication.k8s.io", Resources: []string{"tokenreviews"}, Verbs: []string{"create"}, UsedBy: "metricsauth.Authorizer (secure metrics endpoint)"},
	{Group: "authorization.k8s.io", Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}, UsedBy: "metricsauth.Authorizer (secure metrics endpoint)"},
}

// eventPatchTest drives the patch of a repeated Event.
const eventPatchTest = "TestEventRecorderPatchesARepeatedEvent (internal/k8s)"

// ControllerPermissions are what the controller's ServiceAccount needs.
var ControllerPermissions = append([]Permission{
	{Resources: []string{"services", "namespaces"}, Verbs: []string{"list", "watch"}, UsedBy: "controller.Reconciler informers; webhook.ServicesInUse lists Services"},
	{Resources: []string{"services/status"}, Verbs: []string{"patch"}, UsedBy: "controller.Reconciler.writeStatus (address and pool annotation)"},
	{Resources: []string{"events"}, Verbs: []string{"create"}, UsedBy: "k8s.NewEventRecorder"},
	{Resources: []string{"events"}, Verbs: []string{"patch"}, UsedBy: "k8s.NewEventRecorder: an Event repeated", Rare: eventPatchTest},
	{Group: "admissionregistration.k8s.io", Resources: []string{"validatingwebhookconfigurations"}, Names: []string{"metallb-webhook-configuration"}, Verbs: []string{"get", "update"}, UsedBy: "webhook.CertRotator publishes its CA"},
	{Group: "discovery.k8s.io", Resources: []string{"endpointslices"}, Names: []string{apiServerSliceName}, Verbs: []string{"get"}, UsedBy: "k8s.APIServerDialer.Follow: the API servers' own addresses (default/kubernetes)"},
	{Namespaced: true, Group: "metallb.io", Resources: configKinds, Verbs: []string{"list", "watch"}, UsedBy: "k8s.ConfigWatcher; k8s.Clients.ListConfig (webhook)"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"ipaddresspools/status"}, Verbs: []string{"patch"}, UsedBy: "controller pool status writer"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"configurationstates"}, Verbs: []string{"get", "create"}, UsedBy: "configstate.Reporter"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"configurationstates/status"}, Verbs: []string{"update"}, UsedBy: "configstate.Reporter"},
	{Namespaced: true, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch", "create"}, UsedBy: "k8s.ConfigWatcher (BGP passwords); k8s.MemberlistSecretKeeper; webhook.CertRotator"},
	{Namespaced: true, Resources: []string{"pods"}, Verbs: []string{"list"}, UsedBy: "k8s.MemberlistSecretKeeper: are speakers running with a key it never saw?",
		Rare: "TestKeeperInventsNoKeyWhileSpeakersRun (internal/k8s), and TestInstall (e2etest/install: the controller creates the Secret; the other lab packages create it before the install)"},
	{Namespaced: true, Resources: []string{"secrets"}, Names: []string{"webhook-server-cert"}, Verbs: []string{"update"}, UsedBy: "webhook.CertRotator renews the serving certificate"},
	{Namespaced: true, Group: "coordination.k8s.io", Resources: []string{"leases"}, Verbs: []string{"create"}, UsedBy: "controller.Election"},
	{Namespaced: true, Group: "coordination.k8s.io", Resources: []string{"leases"}, Names: []string{"ironlb-controller"}, Verbs: []string{"get", "update"}, UsedBy: "controller.Election"},
}, metricsAuth...)

// SpeakerPermissions are what the speakers' ServiceAccount needs.
var SpeakerPermissions = append([]Permission{
	{Resources: []string{"services", "nodes"}, Verbs: []string{"list", "watch"}, UsedBy: "speaker informers"},
	{Group: "discovery.k8s.io", Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}, UsedBy: "speaker informers"},
	{Resources: []string{"events"}, Verbs: []string{"create"}, UsedBy: "k8s.NewEventRecorder"},
	{Resources: []string{"events"}, Verbs: []string{"patch"}, UsedBy: "k8s.NewEventRecorder: an Event repeated", Rare: eventPatchTest},
	{Namespaced: true, Group: "metallb.io", Resources: configKinds, Verbs: []string{"list", "watch"}, UsedBy: "k8s.ConfigWatcher"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"bgppeers"}, Verbs: []string{"get"}, UsedBy: "speaker.bgpPeerRef: the Event about a peer it cannot apply names the peer's UID",
		Rare: "TestOneBadPeerBlocksNoOther (e2etest/bgp, a lab test: a peer the speaker cannot apply)"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"servicel2statuses"}, Verbs: []string{"list", "create", "patch", "delete"}, UsedBy: "speaker status writer; its layer 2 explanation patches the object"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"servicebgpstatuses"}, Verbs: []string{"list", "create", "delete"}, UsedBy: "speaker status writer"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"servicel2statuses", "servicebgpstatuses"}, Verbs: []string{"deletecollection"}, UsedBy: "speaker status writer withdraws this node's objects on a graceful stop",
		Rare: "TestStatusWithdrawnOnStop (internal/speaker)"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"servicel2statuses/status", "servicebgpstatuses/status"}, Verbs: []string{"patch"}, UsedBy: "speaker status writer"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"configurationstates"}, Verbs: []string{"get", "create"}, UsedBy: "configstate.Reporter"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"configurationstates/status"}, Verbs: []string{"update"}, UsedBy: "configstate.Reporter"},
	{Namespaced: true, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}, UsedBy: "k8s.ConfigWatcher (BGP passwords)"},
	{Namespaced: true, Resources: []string{"secrets"}, Verbs: []string{"get"}, UsedBy: "speaker.startMembers reads the memberlist key when METALLB_ML_SECRET_KEY is unset",
		Rare: "the process-mode lab suites (e2etest/layer2), whose speakers run without METALLB_ML_SECRET_KEY"},
	{Namespaced: true, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}, UsedBy: "speaker quorum: the Ready speaker pods (runningSpeakers)"},
}, metricsAuth...)

// UninstallPermissions are what `controller uninstall` needs, run by the
// chart's pre-delete hook with a ServiceAccount of its own that exists only
// while `helm uninstall` runs (internal/uninstall).
var UninstallPermissions = []Permission{
	{Namespaced: true, Group: "apps", Resources: []string{"daemonsets"}, Names: []string{"speaker"}, Verbs: []string{"delete", "get"}, UsedBy: "uninstall.Uninstaller stops the speakers and waits until they are gone"},
	{Namespaced: true, Group: "apps", Resources: []string{"deployments"}, Names: []string{"controller"}, Verbs: []string{"delete", "get"}, UsedBy: "uninstall.Uninstaller stops the controller and waits until it is gone"},
	{Namespaced: true, Resources: []string{"secrets"}, Names: []string{MemberlistSecret, "webhook-server-cert"}, Verbs: []string{"delete"}, UsedBy: "uninstall.Uninstaller deletes the Secrets the controller created"},
	{Namespaced: true, Group: "coordination.k8s.io", Resources: []string{"leases"}, Names: []string{"ironlb-controller"}, Verbs: []string{"delete"}, UsedBy: "uninstall.Uninstaller deletes the controller's Lease"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"configurationstates", "servicel2statuses", "servicebgpstatuses"}, Verbs: []string{"list"}, UsedBy: "uninstall.Uninstaller finds the state ironlb wrote"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"configurationstates"}, Verbs: []string{"delete"}, UsedBy: "uninstall.Uninstaller deletes the ConfigurationStates"},
	{Namespaced: true, Group: "metallb.io", Resources: []string{"servicel2statuses", "servicebgpstatuses"}, Verbs: []string{"delete"}, UsedBy: "uninstall.Uninstaller deletes the status objects a speaker could not withdraw",
		Rare: "TestRunWhenPodsDoNotStop (internal/uninstall): stopped speakers withdraw their own"},
}

// Request is one API request, as the API server's audit log records it.
type Request struct {
	Namespace string // empty for a cluster-scoped request
	Group     string
	Resource  string // with "/subresource" when there is one
	Name      string
	Verb      string
}

// UnusedGrant is a granted verb that no request used.
type UnusedGrant struct {
	// Grant is "group/resource verb", with "[names]" when restricted.
	Grant string
	// Rare is the permission's Rare: the unit test that drives it.
	Rare string
}

// UnusedGrants lists what perms grant and no request of used exercised,
// one per verb. A watch counts as a list too: client-go's informers list
// through a watch (watch-list) and fall back to a plain list when the
// server refuses one.
func UnusedGrants(perms []Permission, used []Request) []UnusedGrant {
	var unused []UnusedGrant
	for _, p := range perms {
		for _, res := range p.Resources {
			for _, verb := range p.Verbs {
				if !slices.ContainsFunc(used, func(r Request) bool { return p.grants(r, res, verb) }) {
					grant := p.Group + "/" + res + " " + verb
					if len(p.Names) > 0 {
						grant += " " + fmt.Sprint(p.Names)
					}
					unused = append(unused, UnusedGrant{Grant: grant, Rare: p.Rare})
				}
			}
		}
	}
	return unused
}

// grants reports whether r is a request for verb on resource that p
// allows.
func (p Permission) grants(r Request, resource, verb string) bool {
	verbMatches := r.Verb == verb || verb == "list" && r.Verb == "watch"
	return verbMatches && r.Group == p.Group && r.Resource == resource &&
		(len(p.Names) == 0 || slices.Contains(p.Names, r.Name)) && (!p.Namespaced || r.Namespace != "")
}
