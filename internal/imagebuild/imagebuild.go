// Package imagebuild writes single-layer container images that hold static files (binaries), reproducibly.
//
// An image is an empty base plus one layer with the given files and the directories above them; every
// entry is owned by 0:0 and dated at the build epoch (SOURCE_DATE_EPOCH, or 0), the config's and history's
// timestamps too, so the same inputs give the same layer, config and manifest digests. The image format is
// go-containerregistry's; this package only decides what goes in.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one file placed in the image's layer.
type File struct {
	Path   string // absolute path inside the image, e.g. "/controller"
	Source string // file on the build host to copy
	Mode   int64  // e.g. 0o755
}

// Spec describes an image.
type Spec struct {
	Ref        string // e.g. "ghcr.io/ironlb/controller:v0.1.0"; the tag written into the archive
	Files      []File
	Dirs       []Dir // extra empty directories, e.g. a writable /tmp; parents of Files are added anyway
	Entrypoint []string
	Cmd        []string
	User       string // e.g. "65532:65532"; empty = root
	Env        []string
	Labels     map[string]string
	// Architecture is the GOARCH the files were built for; empty = the builder's own.
	Architecture string
}

// Dir is an empty directory placed in the image's layer.
type Dir struct {
	Path string // absolute path inside the image, e.g. "/tmp"
	Mode int64  // e.g. 0o1777
}

// WriteDockerArchive writes the images as one docker-archive tarball (loadable by `ctr -n k8s.io images import`,
// `docker load`, `kind load image-archive`), each tagged with its Ref. Same inputs → same bytes and same digests.
func WriteDockerArchive(path string, specs ...Spec) error {
	epoch, err := BuildEpoch()
	if err != nil {
		return err
	}
	refs := make(map[name.Reference]v1.Image, len(specs))
	var ordered []v1.Image
	for _, spec := range specs {
		tag, err := name.NewTag(spec.Ref, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("image %q: %w", spec.Ref, err)
		}
		if _, dup := refs[tag]; dup {
			return fmt.Errorf("image %q: given twice", spec.Ref)
		}
		img, err := Image(spec, epoch)
		if err != nil {
			return fmt.Errorf("image %q: %w", spec.Ref, err)
		}
		refs[tag] = img
		ordered = append(ordered, img)
	}
	return writeArchive(path, refs, ordered, epoch)
}

// BuildEpoch is the time stamped on every entry and in every config: SOURCE_DATE_EPOCH if set
// (https://reproducible-builds.org/specs/source-date-epoch/), else the Unix epoch.
func BuildEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	secs, err := strconv.ParseInt(s, 10, 64)
	if err != nil || secs < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative number of seconds", s)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// Image builds the single-layer image a Spec describes, dated at epoch.
func Image(spec Spec, epoch time.Time) (v1.Image, error) {
	layerTar, err := layerBytes(spec, epoch)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: epoch}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: created, CreatedBy: "ironlb imagebuild", Comment: strings.Join(filePaths(spec), " ")},
	})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = created
	cfg.OS = "linux"
	cfg.Architecture = spec.Architecture
	if cfg.Architecture == "" {
		cfg.Architecture = runtime.GOARCH
	}
	cfg.Config = v1.Config{
		Entrypoint: spec.Entrypoint,
		Cmd:        spec.Cmd,
		User:       spec.User,
		Env:        spec.Env,
		Labels:     spec.Labels,
	}
	return mutate.ConfigFile(img, cfg)
}

func filePaths(spec Spec) []string {
	paths := make([]string, 0, len(spec.Files))
	for _, f := range spec.Files {
		paths = append(paths, f.Path)
	}
	sort.Strings(paths)
	return paths
}

// layerEntry is one tar entry of the layer: a directory (source empty) or a file copied from source.
type layerEntry struct {
	name   string // without the leading slash, as tar layers spell it
	mode   int64
	dir    bool
	source string
}

// layerEntries lists what goes into the layer, sorted by name: the files, the extra directories and
// every directory above them (mode 0755 unless given).
func layerEntries(spec Spec) ([]layerEntry, error) {
	byName := map[string]layerEntry{}
	add := func(e layerEntry) error {
		if prev, ok := byName[e.name]; ok && (prev.dir != e.dir || !e.dir) {
			return fmt.Errorf("%q is given twice", "/"+e.name)
		}
		byName[e.name] = e
		return nil
	}
	clean := func(p string) (string, error) {
		if !path.IsAbs(p) || path.Clean(p) == "/" {
			return "", fmt.Errorf("path %q: want an absolute path below /", p)
		}
		return strings.TrimPrefix(path.Clean(p), "/"), nil
	}
	for _, d := range spec.Dirs {
		n, err := clean(d.Path)
		if err != nil {
			return nil, err
		}
		if err := add(layerEntry{name: n, mode: d.Mode, dir: true}); err != nil {
			return nil, err
		}
	}
	for _, f := range spec.Files {
		n, err := clean(f.Path)
		if err != nil {
			return nil, err
		}
		if err := add(layerEntry{name: n, mode: f.Mode, source: f.Source}); err != nil {
			return nil, err
		}
	}
	for n := range byName {
		for parent := path.Dir(n); parent != "."; parent = path.Dir(parent) {
			if e, ok := byName[parent]; ok && !e.dir {
				return nil, fmt.Errorf("%q is a file and a directory", "/"+parent)
			} else if !ok {
				byName[parent] = layerEntry{name: parent, mode: 0o755, dir: true}
			}
		}
	}
	entries := make([]layerEntry, 0, len(byName))
	for _, e := range byName {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	return entries, nil
}

// layerBytes is the uncompressed layer tar of a Spec: sorted entries owned by 0:0, dated at epoch.
func layerBytes(spec Spec, epoch time.Time) ([]byte, error) {
	entries, err := layerEntries(spec)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, ModTime: epoch}
		var content []byte
		if e.dir {
			hdr.Typeflag, hdr.Name = tar.TypeDir, e.name+"/"
		} else {
			if content, err = os.ReadFile(e.source); err != nil {
				return nil, err
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(content))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
