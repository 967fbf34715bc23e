package manifests

// For the chart's tests (package manifests_test): the RBAC expansion the
// manifest's test uses.
var (
	Grants = grants
	Expand = expand
)
