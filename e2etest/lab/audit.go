package lab

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ironlb/ironlb/internal/k8s"
)

// controlPlaneDir holds the control plane's credentials, etcd's data and
// the audit policy.
var controlPlaneDir = filepath.Join(stateDir, "controlplane")

// auditLogPath is the API server's audit log: every request by a service
// account of IronLBNamespace, one JSON event per line.
var auditLogPath = filepath.Join(controlPlaneDir, "audit.log")

// auditPolicy records the metadata (user, verb, resource, response code) of
// every request by ironlb's service accounts and nothing else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts:` + IronLBNamespace + `"]
- level: None
`

// writeAuditPolicy writes auditPolicy into dir.
func writeAuditPolicy(dir string) error {
	return os.WriteFile(filepath.Join(dir, "audit-policy.yaml"), []byte(auditPolicy), 0o644)
}

// AuditEvent is one refused request from the API server's audit log.
type AuditEvent struct {
	User        string
	Verb        string
	RequestURI  string
	Code        int
	Reason      string
	Timestamp   string
	Annotations map[string]string
}

// String describes the event in one line.
func (e AuditEvent) String() string {
	return fmt.Sprintf("%s %s %s %s: %d %s (%s)", e.Timestamp, e.User, e.Verb, e.RequestURI, e.Code, e.Reason,
		e.Annotations["authorization.k8s.io/reason"])
}

// ForbiddenRequests returns every request by an ironlb service account
// (namespace IronLBNamespace) that the API server answered with 403 since
// the lab came up, and how many of their requests were audited in all (so
// a caller can tell an empty log from a clean one): with RBAC enforced, a
// 403 means the manifest grants too little.
func (l *Lab) ForbiddenRequests() (forbidden []AuditEvent, audited int, err error) {
	return readForbidden(auditLogPath, "system:serviceaccount:"+IronLBNamespace+":")
}

// readForbidden parses an audit log and returns the 403s of users whose
// name starts with userPrefix, and the number of those users' events.
func readForbidden(path, userPrefix string) (events []AuditEvent, audited int, err error) {
	err = scanAudit(path, userPrefix, func(event auditLine) {
		audited++
		if event.ResponseStatus.Code != 403 {
			return
		}
		events = append(events, AuditEvent{
			User: event.User.Username, Verb: event.Verb, RequestURI: event.RequestURI,
			Code: event.ResponseStatus.Code, Reason: event.ResponseStatus.Reason,
			Timestamp: event.StageTimestamp, Annotations: event.Annotations,
		})
	})
	return events, audited, err
}

// UsedRequests returns the requests each ironlb service account (by name:
// "controller", "speaker") made since the lab came up, as the API server
// audited them, once each, refused ones left out.
func (l *Lab) UsedRequests() (map[string][]k8s.Request, error) {
	return readUsed(auditLogPath, "system:serviceaccount:"+IronLBNamespace+":")
}

func readUsed(path, userPrefix string) (map[string][]k8s.Request, error) {
	used := map[string][]k8s.Request{}
	err := scanAudit(path, userPrefix, func(event auditLine) {
		if event.ResponseStatus.Code == 403 || event.ObjectRef.Resource == "" {
			return
		}
		ref := event.ObjectRef
		r := k8s.Request{Namespace: ref.Namespace, Group: ref.APIGroup, Resource: ref.Resource, Name: ref.Name, Verb: event.Verb}
		if ref.Subresource != "" {
			r.Resource += "/" + ref.Subresource
		}
		account := strings.TrimPrefix(event.User.Username, userPrefix)
		if !slices.Contains(used[account], r) {
			used[account] = append(used[account], r)
		}
	})
	return used, err
}

// auditLine is the part of an audit event the lab reads.
type auditLine struct {
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	Verb           string `json:"verb"`
	RequestURI     string `json:"requestURI"`
	StageTimestamp string `json:"stageTimestamp"`
	ObjectRef      struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"responseStatus"`
	Annotations map[string]string `json:"annotations"`
}

// scanAudit calls each with every event of the audit log at path by a
// user whose name starts with userPrefix; a missing log has none.
func scanAudit(path, userPrefix string, each func(auditLine)) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for scanner.Scan() {
		var event auditLine
		if err := json.Unmarshal(scanner.Bytes(), &event); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if strings.HasPrefix(event.User.Username, userPrefix) {
			each(event)
		}
	}
	return scanner.Err()
}
