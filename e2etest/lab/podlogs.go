package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
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
// other, each once, appending their logs to SpeakerLogPath(i).
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
			if err := l.copyContainerLog(ctx, pod, f); err != nil && ctx.Err() == nil {
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

// copyContainerLog streams the speaker container's log of pod into w until
// the container ends.
func (l *Lab) copyContainerLog(ctx context.Context, pod *corev1.Pod, w io.Writer) error {
	stream, err := l.kube.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "speaker", Follow: true}).Stream(ctx)
	if err != nil {
		return err
	}
	defer stream.Close()
	_, err = io.Copy(w, stream)
	return err
}
