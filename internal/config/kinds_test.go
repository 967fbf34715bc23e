package config

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
)

// TestKindsCoverResources: every list of objects in Resources has exactly
// one entry in Kinds, so a seventh kind cannot be added to Resources and be
// forgotten by the readers, watchers and judges that go through Kinds.
func TestKindsCoverResources(t *testing.T) {
	seen := map[reflect.Type]string{}
	for _, k := range Kinds {
		typ := reflect.TypeOf(k.New()).Elem()
		if prev, dup := seen[typ]; dup {
			t.Errorf("kinds %s and %s both hold %v", prev, k.Name, typ)
		}
		seen[typ] = k.Name
		if got := typ.Name(); got != k.Name {
			t.Errorf("kind %s holds objects of type %s", k.Name, got)
		}
		if k2, ok := KindNamed(k.Name); !ok || k2.Resource != k.Resource {
			t.Errorf("KindNamed(%q) = %v, %v", k.Name, k2.Resource, ok)
		}
	}
	res := reflect.TypeOf(Resources{})
	for i := range res.NumField() {
		f := res.Field(i)
		if f.Type.Kind() != reflect.Slice {
			continue
		}
		if _, ok := seen[f.Type.Elem()]; !ok {
			t.Errorf("Resources.%s (%v) has no entry in Kinds", f.Name, f.Type)
		}
		delete(seen, f.Type.Elem())
	}
	for typ, name := range seen {
		t.Errorf("kind %s (%v) is not a list in Resources", name, typ)
	}
	if _, ok := KindNamed("ServiceL2Status"); ok {
		t.Error("a status kind is taken for a configuration kind")
	}
}

func TestKindAccessors(t *testing.T) {
	res := Resources{Pools: []v1beta1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "a", UID: "1"}}}}
	pools, _ := KindNamed(KindIPAddressPool)
	peers, _ := KindNamed(KindBGPPeer)
	if peers.APIVersion() != "metallb.io/v1beta2" || pools.APIVersion() != "metallb.io/v1beta1" {
		t.Errorf("API versions %s, %s", pools.APIVersion(), peers.APIVersion())
	}

	b := pools.New()
	b.SetName("b")
	if err := pools.Add(&res, b); err != nil {
		t.Fatal(err)
	}
	peer := peers.New()
	peer.SetName("r")
	if err := peers.Add(&res, peer); err != nil {
		t.Fatal(err)
	}
	if err := peers.Add(&res, pools.New()); err == nil {
		t.Error("an IPAddressPool was added as a BGPPeer")
	}
	if names := objectNames(pools.Objects(&res)); !reflect.DeepEqual(names, []string{"a", "b"}) {
		t.Errorf("pools after Add = %v", names)
	}
	if CountObjects(res) != 3 {
		t.Errorf("CountObjects = %d, want 3", CountObjects(res))
	}

	if err := pools.SetObjects(&res, pools.Objects(&res)[1:]); err != nil {
		t.Fatal(err)
	}
	if len(res.Pools) != 1 || res.Pools[0].Name != "b" {
		t.Errorf("pools after SetObjects = %v", res.Pools)
	}

	list := &v1beta2.BGPPeerList{Items: []v1beta2.BGPPeer{{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, {ObjectMeta: metav1.ObjectMeta{Name: "y"}}}}
	if err := peers.SetFromList(&res, list); err != nil {
		t.Fatal(err)
	}
	if names := objectNames(peers.Objects(&res)); !reflect.DeepEqual(names, []string{"x", "y"}) {
		t.Errorf("peers from list = %v", names)
	}
	if err := peers.SetFromList(&res, &v1beta1.CommunityList{Items: []v1beta1.Community{{}}}); err == nil {
		t.Error("a list of another kind was accepted")
	}
}

func objectNames(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetName())
	}
	return out
}
