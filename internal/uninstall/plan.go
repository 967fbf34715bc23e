// Package uninstall removes ironlb from its namespace without leaving what
// it wrote while it ran: `controller uninstall`, which the chart runs as a
// pre-delete hook of `helm uninstall`. It stops the speakers and the
// controller first, while their RBAC still exists, so that each speaker
// withdraws its status objects and the controller releases its Lease; then
// it deletes the state they leave: the memberlist and webhook Secrets, the
// Lease, the ConfigurationStates and any status object a speaker could not
// withdraw. The user's configuration and the CRDs stay.
//
// What to delete is decided by pure functions (Leftovers); Uninstaller
// applies them through the API.
package uninstall

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ironlb/ironlb/internal/controller"
	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/webhook"
)

// Resources the uninstall touches.
var (
	DaemonSets          = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}
	Deployments         = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	Secrets             = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	Leases              = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
	ConfigurationStates = schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "configurationstates"}
	ServiceL2Statuses   = schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "servicel2statuses"}
	ServiceBGPStatuses  = schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "servicebgpstatuses"}
)

// Object is one object of the namespace, by resource and name.
type Object struct {
	Resource schema.GroupVersionResource
	Name     string
}

// String names the object as kubectl does: "daemonsets.apps/speaker".
func (o Object) String() string {
	return o.Resource.GroupResource().String() + "/" + o.Name
}

// Workloads own ironlb's pods. They are deleted first, in the foreground:
// each is gone only once all its pods have stopped.
var Workloads = []Object{
	{DaemonSets, "speaker"},
	{Deployments, "controller"},
}

// StateKinds are the kinds only ironlb writes, at run time: every object of
// them in the namespace is its own, never the user's configuration.
var StateKinds = []schema.GroupVersionResource{ConfigurationStates, ServiceL2Statuses, ServiceBGPStatuses}

// namedState are the objects of kinds shared with the user that ironlb
// creates by name: the memberlist Secret the controller keeps (whatever
// Secret the speakers are told to mount: another name is the user's own),
// the webhook's serving certificate and the leader-election Lease.
var namedState = []Object{
	{Secrets, k8s.MemberlistSecret},
	{Secrets, webhook.DefaultSecretName},
	{Leases, controller.LeaseName},
}

// Leftovers is what to delete once the pods have stopped: the named state
// objects, and every object found of StateKinds (found maps a resource to
// the names a listing returned; other resources in it are ignored), in a
// stable order.
func Leftovers(found map[schema.GroupVersionResource][]string) []Object {
	objects := slices.Clone(namedState)
	for _, kind := range StateKinds {
		for _, name := range slices.Sorted(slices.Values(found[kind])) {
			objects = append(objects, Object{kind, name})
		}
	}
	return slices.CompactFunc(objects, func(a, b Object) bool { return a == b })
}

// names joins objects for a message.
func names(objects []Object) string {
	parts := make([]string, len(objects))
	for i, o := range objects {
		parts[i] = o.String()
	}
	return strings.Join(parts, ", ")
}
