package speaker

import (
	"os"
	"path/filepath"
)

// writeStateFile replaces dir/name with data atomically (a temporary file,
// mode 0600, renamed): a crash leaves the old file or the new one.
func writeStateFile(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}
