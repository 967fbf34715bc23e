package ipam

import (
	"fmt"
	"net/netip"
	"strings"
)

// validateRequest checks that req is well formed and that its requested IPs
// fit its families and policy.
func validateRequest(req *Request) *Error {
	bad := func(reason Reason, format string, args ...any) *Error {
		return &Error{Reason: reason, Service: req.Service, Detail: fmt.Sprintf(format, args...)}
	}
	if req.Service == "" {
		return bad(BadRequest, "the service key is empty")
	}
	switch len(req.Families) {
	case 1:
	case 2:
		if req.Families[0] == req.Families[1] {
			return bad(BadRequest, "IP family %s is listed twice", req.Families[0])
		}
	default:
		return bad(BadRequest, "a service has one or two IP families, not %d", len(req.Families))
	}
	for _, f := range req.Families {
		if f != IPv4 && f != IPv6 {
			return bad(BadRequest, "unknown IP family %s", f)
		}
	}
	switch req.Policy {
	case SingleStack:
		if len(req.Families) != 1 {
			return bad(BadRequest, "SingleStack needs exactly one IP family")
		}
	case RequireDualStack:
		if len(req.Families) != 2 {
			return bad(BadRequest, "RequireDualStack needs both IP families")
		}
	case PreferDualStack:
	default:
		return bad(BadRequest, "unknown IP family policy %s", req.Policy)
	}

	ips := req.IPs
	if len(ips) == 0 {
		return nil
	}
	for _, ip := range ips {
		if err := checkAddr(ip); err != nil {
			return bad(BadRequest, "%v", err)
		}
	}
	if len(ips) > 2 {
		return bad(WrongFamily, "%d addresses requested, at most one per family", len(ips))
	}
	if len(ips) == 2 && FamilyOf(ips[0]) == FamilyOf(ips[1]) {
		return bad(WrongFamily, "%s and %s are both %s addresses, at most one per family", ips[0], ips[1], FamilyOf(ips[0]))
	}
	for _, ip := range ips {
		if !req.wants(FamilyOf(ip)) {
			return bad(WrongFamily, "%s is an %s address but the service's IP families are %s",
				ip, FamilyOf(ip), joinFamilies(req.Families))
		}
	}
	if req.Policy == RequireDualStack && len(ips) != 2 {
		return bad(WrongFamily, "RequireDualStack needs one IPv4 and one IPv6 address, only %s is requested", ips[0])
	}
	return nil
}

// validateRestore checks a restore: a well-formed service key and at most one
// valid address per family.
func validateRestore(req *Request, ips []netip.Addr) *Error {
	bad := func(format string, args ...any) *Error {
		return &Error{Reason: BadRequest, Service: req.Service, Detail: fmt.Sprintf(format, args...)}
	}
	if req.Service == "" {
		return bad("the service key is empty")
	}
	if len(ips) == 0 || len(ips) > 2 {
		return bad("a status holds one or two addresses, not %d", len(ips))
	}
	for _, ip := range ips {
		if err := checkAddr(ip); err != nil {
			return bad("%v", err)
		}
	}
	if len(ips) == 2 && FamilyOf(ips[0]) == FamilyOf(ips[1]) {
		return bad("%s and %s are both %s addresses", ips[0], ips[1], FamilyOf(ips[0]))
	}
	return nil
}

func joinFamilies(families []Family) string {
	names := make([]string, len(families))
	for i, f := range families {
		names[i] = f.String()
	}
	return strings.Join(names, " and ")
}
