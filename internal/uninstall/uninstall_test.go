package uninstall

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

const testNamespace = "metallb-system"

// object is an unstructured object of apiVersion and kind.
func object(apiVersion, kind, namespace, name string) runtime.Object {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetNamespace(namespace)
	o.SetName(name)
	return o
}

// installed is a running ironlb with its run-time state, the user's
// configuration beside it, and another namespace's objects of the same
// names.
func installed() []runtime.Object {
	return []runtime.Object{
		object("apps/v1", "DaemonSet", testNamespace, "speaker"),
		object("apps/v1", "Deployment", testNamespace, "controller"),
		object("v1", "Secret", testNamespace, "memberlist"),
		object("v1", "Secret", testNamespace, "webhook-server-cert"),
		object("coordination.k8s.io/v1", "Lease", testNamespace, "ironlb-controller"),
		object("metallb.io/v1beta1", "ConfigurationState", testNamespace, "controller"),
		object("metallb.io/v1beta1", "ConfigurationState", testNamespace, "speaker-node1"),
		object("metallb.io/v1beta1", "ServiceL2Status", testNamespace, "l2-web-abcde"),
		object("metallb.io/v1beta1", "ServiceBGPStatus", testNamespace, "bgp-web-fghij"),
		// The user's.
		object("v1", "Secret", testNamespace, "bgp-password"),
		object("v1", "Secret", testNamespace, "my-memberlist-key"),
		object("metallb.io/v1beta1", "IPAddressPool", testNamespace, "default"),
		object("metallb.io/v1beta1", "L2Advertisement", testNamespace, "default"),
		// Another namespace.
		object("v1", "Secret", "other", "memberlist"),
		object("metallb.io/v1beta1", "ConfigurationState", "other", "controller"),
	}
}

var listKinds = map[schema.GroupVersionResource]string{
	ConfigurationStates: "ConfigurationStateList",
	ServiceL2Statuses:   "ServiceL2StatusList",
	ServiceBGPStatuses:  "ServiceBGPStatusList",
	{Group: "metallb.io", Version: "v1beta1", Resource: "ipaddresspools"}:   "IPAddressPoolList",
	{Group: "metallb.io", Version: "v1beta1", Resource: "l2advertisements"}: "L2AdvertisementList",
	Secrets:     "SecretList",
	DaemonSets:  "DaemonSetList",
	Deployments: "DeploymentList",
	Leases:      "LeaseList",
}

func newClient(objects ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, objects...)
}

// remaining lists what is left of each resource, as "namespace/resource/name".
func remaining(t *testing.T, client *dynamicfake.FakeDynamicClient) []string {
	t.Helper()
	var left []string
	for resource := range listKinds {
		list, err := client.Resource(resource).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range list.Items {
			left = append(left, item.GetNamespace()+"/"+resource.Resource+"/"+item.GetName())
		}
	}
	slices.Sort(left)
	return left
}

func newUninstaller(client *dynamicfake.FakeDynamicClient) *Uninstaller {
	return &Uninstaller{Client: client, Namespace: testNamespace, Timeout: time.Minute, Poll: time.Millisecond, Log: slog.New(slog.DiscardHandler)}
}

// TestRunLeavesOnlyTheUsersObjects: the workloads and the run-time state
// go, the user's configuration and Secrets and other namespaces stay; the
// workloads are deleted first, in the foreground, and the state only once
// they are gone.
func TestRunLeavesOnlyTheUsersObjects(t *testing.T) {
	client := newClient(installed()...)
	if err := newUninstaller(client).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"metallb-system/ipaddresspools/default", "metallb-system/l2advertisements/default",
		"metallb-system/secrets/bgp-password", "metallb-system/secrets/my-memberlist-key",
		"other/configurationstates/controller", "other/secrets/memberlist",
	}
	if got := remaining(t, client); !slices.Equal(got, want) {
		t.Errorf("left after the uninstall:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	var order []string
	for _, a := range client.Actions() {
		if d, ok := a.(clienttesting.DeleteActionImpl); ok {
			order = append(order, d.GetResource().Resource+"/"+d.GetName())
			if d.GetResource() == DaemonSets || d.GetResource() == Deployments {
				if p := d.DeleteOptions.PropagationPolicy; p == nil || *p != metav1.DeletePropagationForeground {
					t.Errorf("%s deleted with propagation %s, want Foreground: it must be gone only once its pods are", d.GetName(), ptr.Deref(p, "unset"))
				}
			}
		}
	}
	if len(order) < 2 || order[0] != "daemonsets/speaker" || order[1] != "deployments/controller" {
		t.Errorf("deletions in order %q, want the speaker DaemonSet and the controller Deployment first", order)
	}
}

// TestRunOnANamespaceAlreadyClean: nothing to delete is no error (a second
// `helm uninstall` after one that failed later on).
func TestRunOnANamespaceAlreadyClean(t *testing.T) {
	client := newClient(object("v1", "Secret", testNamespace, "bgp-password"))
	if err := newUninstaller(client).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := remaining(t, client); !slices.Equal(got, []string{"metallb-system/secrets/bgp-password"}) {
		t.Errorf("left: %q", got)
	}
}

// TestRunWhenPodsDoNotStop: a workload still there after the timeout (its
// pods on a node that is down) is named in the error, and the state is
// removed all the same.
func TestRunWhenPodsDoNotStop(t *testing.T) {
	client := newClient(installed()...)
	// The DaemonSet waits for pods that never stop: its deletion does not
	// remove it.
	client.PrependReactor("delete", "daemonsets", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, nil
	})
	u := newUninstaller(client)
	u.Timeout = 50 * time.Millisecond
	err := u.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "daemonsets.apps/speaker in metallb-system still there after 50ms") {
		t.Fatalf("error %v, want one naming the speaker DaemonSet", err)
	}
	left := remaining(t, client)
	for _, gone := range []string{"metallb-system/secrets/memberlist", "metallb-system/leases/ironlb-controller", "metallb-system/servicel2statuses/l2-web-abcde"} {
		if slices.Contains(left, gone) {
			t.Errorf("%s left although the speakers could not withdraw it", gone)
		}
	}
}

// TestRunReportsAFailedDeletion: a deletion the API refuses is reported
// with the object's name, and the others still happen.
func TestRunReportsAFailedDeletion(t *testing.T) {
	client := newClient(installed()...)
	client.PrependReactor("delete", "leases", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("forbidden")
	})
	err := newUninstaller(client).Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "deleting leases.coordination.k8s.io/ironlb-controller in metallb-system: forbidden") {
		t.Fatalf("error %v, want one naming the Lease", err)
	}
	if left := remaining(t, client); slices.Contains(left, "metallb-system/secrets/memberlist") {
		t.Error("the memberlist Secret is left: one refusal stopped the rest")
	}
}
