package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CommunitySpec is a list of named BGP community values.
type CommunitySpec struct {
	// Communities are the aliases this object defines.
	// +optional
	Communities []CommunityAlias `json:"communities,omitempty"`
}

// CommunityAlias names a BGP community value so that BGPAdvertisements can
// refer to it by name.
type CommunityAlias struct {
	// Name of the alias, used in BGPAdvertisement.spec.communities.
	Name string `json:"name,omitempty"`

	// Value is a standard community ("65535:65282") or a large community
	// ("large:1:2:3").
	Value string `json:"value,omitempty"`
}

// CommunityStatus is empty.
type CommunityStatus struct{}

// Community defines aliases for BGP communities.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
type Community struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CommunitySpec   `json:"spec,omitempty"`
	Status CommunityStatus `json:"status,omitempty"`
}

// CommunityList is a list of Communities.
//
// +kubebuilder:object:root=true
type CommunityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Community `json:"items"`
}
