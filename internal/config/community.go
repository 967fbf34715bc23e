package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Community is a BGP community value: a standard community (RFC 1997),
// or a large community (RFC 8092) when Large is set.
type Community struct {
	// Large marks a large community; Standard is then unused.
	Large bool
	// Standard is the 32-bit value of a standard community (ASN<<16 | value).
	Standard uint32
	// Global, Local1 and Local2 are the three parts of a large community.
	Global, Local1, Local2 uint32
}

func (c Community) String() string {
	if c.Large {
		return fmt.Sprintf("large:%d:%d:%d", c.Global, c.Local1, c.Local2)
	}
	return fmt.Sprintf("%d:%d", c.Standard>>16, c.Standard&0xffff)
}

// ParseCommunity parses "65535:65282" (two 16-bit numbers) or
// "large:1:2:3" (three 32-bit numbers).
func ParseCommunity(s string) (Community, error) {
	if rest, ok := strings.CutPrefix(s, "large:"); ok {
		parts := strings.Split(rest, ":")
		if len(parts) != 3 {
			return Community{}, fmt.Errorf("invalid large community %q: want large:GLOBAL:LOCAL1:LOCAL2", s)
		}
		var nums [3]uint32
		for i, p := range parts {
			n, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return Community{}, fmt.Errorf("invalid large community %q: %q is not a 32-bit number", s, p)
			}
			nums[i] = uint32(n)
		}
		return Community{Large: true, Global: nums[0], Local1: nums[1], Local2: nums[2]}, nil
	}
	asn, value, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(value, ":") {
		return Community{}, fmt.Errorf("invalid community %q: want ASN:VALUE (16-bit numbers) or large:GLOBAL:LOCAL1:LOCAL2", s)
	}
	high, err := strconv.ParseUint(asn, 10, 16)
	if err != nil {
		return Community{}, fmt.Errorf("invalid community %q: %q is not a 16-bit number", s, asn)
	}
	low, err := strconv.ParseUint(value, 10, 16)
	if err != nil {
		return Community{}, fmt.Errorf("invalid community %q: %q is not a 16-bit number", s, value)
	}
	return Community{Standard: uint32(high)<<16 | uint32(low)}, nil
}
