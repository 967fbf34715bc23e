package lab

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for scanner.Scan() {
		var event struct {
			User struct {
				Username string `json:"username"`
			} `json:"user"`
			Verb           string `json:"verb"`
			RequestURI     string `json:"requestURI"`
			Stage          string `json:"stage"`
			StageTimestamp string `json:"stageTimestamp"`
			ResponseStatus struct {
				Code   int    `json:"code"`
				Reason string `json:"reason"`
			} `json:"responseStatus"`
			Annotations map[string]string `json:"annotations"`
		}
		if err := json.Unmarshal(scanner.Bytes(), &event); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", path, err)
		}
		if !strings.HasPrefix(event.User.Username, userPrefix) {
			continue
		}
		audited++
		if event.ResponseStatus.Code != 403 {
			continue
		}
		events = append(events, AuditEvent{
			User: event.User.Username, Verb: event.Verb, RequestURI: event.RequestURI,
			Code: event.ResponseStatus.Code, Reason: event.ResponseStatus.Reason,
			Timestamp: event.StageTimestamp, Annotations: event.Annotations,
		})
	}
	return events, audited, scanner.Err()
}
