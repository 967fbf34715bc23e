package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// SpeakerLogPath is the file with node i's speaker log: the process's log
// in process mode; in pods mode the logs of every speaker container that
// ran on the node, one after the other, copied there through the API
// server (pods/log) as they are written, so that they outlive the pods.
func (l *Lab) SpeakerLogPath(i int) string {
	if !l.opts.Pods {
		if p := l.Speaker(i); p != nil {
			return p.LogPath
		}
	}
	return filepath.Join(LogDir(l.repo), "speaker-"+NodeName(i)+".log")
}

// followSpeakerLogs copies, until ctx ends, the log of every speaker
// container on every node into SpeakerLogPath (pods mode).
func (l *Lab) followSpeakerLogs(ctx context.Context) {
	for i := 1; i <= len(l.kubeNodes); i++ {
		go l.followSpeakerLog(ctx, i)
	}
}

// followSpeakerLog follows the speaker containers of node i one after the
// other, each once (resuming a stream that breaks, also across an API
// server outage), appending their logs to SpeakerLogPath(i).
func (l *Lab) followSpeakerLog(ctx context.Context, i int) {
	f, err := os.OpenFile(l.SpeakerLogPath(i), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		l.logf("lab: speaker log of %s: %v", NodeName(i), err)
		return
	}
	defer f.Close()
	followed := map[string]bool{}
	for ctx.Err() == nil {
		if pod, id := l.unfollowedSpeaker(ctx, i, followed); id != "" {
			followed[id] = true
			if err := followResuming(ctx, l.containerLogOpener(pod), f, time.Second); err != nil && ctx.Err() == nil {
				fmt.Fprintf(f, "lab: following %s's log ended: %v\n", pod.Name, err)
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// unfollowedSpeaker returns a speaker pod on node i whose speaker container
// has started and is not in followed, and that container's ID.
func (l *Lab) unfollowedSpeaker(ctx context.Context, i int, followed map[string]bool) (*corev1.Pod, string) {
	pods, err := l.speakerPods(ctx, i)
	if err != nil {
		return nil, ""
	}
	for p := range pods {
		for _, s := range pods[p].Status.ContainerStatuses {
			if s.Name == "speaker" && s.ContainerID != "" && !followed[s.ContainerID] && s.State.Waiting == nil {
				return &pods[p], s.ContainerID
			}
		}
	}
	return nil, ""
}

// containerLogOpener opens, from its start, a followed stream of the log
// of pod's speaker container.
func (l *Lab) containerLogOpener(pod *corev1.Pod) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		return l.kube.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "speaker", Follow: true}).Stream(ctx)
	}
}

// followResuming copies a log into w until a stream of it ends cleanly (the
// container ended). open streams the log from its start; when a stream
// breaks or cannot be opened (an API server under load drops its
// connections; one stopped by StopAPIServer refuses them for minutes)
// followResuming opens another after pause and skips what it already
// copied, so that w gets every byte once. It gives up when the pod is gone
// or ctx ends.
func followResuming(ctx context.Context, open func(context.Context) (io.ReadCloser, error), w io.Writer, pause time.Duration) error {
	var copied int64
	for {
		n, err := copyFrom(ctx, open, w, copied)
		if err == nil || apierrors.IsNotFound(err) || ctx.Err() != nil {
			return err
		}
		copied = n
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// copyFrom opens a stream and copies it into w from byte offset on; it
// returns the offset reached.
func copyFrom(ctx context.Context, open func(context.Context) (io.ReadCloser, error), w io.Writer, offset int64) (int64, error) {
	stream, err := open(ctx)
	if err != nil {
		return offset, err
	}
	defer stream.Close()
	if _, err := io.CopyN(io.Discard, stream, offset); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // shorter than what was copied: not the container's end
		}
		return offset, err
	}
	n, err := io.Copy(w, stream)
	return offset + n, err
}
