package speaker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if got, err := loadSavedKeys(dir); err != nil || len(got) != 0 {
		t.Fatalf("nothing saved yet: %q, %v", got, err)
	}
	data := map[string][]byte{"secretkey": secretNew, "secretkey.previous": secretOld}
	if err := saveKeys(dir, data); err != nil {
		t.Fatal(err)
	}
	got, err := loadSavedKeys(dir)
	if err != nil || string(got["secretkey"]) != string(secretNew) || string(got["secretkey.previous"]) != string(secretOld) {
		t.Fatalf("loaded %q, %v", got, err)
	}
	info, err := os.Stat(filepath.Join(dir, savedKeysFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("saved file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	if err := saveKeys("", data); err != nil {
		t.Fatalf("no state dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, savedKeysFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSavedKeys(dir); err == nil {
		t.Fatal("a corrupt file: want an error")
	}
}
