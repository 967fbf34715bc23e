package v1beta2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DynamicASNMode tells the speaker to learn the peer's ASN from its OPEN
// message instead of configuring it.
// +kubebuilder:validation:Enum=internal;external
type DynamicASNMode string

const (
	// InternalASNMode accepts a peer in the speaker's own AS (iBGP).
	InternalASNMode DynamicASNMode = "internal"
	// ExternalASNMode accepts a peer in any other AS (eBGP).
	ExternalASNMode DynamicASNMode = "external"
)

// BGPPeerSpec is the configuration of one BGP session, opened from every node
// its NodeSelectors select.
//
// +kubebuilder:validation:XValidation:rule="!has(self.peerASN) || self.peerASN == 0 || !has(self.dynamicASN)",message="peerASN and dynamicASN are mutually exclusive"
// +kubebuilder:validation:XValidation:rule="has(self.peerAddress) || has(self.interface)",message="one of peerAddress or interface is required"
type BGPPeerSpec struct {
	// MyASN is the AS number the speaker uses for this session.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	MyASN uint32 `json:"myASN"`

	// PeerASN is the AS number of the peer.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	PeerASN uint32 `json:"peerASN,omitempty"`

	// LocalASN, when set, is the AS number presented to this peer instead of
	// MyASN (the "local-as" of router configurations).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	LocalASN uint32 `json:"localASN,omitempty"`

	// DynamicASN learns the peer's AS number from the session instead of
	// PeerASN: "internal" for iBGP, "external" for eBGP.
	// +optional
	DynamicASN DynamicASNMode `json:"dynamicASN,omitempty"`

	// PeerAddress is the address of the peer.
	// +optional
	PeerAddress string `json:"peerAddress,omitempty"`

	// Interface names the node interface for an unnumbered (link-local)
	// session, instead of PeerAddress.
	// +optional
	Interface string `json:"interface,omitempty"`

	// SourceAddress is the local address the session is opened from.
	// +optional
	SourceAddress string `json:"sourceAddress,omitempty"`

	// PeerPort is the TCP port of the peer.
	// +optional
	// +kubebuilder:default:=179
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	PeerPort uint16 `json:"peerPort,omitempty"`

	// HoldTime is the BGP hold time; 0 or at least 3s.
	// +optional
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime is the interval between keepalives; at most HoldTime.
	// +optional
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// ConnectTime is the time between connection attempts.
	// +optional
	ConnectTime *metav1.Duration `json:"connectTime,omitempty"`

	// RouterID overrides the BGP router ID (by default the node's IPv4
	// address).
	// +optional
	RouterID string `json:"routerID,omitempty"`

	// NodeSelectors limit the nodes that open this session. Empty means all.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Password for TCP MD5 authentication of the session.
	// +optional
	Password string `json:"password,omitempty"`

	// PasswordSecret refers to a Secret of type kubernetes.io/basic-auth whose
	// "password" key holds the TCP MD5 password. Exclusive with Password.
	// +optional
	PasswordSecret corev1.SecretReference `json:"passwordSecret,omitempty"`

	// BFDProfile names the BFDProfile used for this session.
	// +optional
	BFDProfile string `json:"bfdProfile,omitempty"`

	// EnableGracefulRestart offers BGP graceful restart to the peer.
	// +optional
	EnableGracefulRestart bool `json:"enableGracefulRestart,omitempty"`

	// EBGPMultiHop allows the eBGP peer to be more than one hop away.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`

	// VRF is the VRF the session lives in.
	// +optional
	VRFName string `json:"vrf,omitempty"`

	// DisableMP carries each address family over a session of its own
	// family instead of multiprotocol BGP.
	// +optional
	DisableMP bool `json:"disableMP,omitempty"`

	// DualStackAddressFamily carries IPv4 and IPv6 routes over this one
	// session.
	// +optional
	DualStackAddressFamily bool `json:"dualStackAddressFamily,omitempty"`
}

// BGPPeerStatus is empty: session state is exposed as metrics.
type BGPPeerStatus struct{}

// BGPPeer is a BGP router the speakers peer with.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="ASN",type=string,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="BFD Profile",type=string,JSONPath=`.spec.bfdProfile`
// +kubebuilder:printcolumn:name="Multi Hops",type=string,JSONPath=`.spec.ebgpMultiHop`
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPPeerSpec   `json:"spec,omitempty"`
	Status BGPPeerStatus `json:"status,omitempty"`
}

// BGPPeerList is a list of BGPPeers.
//
// +kubebuilder:object:root=true
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}
