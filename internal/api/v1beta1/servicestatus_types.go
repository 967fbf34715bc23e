package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceL2StatusSpec is empty: the object only carries status.
type ServiceL2StatusSpec struct{}

// MetalLBServiceL2Status says which node announces a Service in layer 2 mode
// and on which interfaces.
type MetalLBServiceL2Status struct {
	// Node announcing the Service's addresses.
	// +optional
	Node string `json:"node,omitempty"`
	// ServiceName is the name of the announced Service.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// ServiceNamespace is the namespace of the announced Service.
	// +optional
	ServiceNamespace string `json:"serviceNamespace,omitempty"`
	// Interfaces the addresses are announced on.
	// +optional
	Interfaces []InterfaceInfo `json:"interfaces,omitempty"`
}

// InterfaceInfo names one network interface.
type InterfaceInfo struct {
	// Name of the interface, e.g. eth0.
	Name string `json:"name,omitempty"`
}

// ServiceL2Status reports the layer 2 announcement of one Service. The speaker
// of the announcing node owns it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Allocated Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Service Name",type=string,JSONPath=`.status.serviceName`
// +kubebuilder:printcolumn:name="Service Namespace",type=string,JSONPath=`.status.serviceNamespace`
type ServiceL2Status struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceL2StatusSpec    `json:"spec,omitempty"`
	Status MetalLBServiceL2Status `json:"status,omitempty"`
}

// ServiceL2StatusList is a list of ServiceL2Statuses.
//
// +kubebuilder:object:root=true
type ServiceL2StatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceL2Status `json:"items"`
}

// ServiceBGPStatusSpec is empty: the object only carries status.
type ServiceBGPStatusSpec struct{}

// MetalLBServiceBGPStatus says which peers one node advertises a Service to.
type MetalLBServiceBGPStatus struct {
	// Node advertising the Service's addresses.
	// +optional
	Node string `json:"node,omitempty"`
	// ServiceName is the name of the advertised Service.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// ServiceNamespace is the namespace of the advertised Service.
	// +optional
	ServiceNamespace string `json:"serviceNamespace,omitempty"`
	// Peers (BGPPeer names) the Service's routes are advertised to.
	// +optional
	Peers []string `json:"peers,omitempty"`
}

// ServiceBGPStatus reports the BGP advertisement of one Service from one node.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Service Name",type=string,JSONPath=`.status.serviceName`
// +kubebuilder:printcolumn:name="Service Namespace",type=string,JSONPath=`.status.serviceNamespace`
type ServiceBGPStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceBGPStatusSpec    `json:"spec,omitempty"`
	Status MetalLBServiceBGPStatus `json:"status,omitempty"`
}

// ServiceBGPStatusList is a list of ServiceBGPStatuses.
//
// +kubebuilder:object:root=true
type ServiceBGPStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceBGPStatus `json:"items"`
}
