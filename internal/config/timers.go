package config

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxTimer is the longest BGP timer: hold times travel in a 16-bit field of
// OPEN (RFC 4271 §4.2).
const maxTimer = 65535 * time.Second

// timerError names the field of a refused timer.
type timerError struct {
	field, message string
}

// sessionTimers resolves a BGPPeer's holdTime and keepaliveTime as MetalLB
// does: neither set gives DefaultHoldTime and a third of it; only holdTime
// set gives a keepalive of a third of it; only keepaliveTime set gives a
// hold time of three times it. The hold time, truncated to whole seconds,
// must be 0 or at least 3s, and the keepalive must not be longer than the
// hold time (equal is accepted, as MetalLB does). Both results are whole
// seconds, truncated, because BGP carries its timers in seconds: a derived
// keepalive of 3.333s is 3s.
func sessionTimers(hold, keepalive *metav1.Duration) (time.Duration, time.Duration, *timerError) {
	holdTime, keepaliveTime := DefaultHoldTime, DefaultHoldTime/3
	switch {
	case hold != nil && keepalive != nil:
		holdTime, keepaliveTime = hold.Duration, keepalive.Duration
	case hold != nil:
		holdTime, keepaliveTime = hold.Duration, hold.Duration/3
	case keepalive != nil:
		holdTime, keepaliveTime = 3*keepalive.Duration, keepalive.Duration
	}
	holdTime, keepaliveTime = holdTime.Truncate(time.Second), keepaliveTime.Truncate(time.Second)
	switch {
	case (holdTime < 0 || holdTime > 0 && holdTime < minHoldTime || holdTime > maxTimer) && hold == nil:
		return 0, 0, &timerError{"spec.keepaliveTime", fmt.Sprintf("gives a hold time (three times the keepalive) of %s; it must be 0 or between 3s and 65535s", holdTime)}
	case holdTime < 0 || holdTime > 0 && holdTime < minHoldTime || holdTime > maxTimer:
		return 0, 0, &timerError{"spec.holdTime", fmt.Sprintf("must be 0 or between 3s and 65535s, got %s", holdTime)}
	case keepaliveTime < 0:
		return 0, 0, &timerError{"spec.keepaliveTime", fmt.Sprintf("must not be negative, got %s", keepaliveTime)}
	case keepaliveTime > holdTime:
		return 0, 0, &timerError{"spec.keepaliveTime", fmt.Sprintf("%s is longer than holdTime %s", keepaliveTime, holdTime)}
	}
	return holdTime, keepaliveTime, nil
}

// connectTime resolves a BGPPeer's connectTime, whole seconds between 1s and
// 65535s.
func connectTime(d *metav1.Duration) (time.Duration, *timerError) {
	t := DefaultConnectTime
	if d != nil {
		t = d.Duration.Truncate(time.Second)
	}
	if t < time.Second || t > maxTimer {
		return 0, &timerError{"spec.connectTime", fmt.Sprintf("must be between 1s and 65535s, got %s", durationText(d, t))}
	}
	return t, nil
}

// durationText shows the duration as written when there is one.
func durationText(d *metav1.Duration, resolved time.Duration) string {
	if d != nil {
		return d.Duration.String()
	}
	return resolved.String()
}
