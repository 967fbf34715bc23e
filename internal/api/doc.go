// Package api holds the metallb.io API types that ironlb serves, in the same
// group, versions, field names and defaults as MetalLB so that existing
// MetalLB objects apply unchanged. The types live in the versioned
// sub-packages v1beta1 and v1beta2; deepcopy functions and CRD manifests are
// generated from them by controller-gen (see `make manifests`).
package api
