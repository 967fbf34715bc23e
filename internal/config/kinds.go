package config

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
)

// Object is a metallb.io configuration object.
type Object interface {
	metav1.Object
	runtime.Object
}

// Kind describes one of the kinds a configuration is built from: how the
// API names it and where Resources keeps its objects. Kinds is the one list
// of them; every component that reads, watches, decodes or judges the
// configuration goes through it.
type Kind struct {
	// Name is the kind as written in YAML and in errors.
	Name string
	// Version is the metallb.io version ironlb reads and writes.
	Version string
	// Resource is the kind's plural resource name in the API.
	Resource string
	// New returns an empty object of the kind.
	New func() Object
	// NewList returns an empty list of the kind, to decode an API list into.
	NewList func() runtime.Object
	// Objects returns res's objects of the kind, as pointers into res.
	Objects func(res *Resources) []Object
	// SetObjects replaces res's objects of the kind, and Add appends one;
	// each must be of the kind's type (as New returns): otherwise res is
	// left alone and the error says so.
	SetObjects func(res *Resources, objs []Object) error
	Add        func(res *Resources, obj Object) error
}

// Kinds are the configuration kinds, each after the kinds its objects refer
// to (a BGPPeer names a BFDProfile, advertisements name pools, peers and
// communities): the order in which to write them out or apply them.
var Kinds = []Kind{
	newKind(KindCommunity, "v1beta1", "communities", func() runtime.Object { return &v1beta1.CommunityList{} },
		func(res *Resources) *[]v1beta1.Community { return &res.Communities }),
	newKind(KindBFDProfile, "v1beta1", "bfdprofiles", func() runtime.Object { return &v1beta1.BFDProfileList{} },
		func(res *Resources) *[]v1beta1.BFDProfile { return &res.BFDProfiles }),
	newKind(KindBGPPeer, "v1beta2", "bgppeers", func() runtime.Object { return &v1beta2.BGPPeerList{} },
		func(res *Resources) *[]v1beta2.BGPPeer { return &res.Peers }),
	newKind(KindIPAddressPool, "v1beta1", "ipaddresspools", func() runtime.Object { return &v1beta1.IPAddressPoolList{} },
		func(res *Resources) *[]v1beta1.IPAddressPool { return &res.Pools }),
	newKind(KindL2Advertisement, "v1beta1", "l2advertisements", func() runtime.Object { return &v1beta1.L2AdvertisementList{} },
		func(res *Resources) *[]v1beta1.L2Advertisement { return &res.L2Advertisements }),
	newKind(KindBGPAdvertisement, "v1beta1", "bgpadvertisements", func() runtime.Object { return &v1beta1.BGPAdvertisementList{} },
		func(res *Resources) *[]v1beta1.BGPAdvertisement { return &res.BGPAdvertisements }),
}

// KindNamed returns the configuration kind called name.
func KindNamed(name string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// APIVersion is the kind's apiVersion, such as metallb.io/v1beta1.
func (k Kind) APIVersion() string {
	return v1beta1.GroupVersion.Group + "/" + k.Version
}

// SetFromList replaces res's objects of the kind with the items of list, a
// list returned by NewList.
func (k Kind) SetFromList(res *Resources, list runtime.Object) error {
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	objs := make([]Object, 0, len(items))
	for _, item := range items {
		obj, ok := item.(Object)
		if !ok {
			return fmt.Errorf("%s list holds a %T", k.Name, item)
		}
		objs = append(objs, obj)
	}
	return k.SetObjects(res, objs)
}

// CountObjects returns how many configuration objects res holds.
func CountObjects(res Resources) int {
	n := 0
	for _, k := range Kinds {
		n += len(k.Objects(&res))
	}
	return n
}

// newKind describes a kind whose objects are Ts, kept in *field(res).
func newKind[T any, PT interface {
	*T
	Object
}](name, version, resource string, newList func() runtime.Object, field func(*Resources) *[]T) Kind {
	return Kind{
		Name: name, Version: version, Resource: resource,
		New:     func() Object { return PT(new(T)) },
		NewList: newList,
		Objects: func(res *Resources) []Object {
			list := *field(res)
			out := make([]Object, len(list))
			for i := range list {
				out[i] = PT(&list[i])
			}
			return out
		},
		SetObjects: func(res *Resources, objs []Object) error {
			out := make([]T, 0, len(objs))
			for _, obj := range objs {
				typed, ok := obj.(PT)
				if !ok {
					return fmt.Errorf("a %T is not a %s", obj, name)
				}
				out = append(out, *typed)
			}
			*field(res) = out
			return nil
		},
		Add: func(res *Resources, obj Object) error {
			typed, ok := obj.(PT)
			if !ok {
				return fmt.Errorf("a %T is not a %s", obj, name)
			}
			*field(res) = append(*field(res), *typed)
			return nil
		},
	}
}
