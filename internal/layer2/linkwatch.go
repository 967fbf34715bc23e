package layer2

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
)

// After its subscription failed (the socket's buffer overran, say), the
// link watch subscribes again after resubscribeDelay; while subscribing
// itself fails, after twice as long each time, at most
// maxResubscribeDelay.
const (
	resubscribeDelay    = time.Second
	maxResubscribeDelay = time.Minute
)

// watchLinks reports on the returned channel that a link or an address of
// the current network namespace may have changed: each rtnetlink
// notification, and each failure of the subscription (notifications may
// have been lost), after which it subscribes again. The channel holds one
// report; reports that find it full are merged into it. It ends with ctx.
// onError receives the subscription's failures.
func watchLinks(ctx context.Context, onError func(error)) <-chan struct{} {
	changed := make(chan struct{}, 1)
	report := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	go func() {
		delay := resubscribeDelay
		for ctx.Err() == nil {
			if err := followNetlink(ctx, report, onError); err != nil {
				onError(err)
				delay = min(2*delay, maxResubscribeDelay)
			} else {
				delay = resubscribeDelay
			}
			report()
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
		}
	}()
	return changed
}

// followNetlink subscribes to link and address notifications and reports
// each one until ctx ends or either subscription fails.
func followNetlink(ctx context.Context, report func(), onError func(error)) error {
	done := make(chan struct{})
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	// Closing done closes the sockets; the receivers' failures that follow
	// are the stop, not errors, and they close the channels once they stop.
	var stopping atomic.Bool
	failed := func(err error) {
		if !stopping.Load() {
			onError(err)
		}
	}
	defer func() {
		stopping.Store(true)
		close(done)
		go drain(links)
		go drain(addrs)
	}()
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{ErrorCallback: failed}); err != nil {
		close(links)
		close(addrs)
		return err
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: failed}); err != nil {
		close(addrs)
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-links:
			if !ok {
				links = nil
				return nil
			}
			report()
		case _, ok := <-addrs:
			if !ok {
				addrs = nil
				return nil
			}
			report()
		}
	}
}

// drain reads ch until it is closed (a nil ch is already drained).
func drain[T any](ch chan T) {
	if ch == nil {
		return
	}
	for range ch {
	}
}
