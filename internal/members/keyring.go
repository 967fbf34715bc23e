package members

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Keys is a member's gossip keyring: Primary encrypts what it sends; it and
// every Accepted key decrypt what it receives. During a rotation a member
// accepts the old and the new key, so members that switched their primary
// and members that did not yet still understand each other.
type Keys struct {
	Primary  []byte
	Accepted [][]byte
}

// All returns the primary key followed by the accepted ones, without
// duplicates.
func (k Keys) All() [][]byte {
	if k.Primary == nil {
		return nil
	}
	all := [][]byte{k.Primary}
	for _, key := range k.Accepted {
		if !slices.ContainsFunc(all, func(have []byte) bool { return bytes.Equal(have, key) }) {
			all = append(all, key)
		}
	}
	return all
}

// Equal reports whether k and other have the same primary and accept the
// same keys, in any order.
func (k Keys) Equal(other Keys) bool {
	if !bytes.Equal(k.Primary, other.Primary) {
		return false
	}
	mine, theirs := k.All(), other.All()
	return len(mine) == len(theirs) && !slices.ContainsFunc(mine, func(key []byte) bool { return !containsKey(theirs, key) })
}

// Fingerprint names a key without revealing it: the first 8 hex digits of
// its SHA-256, for metrics and logs.
func Fingerprint(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// String lists the keys by fingerprint, primary first.
func (k Keys) String() string {
	var names []string
	for _, key := range k.All() {
		names = append(names, Fingerprint(key))
	}
	return "[" + strings.Join(names, " ") + "]"
}

// keyOp is one change of memberlist's keyring.
type keyOp int

const (
	addKey    keyOp = iota // accept the key
	useKey                 // encrypt with the key (it is accepted already)
	removeKey              // stop accepting the key (it is not the primary)
)

// keyStep is one call on memberlist's Keyring.
type keyStep struct {
	op  keyOp
	key []byte
}

// keyringSteps returns the Keyring calls that turn installed (primary first,
// as memberlist's Keyring.GetKeys returns them) into want, in an order that
// never stops accepting a key before the new primary is accepted: add the
// missing keys, switch the primary, then remove the keys no longer wanted,
// the last one first (memberlist removes the last key of its ring without
// moving the others).
func keyringSteps(installed [][]byte, want Keys) []keyStep {
	var steps []keyStep
	for _, key := range want.All() {
		if !containsKey(installed, key) {
			steps = append(steps, keyStep{addKey, key})
		}
	}
	if len(installed) == 0 || !bytes.Equal(installed[0], want.Primary) {
		steps = append(steps, keyStep{useKey, want.Primary})
	}
	wanted := want.All()
	for i := len(installed) - 1; i >= 0; i-- {
		if !containsKey(wanted, installed[i]) {
			steps = append(steps, keyStep{removeKey, installed[i]})
		}
	}
	return steps
}

func containsKey(keys [][]byte, key []byte) bool {
	return slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) })
}

// checkKeys refuses a keyring memberlist cannot use: no primary, or a key
// that is not an AES-256 key (DeriveKey makes those).
func checkKeys(k Keys) error {
	if k.Primary == nil {
		return errors.New("no primary key")
	}
	for _, key := range k.All() {
		if len(key) != 32 {
			return fmt.Errorf("key %s is %d bytes, want 32 (see DeriveKey)", Fingerprint(key), len(key))
		}
	}
	return nil
}

// Keys returns the keys installed now.
func (l *List) Keys() Keys {
	if l.ml == nil || l.keyring == nil {
		return Keys{}
	}
	installed := l.keyring.GetKeys()
	if len(installed) == 0 {
		return Keys{}
	}
	k := Keys{Primary: slices.Clone(installed[0])}
	for _, key := range installed[1:] {
		k.Accepted = append(k.Accepted, slices.Clone(key))
	}
	return k
}

// SetKeys installs want while the member runs: keys it lacks are accepted
// first, then its primary is switched, then keys no longer wanted are
// dropped. A member started without encryption cannot start encrypting.
func (l *List) SetKeys(want Keys) error {
	if l.keyring == nil {
		return fmt.Errorf("members: node %q runs without encryption: a key takes a restart", l.cfg.NodeName)
	}
	if err := checkKeys(want); err != nil {
		return fmt.Errorf("members: node %q: %w", l.cfg.NodeName, err)
	}
	l.keyMu.Lock()
	defer l.keyMu.Unlock()
	for _, step := range keyringSteps(l.keyring.GetKeys(), want) {
		var err error
		switch step.op {
		case addKey:
			err = l.keyring.AddKey(slices.Clone(step.key))
		case useKey:
			err = l.keyring.UseKey(step.key)
		case removeKey:
			err = l.keyring.RemoveKey(step.key)
		}
		if err != nil {
			return fmt.Errorf("members: node %q installing keys %s: %w", l.cfg.NodeName, want, err)
		}
	}
	return nil
}
