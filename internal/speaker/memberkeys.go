package speaker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/members"
)

// The memberlist Secret holds the gossip key under secretkey, as MetalLB's
// does, and during a rotation further keys that are still (or already)
// accepted under secretkey.<anything>, e.g. secretkey.next or
// secretkey.previous (docs/layer2.md, "Rotating the memberlist key").
// Mounted as a volume, each is a file of that name.
const acceptedKeyPrefix = k8s.MemberlistSecretKey + "."

// savedKeysFile is the file, under --state-dir, holding the Secret's keys
// last installed, so that a speaker restarted while the Secret is deleted
// keeps the key the others use. Mode 0600.
const savedKeysFile = "memberlist-keys.json"

// errNoKeySecret says the Secret holds no key: it is deleted, not created
// yet, or empty.
var errNoKeySecret = fmt.Errorf("the Secret %s holds no %s", k8s.MemberlistSecret, k8s.MemberlistSecretKey)

// keysFromSecret turns the memberlist Secret's data (or its mounted files)
// into gossip keys: secretkey is the primary, every secretkey.<name> is
// accepted; other entries are ignored. Every key must pass DeriveKey.
func keysFromSecret(data map[string][]byte) (members.Keys, error) {
	primary, ok := data[k8s.MemberlistSecretKey]
	var acceptedNames []string
	for name := range data {
		if strings.HasPrefix(name, acceptedKeyPrefix) {
			acceptedNames = append(acceptedNames, name)
		}
	}
	if !ok {
		if len(acceptedNames) > 0 {
			return members.Keys{}, fmt.Errorf("the Secret %s has %s but no %s: the primary key is missing", k8s.MemberlistSecret, strings.Join(acceptedNames, ", "), k8s.MemberlistSecretKey)
		}
		return members.Keys{}, errNoKeySecret
	}
	var keys members.Keys
	var err error
	if keys.Primary, err = members.DeriveKey(primary); err != nil {
		return members.Keys{}, fmt.Errorf("the Secret %s, key %s: %w", k8s.MemberlistSecret, k8s.MemberlistSecretKey, err)
	}
	slices.Sort(acceptedNames)
	for _, name := range acceptedNames {
		key, err := members.DeriveKey(data[name])
		if err != nil {
			return members.Keys{}, fmt.Errorf("the Secret %s, key %s: %w", k8s.MemberlistSecret, name, err)
		}
		keys.Accepted = append(keys.Accepted, key)
	}
	return keys, nil
}

// startingKeys chooses the keys a starting speaker joins with: the mounted
// Secret's when it holds valid keys, else those saved by the previous run
// (the Secret was deleted: the others still use that key), else none.
func startingKeys(mounted, saved map[string][]byte) (members.Keys, error) {
	keys, mountedErr := keysFromSecret(mounted)
	if mountedErr == nil {
		return keys, nil
	}
	keys, savedErr := keysFromSecret(saved)
	if savedErr == nil {
		return keys, nil
	}
	return members.Keys{}, fmt.Errorf("no memberlist key: mounted Secret: %w; saved by the previous run: %v", mountedErr, savedErr)
}

// nextKeys decides what a running speaker does when it reads the mounted
// Secret: install its keys when they are valid and differ from current;
// keep current otherwise. A deleted Secret (errNoKeySecret) or an invalid
// one never takes the key away from a running speaker: the others still
// use it.
func nextKeys(current members.Keys, mounted map[string][]byte) (next members.Keys, changed bool, problem error) {
	keys, err := keysFromSecret(mounted)
	if err != nil {
		return current, false, err
	}
	return keys, !keys.Equal(current), nil
}

// readKeyDir reads the secretkey and secretkey.* files of a mounted Secret.
// The kubelet swaps a Secret volume's files at once through the ..data
// link; the files are read through the directory that link names, so one
// read never mixes two versions. A missing directory or one without key
// files gives an empty map: the Secret is deleted or optional and absent.
func readKeyDir(dir string) (map[string][]byte, error) {
	if target, err := os.Readlink(filepath.Join(dir, "..data")); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		dir = target
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{}
	for _, e := range entries {
		name := e.Name()
		if name != k8s.MemberlistSecretKey && !strings.HasPrefix(name, acceptedKeyPrefix) {
			continue
		}
		content, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		data[name] = content
	}
	return data, nil
}

// savedKeys is the content of savedKeysFile: the Secret's data and the
// installation it belongs to.
type savedKeys struct {
	// Installation is the UID of the speaker DaemonSet that saved the keys
	// (empty when unknown): the keys of an uninstalled ironlb must not
	// outlive it on the node, or the next installation's speakers would
	// start with a key its controller never saw.
	Installation string            `json:"installation,omitempty"`
	Keys         map[string][]byte `json:"keys"`
}

// errOtherInstallation says the saved keys belong to an earlier
// installation.
var errOtherInstallation = errors.New("saved by another installation")

// saveKeys keeps the Secret's data of the installed keys under dir, with
// the installation they belong to; an empty dir saves nothing.
func saveKeys(dir, installation string, data map[string][]byte) error {
	if dir == "" {
		return nil
	}
	raw, err := json.Marshal(savedKeys{Installation: installation, Keys: data})
	if err != nil {
		return err
	}
	if err := writeStateFile(dir, savedKeysFile, raw); err != nil {
		return fmt.Errorf("saving the memberlist keys: %w", err)
	}
	return nil
}

// loadSavedKeys returns the Secret's data saved under dir: empty when dir is
// empty or holds none, and empty with errOtherInstallation when another
// installation saved it. An unknown installation on either side (a file of
// an older speaker, a speaker run without --pod-name) does not refuse it.
func loadSavedKeys(dir, installation string) (map[string][]byte, error) {
	if dir == "" {
		return map[string][]byte{}, nil
	}
	path := filepath.Join(dir, savedKeysFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return map[string][]byte{}, err
	}
	var saved savedKeys
	if err := json.Unmarshal(raw, &saved); err != nil {
		return map[string][]byte{}, fmt.Errorf("%s: %w", path, err)
	}
	if saved.Keys == nil {
		// Written before the installation was recorded: the bare data.
		if err := json.Unmarshal(raw, &saved.Keys); err != nil {
			return map[string][]byte{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	if saved.Installation != "" && installation != "" && saved.Installation != installation {
		return map[string][]byte{}, fmt.Errorf("%s: %w (speaker DaemonSet UID %s; this one is %s): ignored", path, errOtherInstallation, saved.Installation, installation)
	}
	return saved.Keys, nil
}
