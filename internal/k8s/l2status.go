package k8s

// Annotations ironlb adds to the ServiceL2Status objects it writes (MetalLB's
// status schema has no room for them): how the owner was elected, read by
// `controller status`.
const (
	// AnnotationL2Rule is "subnet" when the owner has an interface whose
	// subnet contains the address, "any-interface" when no selected node
	// has one and the owner was elected as MetalLB does.
	AnnotationL2Rule = "ironlb.io/layer2-rule"
	// AnnotationL2NotEligible says which nodes could not own the address
	// and why (election.Explain).
	AnnotationL2NotEligible = "ironlb.io/layer2-not-eligible"
)

// The values of AnnotationL2Rule.
const (
	L2RuleSubnet       = "subnet"
	L2RuleAnyInterface = "any-interface"
)

// ReasonNoEligibleNode is the reason of the Warning Event a speaker writes
// on a Service when no node may announce one of its addresses in layer 2.
const ReasonNoEligibleNode = "NoEligibleNode"
