package statusview

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/configstate"
)

// BFDSession is one BFD session of one node, as its speaker reports it in
// its ConfigurationState (condition BFDSessionsUp): BGPPeer, address,
// state and, when Up, the negotiated intervals.
type BFDSession struct {
	Node    string
	Session string
}

// bfdSessions lists the BFD sessions the speakers report, by node (their
// ConfigurationState's node label, else its name) and in the speakers' order.
func bfdSessions(states []v1beta1.ConfigurationState) []BFDSession {
	var out []BFDSession
	for _, st := range states {
		c := meta.FindStatusCondition(st.Status.Conditions, configstate.ConditionBFD)
		if c == nil || c.Message == "" {
			continue
		}
		node := st.Labels[configstate.LabelNode]
		if node == "" {
			node = st.Name
		}
		for line := range strings.SplitSeq(c.Message, "\n") {
			out = append(out, BFDSession{Node: node, Session: line})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// renderBFD prints the BFD sessions as a table below the Services', if any.
func renderBFD(w io.Writer, sessions []BFDSession) error {
	if len(sessions) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nNODE\tBFD SESSION")
	for _, s := range sessions {
		fmt.Fprintf(tw, "%s\t%s\n", s.Node, s.Session)
	}
	return tw.Flush()
}
