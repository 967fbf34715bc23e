package speaker

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/internal/members"
)

var (
	secretOld = []byte("the old memberlist secret, as base64 text")
	secretNew = []byte("the new memberlist secret, as base64 text")
)

func derived(t *testing.T, secret []byte) []byte {
	t.Helper()
	k, err := members.DeriveKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeysFromSecret(t *testing.T) {
	oldKey, newKey := derived(t, secretOld), derived(t, secretNew)
	tests := []struct {
		name    string
		data    map[string][]byte
		want    members.Keys
		wantErr string
	}{
		{"MetalLB's Secret: secretkey alone", map[string][]byte{"secretkey": secretOld}, members.Keys{Primary: oldKey}, ""},
		{"rotation: a further accepted key", map[string][]byte{"secretkey": secretOld, "secretkey.next": secretNew},
			members.Keys{Primary: oldKey, Accepted: [][]byte{newKey}}, ""},
		{"other entries ignored", map[string][]byte{"secretkey": secretOld, "..data": []byte("x"), "notes": []byte("x")},
			members.Keys{Primary: oldKey}, ""},
		{"deleted or empty", map[string][]byte{}, members.Keys{}, "holds no secretkey"},
		{"accepted key without a primary", map[string][]byte{"secretkey.previous": secretOld}, members.Keys{}, "primary key is missing"},
		{"short primary", map[string][]byte{"secretkey": []byte("short")}, members.Keys{}, "key secretkey: memberlist secret key is 5 bytes"},
		{"short accepted key", map[string][]byte{"secretkey": secretOld, "secretkey.next": []byte("short")}, members.Keys{}, "key secretkey.next"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keysFromSecret(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("keys %s, err %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestStartingKeys(t *testing.T) {
	oldKey, newKey := derived(t, secretOld), derived(t, secretNew)
	valid := func(s []byte) map[string][]byte { return map[string][]byte{"secretkey": s} }
	invalid := map[string][]byte{"secretkey": []byte("short")}
	tests := []struct {
		name           string
		mounted, saved map[string][]byte
		want           members.Keys
	}{
		{"the mounted Secret wins", valid(secretNew), valid(secretOld), members.Keys{Primary: newKey}},
		{"Secret deleted: the previous run's keys", map[string][]byte{}, valid(secretOld), members.Keys{Primary: oldKey}},
		{"Secret invalid: the previous run's keys", invalid, valid(secretOld), members.Keys{Primary: oldKey}},
		{"first start", valid(secretNew), map[string][]byte{}, members.Keys{Primary: newKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := startingKeys(tt.mounted, tt.saved)
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("keys %s, err %v; want %s", got, err, tt.want)
			}
		})
	}
	if _, err := startingKeys(map[string][]byte{}, map[string][]byte{}); err == nil || !errors.Is(err, errNoKeySecret) {
		t.Fatalf("no Secret, nothing saved: error %v, want errNoKeySecret", err)
	}
}

func TestNextKeys(t *testing.T) {
	oldKey, newKey := derived(t, secretOld), derived(t, secretNew)
	current := members.Keys{Primary: oldKey}
	tests := []struct {
		name        string
		mounted     map[string][]byte
		want        members.Keys
		changed     bool
		wantProblem bool
	}{
		{"unchanged", map[string][]byte{"secretkey": secretOld}, current, false, false},
		{"new key accepted", map[string][]byte{"secretkey": secretOld, "secretkey.next": secretNew},
			members.Keys{Primary: oldKey, Accepted: [][]byte{newKey}}, true, false},
		{"Secret deleted: kept", map[string][]byte{}, current, false, true},
		{"Secret invalid: kept", map[string][]byte{"secretkey": []byte("short")}, current, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, problem := nextKeys(current, tt.mounted)
			if !got.Equal(tt.want) || changed != tt.changed || (problem != nil) != tt.wantProblem {
				t.Fatalf("nextKeys = %s, changed %v, problem %v; want %s, changed %v, problem %v", got, changed, problem, tt.want, tt.changed, tt.wantProblem)
			}
		})
	}
}

// TestReadKeyDirLikeTheKubelet lays a directory out as the kubelet does for
// a Secret volume — files in a timestamped directory, ..data pointing at
// it, the keys as links through ..data — and swaps it as the kubelet does.
func TestReadKeyDirLikeTheKubelet(t *testing.T) {
	dir := t.TempDir()
	version := func(name string, files map[string]string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		for f, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name, f), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		for f := range files {
			link := filepath.Join(dir, f)
			if _, err := os.Lstat(link); err != nil {
				if err := os.Symlink(filepath.Join("..data", f), link); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	version("..2026_12_06_07_00_00.1", map[string]string{"secretkey": "old"})
	got, err := readKeyDir(dir)
	if err != nil || len(got) != 1 || string(got["secretkey"]) != "old" {
		t.Fatalf("first version: %q, %v", got, err)
	}
	version("..2026_12_06_07_01_00.2", map[string]string{"secretkey": "new", "secretkey.previous": "old"})
	got, err = readKeyDir(dir)
	if err != nil || len(got) != 2 || string(got["secretkey"]) != "new" || string(got["secretkey.previous"]) != "old" {
		t.Fatalf("second version: %q, %v", got, err)
	}
	// A deleted Secret on an optional volume: the kubelet empties it.
	version("..2026_12_06_07_02_00.3", map[string]string{})
	if got, err = readKeyDir(dir); err != nil || len(got) != 0 {
		t.Fatalf("emptied volume: %q, %v; want nothing", got, err)
	}
	if got, err = readKeyDir(filepath.Join(dir, "absent")); err != nil || len(got) != 0 {
		t.Fatalf("missing directory: %q, %v; want nothing", got, err)
	}
}

func TestSavedKeysRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if got, err := loadSavedKeys(dir, "ds-1"); err != nil || len(got) != 0 {
		t.Fatalf("nothing saved yet: %q, %v", got, err)
	}
	data := map[string][]byte{"secretkey": secretNew, "secretkey.previous": secretOld}
	if err := saveKeys(dir, "ds-1", data); err != nil {
		t.Fatal(err)
	}
	got, err := loadSavedKeys(dir, "ds-1")
	if err != nil || string(got["secretkey"]) != string(secretNew) || string(got["secretkey.previous"]) != string(secretOld) {
		t.Fatalf("loaded %q, %v", got, err)
	}
	info, err := os.Stat(filepath.Join(dir, savedKeysFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("saved file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	if err := saveKeys("", "ds-1", data); err != nil {
		t.Fatalf("no state dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, savedKeysFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSavedKeys(dir, "ds-1"); err == nil {
		t.Fatal("a corrupt file: want an error")
	}
}

// TestSavedKeysBelongToTheirInstallation: keys saved by the speakers of an
// uninstalled ironlb (another DaemonSet UID) are not used by the next
// installation, whose controller would never see their key; keys whose
// installation is unknown on either side still are.
func TestSavedKeysBelongToTheirInstallation(t *testing.T) {
	data := map[string][]byte{"secretkey": secretOld}
	tests := []struct {
		name        string
		saved       func(dir string) error
		loadingAs   string
		wantKeys    bool
		wantRefusal bool
	}{
		{"same DaemonSet", func(dir string) error { return saveKeys(dir, "ds-1", data) }, "ds-1", true, false},
		{"another DaemonSet", func(dir string) error { return saveKeys(dir, "ds-1", data) }, "ds-2", false, true},
		{"saved without a pod name", func(dir string) error { return saveKeys(dir, "", data) }, "ds-2", true, false},
		{"loaded without a pod name", func(dir string) error { return saveKeys(dir, "ds-1", data) }, "", true, false},
		{"the bare format of earlier speakers", func(dir string) error {
			raw, err := json.Marshal(data)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, savedKeysFile), raw, 0o600)
		}, "ds-2", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tt.saved(dir); err != nil {
				t.Fatal(err)
			}
			got, err := loadSavedKeys(dir, tt.loadingAs)
			if refused := errors.Is(err, errOtherInstallation); refused != tt.wantRefusal {
				t.Fatalf("error %v, want a refusal: %v", err, tt.wantRefusal)
			}
			if hasKeys := string(got["secretkey"]) == string(secretOld); hasKeys != tt.wantKeys {
				t.Fatalf("loaded %q, want the saved keys: %v", got, tt.wantKeys)
			}
		})
	}
}

func TestInstallationOf(t *testing.T) {
	pod := func(name, ownerUID string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if ownerUID != "" {
			p.OwnerReferences = []metav1.OwnerReference{
				{Kind: "Node", Name: "n", UID: "not-the-controller"},
				{Kind: "DaemonSet", Name: "speaker", UID: types.UID(ownerUID), Controller: ptr.To(true)},
			}
		}
		return p
	}
	pods := []*corev1.Pod{pod("speaker-a", "ds-1"), pod("speaker-b", "ds-2"), pod("static", "")}
	for podName, want := range map[string]string{"speaker-a": "ds-1", "speaker-b": "ds-2", "static": "", "gone": "", "": ""} {
		if got := installationOf(podName, pods); got != want {
			t.Errorf("installationOf(%q) = %q, want %q", podName, got, want)
		}
	}
}
