package manifests

import (
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/speaker"
)

// graceMargin is what the grace period keeps beyond the speaker's stop
// budget: the kubelet's SIGTERM reaching the process and a loaded node
// scheduling it late.
const graceMargin = 2 * time.Second

// maxGrace keeps a hung speaker from holding a rolling update longer than
// Kubernetes' default grace period would.
const maxGrace = 30 * time.Second

// checkSpeakerGracePeriod: the kubelet must not SIGKILL a speaker during
// its graceful stop (speaker.StopBudget), so the grace period covers the
// budget with graceMargin to spare.
func checkSpeakerGracePeriod(t *testing.T, seconds *int64) {
	t.Helper()
	if seconds == nil {
		t.Fatal("speaker: no terminationGracePeriodSeconds")
	}
	grace := time.Duration(*seconds) * time.Second
	if grace < speaker.StopBudget+graceMargin {
		t.Errorf("speaker terminationGracePeriodSeconds %d: shorter than the graceful stop budget %s plus %s margin",
			*seconds, speaker.StopBudget, graceMargin)
	}
	if grace > maxGrace {
		t.Errorf("speaker terminationGracePeriodSeconds %d: longer than %s", *seconds, maxGrace)
	}
}
