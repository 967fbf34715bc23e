package speaker

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/members"
)

// falseFailoverThreshold is the shortest stall after which the other
// speakers may declare a member dead, with the shipped memberlist timing: a
// probe that finds the member stalled fails by the end of its probe
// interval, and the suspicion that follows lasts SuspicionMult probe
// intervals (below 10 members; it grows with log10 of their number) before
// the member is declared dead, unless it refuted it meanwhile. A member that
// resumes reads the suspicion waiting in its socket and refutes it at once.
func falseFailoverThreshold() time.Duration {
	cfg := members.DefaultConfig()
	return cfg.ProbeInterval + time.Duration(cfg.SuspicionMult)*cfg.ProbeInterval
}

// TestOwnerFrozen stops the owner's speaker process with SIGSTOP for 0.3,
// 1 and 3 s (SIGCONT after), as a node starved of CPU or a long GC pause
// would, recording who answers ARP for the Service's address every 100 ms
// at the client. Below falseFailoverThreshold no other node may answer (no
// false failover); above it another node takes the address over, and the
// time with two answerers after the owner resumes is measured. In every
// case the owner answers alone again afterwards, and the router's
// neighbour entry names it.
func TestOwnerFrozen(t *testing.T) {
	l := setup(t)
	ip := createService(t, l, "frozen")
	threshold := falseFailoverThreshold()
	t.Logf("documented false-failover threshold: %v", threshold)
	for _, stall := range []time.Duration{300 * time.Millisecond, time.Second, 3 * time.Second} {
		t.Run(stall.String(), func(t *testing.T) {
			ctx := t.Context()
			waitMembers(t, l)
			owner := waitSingleAnswerer(t, l, ip)
			neighborEntries(ctx, l, ip)
			lab.Eventually(t, 5*time.Second, "client and router resolve "+ip.String()+" to "+owner, func() error {
				return wantNeighbors(l, ip, owner)
			})
			pid, err := l.SpeakerContainerPID(ctx, nodeIndex(t, l, owner))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) }) //nolint:errcheck // resumed already unless the test failed
			tl := startTimeline(t, l, ip)
			time.Sleep(time.Second)

			stopped := time.Now()
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			time.Sleep(stall)
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			resumed := time.Now()

			var settled time.Time
			lab.Eventually(t, 20*time.Second, owner+" answers alone again and the router's entry names it", func() error {
				if err := l.EverySpeakerSeesAll(ctx); err != nil {
					return err
				}
				_, router, err := neighborsOf(l, ip)
				if err != nil {
					return err
				}
				if router != owner {
					return fmt.Errorf("the router's entry names %q", router)
				}
				settled = time.Now()
				return nil
			})
			time.Sleep(2 * time.Second)
			tl.stop()
			all := tl.summarize(stopped, time.Now())
			afterResume := tl.summarize(resumed, time.Now())
			t.Logf("%s frozen %v (SIGSTOP to SIGCONT %v): %s; after SIGCONT: two answerers %v, the router's entry named %s again after %v",
				owner, stall, resumed.Sub(stopped).Round(time.Millisecond), all.describe(stopped), afterResume.twoAnswerers, owner, since(resumed, settled))
			final := tl.summarize(settled.Add(time.Second), time.Now())
			if others := final.others(owner); len(others) > 0 {
				t.Errorf("after the owner resumed and settled, %v still answered: %s", others, final.describe(resumed))
			}
			if stall < threshold {
				if others := all.others(owner); len(others) > 0 {
					t.Errorf("false failover: %v answered for %s while %s was frozen %v, below the threshold %v: %s",
						others, ip, owner, stall, threshold, all.describe(stopped))
				}
			}
		})
	}
}
