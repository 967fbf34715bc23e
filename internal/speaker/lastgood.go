package speaker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ironlb/ironlb/internal/config"
)

// lastGoodFile is the file, under --state-dir, holding the objects of the
// last valid configuration, so that a speaker restarted while the
// configuration is refused serves that one instead of staying out. It holds
// the BGP password Secrets too: it is written with mode 0600.
const lastGoodFile = "last-good-configuration.json"

// saveLastGood writes res to dir atomically (a temporary file renamed); an
// empty dir saves nothing.
func saveLastGood(dir string, res config.Resources) error {
	if dir == "" {
		return nil
	}
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if err := writeStateFile(dir, lastGoodFile, data); err != nil {
		return fmt.Errorf("saving the last good configuration: %w", err)
	}
	return nil
}

// loadLastGood reads and builds the configuration saved in dir: nil and no
// error when dir is empty or holds none. The saved objects are judged again,
// by this version's rules.
func loadLastGood(dir string) (*config.Config, error) {
	if dir == "" {
		return nil, nil
	}
	path := filepath.Join(dir, lastGoodFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var res config.Resources
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg, err := config.Build(res)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
