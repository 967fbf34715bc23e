package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPAdvertisementSpec says which pools are advertised over BGP, to which
// peers, from which nodes and with which attributes.
type BGPAdvertisementSpec struct {
	// AggregationLength is the prefix length advertised for IPv4 addresses:
	// 32 advertises each address on its own; a shorter length advertises
	// the covering prefix. It may not be shorter than any CIDR of the pools
	// advertised.
	// +optional
	// +kubebuilder:default:=32
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=32
	AggregationLength *int32 `json:"aggregationLength,omitempty"`

	// AggregationLengthV6 is the same as AggregationLength for IPv6.
	// +optional
	// +kubebuilder:default:=128
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	AggregationLengthV6 *int32 `json:"aggregationLengthV6,omitempty"`

	// LocalPref is the BGP LOCAL_PREF attribute, sent to iBGP peers only.
	// +optional
	LocalPref uint32 `json:"localPref,omitempty"`

	// Communities attached to the routes: "65535:65282" (standard),
	// "large:1:2:3" (large), or the name of an alias from a Community object.
	// +optional
	Communities []string `json:"communities,omitempty"`

	// IPAddressPools names the pools advertised. Empty together with
	// IPAddressPoolSelectors means every pool.
	// +optional
	IPAddressPools []string `json:"ipAddressPools,omitempty"`

	// IPAddressPoolSelectors select pools by label.
	// +optional
	IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`

	// NodeSelectors limit the nodes that advertise. Empty means all.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Peers names the BGPPeers the routes go to. Empty means every peer.
	// +optional
	Peers []string `json:"peers,omitempty"`

	// ServiceSelectors limit the Services advertised. Empty means all.
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// BGPAdvertisementStatus is empty: advertisement state is reported per
// Service and node in ServiceBGPStatus objects.
type BGPAdvertisementStatus struct{}

// BGPAdvertisement advertises the addresses of some pools over BGP.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IPAddressPools",type=string,JSONPath=`.spec.ipAddressPools`
// +kubebuilder:printcolumn:name="IPAddressPool Selectors",type=string,JSONPath=`.spec.ipAddressPoolSelectors`
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.peers`
// +kubebuilder:printcolumn:name="Node Selectors",type=string,JSONPath=`.spec.nodeSelectors`,priority=10
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPAdvertisementSpec   `json:"spec,omitempty"`
	Status BGPAdvertisementStatus `json:"status,omitempty"`
}

// BGPAdvertisementList is a list of BGPAdvertisements.
//
// +kubebuilder:object:root=true
type BGPAdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPAdvertisement `json:"items"`
}
