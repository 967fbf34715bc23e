package election

import (
	"strconv"
	"strings"
)

// Explain renders rejections for people, grouped by reason in the order
// reasons are checked and naming at most maxNames nodes per reason:
// "NoInterface: node-b, node-c; NotMember: node-d (+2 more)". Status
// objects, Events and `controller status` all show this text.
func Explain(rejected []Rejection, maxNames int) string {
	byReason := make([][]string, len(reasonNames))
	for _, r := range rejected {
		if int(r.Reason) < len(byReason) {
			byReason[r.Reason] = append(byReason[r.Reason], r.Node)
		}
	}
	var b strings.Builder
	for reason, nodes := range byReason {
		if len(nodes) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(Reason(reason).String())
		b.WriteString(": ")
		b.WriteString(strings.Join(nodes[:min(len(nodes), maxNames)], ", "))
		if len(nodes) > maxNames {
			b.WriteString(" (+" + strconv.Itoa(len(nodes)-maxNames) + " more)")
		}
	}
	return b.String()
}
