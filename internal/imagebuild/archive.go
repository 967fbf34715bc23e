package imagebuild

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// writeArchive writes a docker-archive of the images at path, its entries dated at epoch. go-containerregistry computes its
// manifest.json; the entries are written here, in the images' given order, because its own writer
// ranges over a map and so orders the blobs of several images differently from run to run.
func writeArchive(path string, refs map[name.Reference]v1.Image, ordered []v1.Image, epoch time.Time) (err error) {
	manifest, err := tarball.ComputeManifest(refs)
	if err != nil {
		return err
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	tw := tar.NewWriter(tmp)
	written := map[string]bool{}
	for _, img := range ordered {
		if err := writeImageBlobs(tw, img, epoch, written); err != nil {
			return err
		}
	}
	if err := writeEntry(tw, "manifest.json", epoch, int64(len(manifestJSON)), bytes.NewReader(manifestJSON)); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp's 0600 would keep other users' runtimes out
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeImageBlobs writes an image's config and compressed layers under the names manifest.json gives
// them, skipping blobs already written.
func writeImageBlobs(tw *tar.Writer, img v1.Image, epoch time.Time, written map[string]bool) error {
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if !written[cfgName.String()] {
		written[cfgName.String()] = true
		if err := writeEntry(tw, cfgName.String(), epoch, int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
			return err
		}
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, layer := range layers {
		digest, err := layer.Digest()
		if err != nil {
			return err
		}
		entryName := digest.Hex + ".tar.gz"
		if written[entryName] {
			continue
		}
		written[entryName] = true
		size, err := layer.Size()
		if err != nil {
			return err
		}
		blob, err := layer.Compressed()
		if err != nil {
			return err
		}
		err = writeEntry(tw, entryName, epoch, size, blob)
		_ = blob.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func writeEntry(tw *tar.Writer, entryName string, epoch time.Time, size int64, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{Name: entryName, Mode: 0o644, Size: size, ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	n, err := io.Copy(tw, r)
	if err == nil && n != size {
		err = fmt.Errorf("%s: wrote %d bytes, want %d", entryName, n, size)
	}
	return err
}

// Describe reads the image tagged ref back from a docker-archive and summarises it: the image ID (its
// config's digest, what `ctr images ls` and `docker images` show), its manifest digest and the sizes of
// its layer, compressed and as unpacked.
func Describe(archive, ref string) (string, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return "", err
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		return "", err
	}
	id, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	var compressed, unpacked int64
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			return "", err
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return "", err
		}
		n, err := io.Copy(io.Discard, rc)
		_ = rc.Close()
		if err != nil {
			return "", err
		}
		compressed, unpacked = compressed+size, unpacked+n
	}
	return fmt.Sprintf("%s id %s manifest %s layer %d bytes (%d unpacked)", ref, id, digest, compressed, unpacked), nil
}
