package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConfigurationResult is whether a component accepted the configuration.
//
// +kubebuilder:validation:Enum=Valid;Invalid;Unknown
type ConfigurationResult string

// The results a ConfigurationState reports.
const (
	// ConfigurationValid: the latest configuration was loaded.
	ConfigurationValid ConfigurationResult = "Valid"
	// ConfigurationInvalid: the latest configuration was refused; the
	// component keeps serving its last valid one, if it ever had one.
	ConfigurationInvalid ConfigurationResult = "Invalid"
	// ConfigurationUnknown: the component has not built a configuration yet.
	ConfigurationUnknown ConfigurationResult = "Unknown"
)

// ConfigurationStateStatus is one component's verdict on the configuration.
type ConfigurationStateStatus struct {
	// Result says whether the latest configuration was accepted.
	// +optional
	Result ConfigurationResult `json:"result,omitempty"`
	// ErrorSummary lists why the latest configuration was refused, one
	// "Kind namespace/name: field: problem" per line; empty when Valid.
	// +optional
	ErrorSummary string `json:"errorSummary,omitempty"`
	// Conditions: ConfigurationValid (True when the latest configuration was
	// loaded) and Stale (True while a refused configuration leaves the
	// component on its last valid one).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ConfigurationState reports whether one component, the controller or the
// speaker of one node, accepted the metallb.io configuration. The component
// writes it; it has no spec.
//
// Labels: metallb.io/component-type is "controller" or "speaker";
// metallb.io/node-name names the speaker's node.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Result",type=string,JSONPath=`.status.result`
// +kubebuilder:printcolumn:name="ErrorSummary",type=string,JSONPath=`.status.errorSummary`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ConfigurationState struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status ConfigurationStateStatus `json:"status,omitempty"`
}

// ConfigurationStateList is a list of ConfigurationStates.
//
// +kubebuilder:object:root=true
type ConfigurationStateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ConfigurationState `json:"items"`
}
