// Command build-images writes ironlb's images as docker-archives, OUT/controller.tar and OUT/speaker.tar,
// from the static binaries in BIN, and prints each image's digest and size. `make images` runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ironlb/ironlb/internal/imagebuild"
	"github.com/ironlb/ironlb/internal/images"
	"github.com/ironlb/ironlb/internal/version"
)

func main() {
	binDir := flag.String("bin", "bin", "directory holding the controller and speaker binaries")
	outDir := flag.String("out", "dist", "directory the archives are written to")
	revision := flag.String("revision", version.Revision, "source commit stamped into the images' labels")
	flag.Parse()
	if err := build(*binDir, *outDir, *revision); err != nil {
		fmt.Fprintln(os.Stderr, "build-images:", err)
		os.Exit(1)
	}
}

func build(binDir, outDir, revision string) error {
	if revision == "" {
		return fmt.Errorf("no source revision: pass -revision or build with the Makefile's -ldflags")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, component := range images.Components {
		spec := images.Spec(component, binDir, revision)
		archive := filepath.Join(outDir, component+".tar")
		if err := imagebuild.WriteDockerArchive(archive, spec); err != nil {
			return err
		}
		summary, err := imagebuild.Describe(archive, spec.Ref)
		if err != nil {
			return err
		}
		fmt.Printf("%s  %s\n", archive, summary)
	}
	return nil
}
