package k8s

import (
	"crypto/sha256"
	"encoding/hex"

	"k8s.io/apimachinery/pkg/util/validation"
)

// labelHashLen is how many hex digits of a SHA-256 end a shortened label
// value: 40 bits, enough to keep the nodes of one cluster apart.
const labelHashLen = 10

// LabelValue returns s if it is a valid label value, and otherwise a valid
// label value derived from it: its first characters, a dash and a hash of
// the whole. Node names may have up to 253 characters; label values at most
// 63. The result is the same for the same s, so objects labelled with it
// are found again with a label selector.
func LabelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	hash := hex.EncodeToString(sum[:])[:labelHashLen]
	prefix := []byte{}
	for i := 0; i < len(s) && len(prefix) < validation.LabelValueMaxLength-labelHashLen-1; i++ {
		if c := s[i]; isLabelChar(c) && (len(prefix) > 0 || isAlphanumeric(c)) {
			prefix = append(prefix, c)
		}
	}
	if len(prefix) == 0 {
		return hash
	}
	return string(prefix) + "-" + hash
}

func isAlphanumeric(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isLabelChar(c byte) bool {
	return isAlphanumeric(c) || c == '-' || c == '_' || c == '.'
}
