package speaker

import (
	"fmt"
	"slices"

	"github.com/ironlb/ironlb/internal/bfd"
	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/internal/configstate"
)

// bfdReport is what the speaker's ConfigurationState says of its BFD
// sessions (condition BFDSessionsUp, shown by `controller status`): per
// session, sorted by BGPPeer, its state and, when Up, the intervals
// negotiated as RFC 5880 §6.8 prescribes; else why it went down.
func bfdReport(sessions []bgp.BFDStatus) configstate.BFDReport {
	var report configstate.BFDReport
	for _, st := range sessions {
		line := fmt.Sprintf("%s %s: %s", st.Name, st.Address, st.State)
		switch {
		case st.State == bfd.StateUp:
			line += fmt.Sprintf(", transmit %v, detection %v", st.TxInterval, st.DetectionTime)
		case st.Diag != bfd.DiagNone:
			line += " (" + st.Diag.String() + ")"
		}
		if st.State != bfd.StateUp {
			report.NotUp++
		}
		report.Lines = append(report.Lines, line)
	}
	return report
}

// reportBFD hands the BFD sessions to the ConfigurationState when they
// changed since last reported.
func (s *Speaker) reportBFD(sessions []bgp.BFDStatus) {
	report := bfdReport(sessions)
	if s.configState == nil || (s.bfdReported != nil && slices.Equal(report.Lines, s.bfdReported.Lines)) {
		return
	}
	s.bfdReported = &report
	s.configState.ReportBFD(report)
}
