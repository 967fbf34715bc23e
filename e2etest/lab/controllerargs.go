package lab

// StartControllerWith starts the controller like StartController, with extra
// flags after the lab's and Options.ControllerArgs: a flag given again here
// (e.g. --metrics-addr, --lb-class) overrides the earlier value. The extra
// flags apply to this start only (in pods mode they stay in the controller
// Deployment until the next StartController).
func (l *Lab) StartControllerWith(extra ...string) error {
	saved := l.opts.ControllerArgs
	defer func() { l.opts.ControllerArgs = saved }()
	l.opts.ControllerArgs = append(append([]string(nil), saved...), extra...)
	return l.StartController()
}
