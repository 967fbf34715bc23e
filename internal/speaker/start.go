package speaker

import (
	"context"
	"errors"
	"fmt"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/configstate"
	"github.com/ironlb/ironlb/internal/k8s"
)

// awaitReadyToAnswer blocks until the speaker can answer for the addresses
// other speakers would hand it: the layer 2 responders have started and a
// valid configuration has arrived. Every configuration update is passed to
// onUpdate, refused ones included (so that they are reported while the
// speaker waits). It returns the first valid configuration, or an error if
// the responders failed; nil and no error when ctx ends first. lastGood, if
// not nil, is the last valid configuration of an earlier run: when the
// configuration is refused, it serves until a valid one comes, so that
// restarting speakers while an object is broken does not take their nodes
// out.
func awaitReadyToAnswer(ctx context.Context, respondersStarted <-chan struct{}, respondersDone <-chan error,
	updates <-chan k8s.ConfigUpdate, onUpdate func(k8s.ConfigUpdate), lastGood *config.Config) (*config.Config, error) {
	var cfg *config.Config
	started := respondersStarted
	for started != nil || cfg == nil {
		select {
		case <-ctx.Done():
			return nil, nil
		case err := <-respondersDone:
			if err == nil {
				err = errors.New("stopped")
			}
			return nil, fmt.Errorf("layer 2 announcer: %w", err)
		case <-started:
			started = nil
		case u := <-updates:
			onUpdate(u)
			switch {
			case u.Err == nil:
				cfg = u.Config
			case cfg == nil:
				cfg = lastGood
			}
		}
	}
	return cfg, nil
}

// configUpdated reports a configuration update (metrics, the speaker's
// ConfigurationState) and says whether it is valid.
func (s *Speaker) configUpdated(states *configstate.Reporter, u k8s.ConfigUpdate) bool {
	s.opts.Metrics.Client.ConfigBuilt(u.Err)
	states.Report(u.Err, u.Resources)
	if u.Err != nil {
		s.log.Error("configuration refused; the last valid configuration keeps serving", "err", u.Err)
		return false
	}
	if err := saveLastGood(s.opts.StateDir, u.Resources); err != nil {
		s.log.Warn("the last valid configuration will not survive a restart", "err", err)
	}
	return true
}
