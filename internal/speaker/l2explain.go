package speaker

import (
	"context"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/election"
	"github.com/ironlb/ironlb/internal/k8s"
)

// maxExplainedNodes bounds the nodes named per reason in annotations and
// Events.
const maxExplainedNodes = 10

// explainElection adds an owned address's election to the annotations of
// its Service's ServiceL2Status (one per Service: the addresses of a
// dual-stack Service are explained together).
func explainElection(annotations map[string]string, a announce.L2Announcement) map[string]string {
	rule := k8s.L2RuleSubnet
	if a.AnyInterface {
		rule = k8s.L2RuleAnyInterface
	}
	why := election.Explain(a.Rejected, maxExplainedNodes)
	if annotations == nil {
		return map[string]string{k8s.AnnotationL2Rule: rule, k8s.AnnotationL2NotEligible: why}
	}
	if rule == k8s.L2RuleAnyInterface {
		annotations[k8s.AnnotationL2Rule] = rule
	}
	if why != "" && why != annotations[k8s.AnnotationL2NotEligible] {
		if annotations[k8s.AnnotationL2NotEligible] != "" {
			why = annotations[k8s.AnnotationL2NotEligible] + " | " + a.IP.String() + ": " + why
		}
		annotations[k8s.AnnotationL2NotEligible] = why
	}
	return annotations
}

// annotateL2 writes the election's annotations on this node's
// ServiceL2Status of a Service.
func (w *statusWriter) annotateL2(ctx context.Context, namespace, name string, annotations map[string]string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return err
	}
	return w.clients.MetalLBv1beta1.Patch(types.MergePatchType).Namespace(w.namespace).Resource("servicel2statuses").
		Name(w.objectName("l2", namespace, name)).Body(patch).Do(ctx).Error()
}

// unownedMessages returns, per Service, the Event message explaining why no
// node announces its addresses.
func unownedMessages(unowned []announce.L2Unowned) map[string]string {
	out := map[string]string{}
	for _, u := range unowned {
		msg := "no node may announce " + u.IP.String() + " in layer 2: " + election.Explain(u.Rejected, maxExplainedNodes)
		if out[u.Service] != "" {
			msg = out[u.Service] + "; " + msg
		}
		out[u.Service] = msg
	}
	return out
}

// reportUnowned writes a Warning Event on each Service no node may announce,
// once per explanation: again only when the explanation changes, or after
// the Service was announced in between.
func (w *statusWriter) reportUnowned(unowned []announce.L2Unowned) {
	messages := unownedMessages(unowned)
	for key, msg := range messages {
		if w.reported[key] == msg {
			continue
		}
		namespace, name, _ := cache.SplitMetaNamespaceKey(key)
		svc, err := w.services.Services(namespace).Get(name)
		if err != nil {
			continue
		}
		w.recorder.Event(svc, corev1.EventTypeWarning, k8s.ReasonNoEligibleNode, msg)
		w.reported[key] = msg
	}
	for key := range w.reported {
		if _, still := messages[key]; !still {
			delete(w.reported, key)
		}
	}
}
