package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
// other, appending their logs to SpeakerLogPath(i). A stream that breaks
// while the container runs (the API server stopped, StopAPIServer) is
// taken up again from the second of the last line copied, so up to a
// second of lines may appear twice.
func (l *Lab) followSpeakerLog(ctx context.Context, i int) {
	f, err := os.OpenFile(l.SpeakerLogPath(i), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		l.logf("lab: speaker log of %s: %v", NodeName(i), err)
		return
	}
	defer f.Close()
	w := &timedWriter{w: f}
	followed := map[string]bool{}
	resume := map[string]time.Time{}
	for ctx.Err() == nil {
		if pod, id := l.unfollowedSpeaker(ctx, i, followed); id != "" {
			followed[id] = true
			if err := l.copyContainerLog(ctx, pod, w, resume[id]); err != nil && ctx.Err() == nil {
				fmt.Fprintf(f, "lab: following %s's log broke: %v; taking it up again\n", pod.Name, err)
				delete(followed, id)
				resume[id] = w.last
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// timedWriter records when it last wrote.
type timedWriter struct {
	w    io.Writer
	last time.Time
}

func (t *timedWriter) Write(p []byte) (int, error) {
	t.last = time.Now()
	return t.w.Write(p)
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

// copyContainerLog streams the speaker container's log of pod into w,
// from since (the start if zero), until the container ends.
func (l *Lab) copyContainerLog(ctx context.Context, pod *corev1.Pod, w io.Writer, since time.Time) error {
	opts := &corev1.PodLogOptions{Container: "speaker", Follow: true}
	if !since.IsZero() {
		opts.SinceTime = &metav1.Time{Time: since}
	}
	stream, err := l.kube.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, opts).Stream(ctx)
	if err != nil {
		return err
	}
	defer stream.Close()
	_, err = io.Copy(w, stream)
	return err
}
