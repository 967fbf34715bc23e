// Command pause is the lab's pod sandbox image: it holds a pod's namespaces
// and blocks until SIGTERM or SIGINT. The lab builds it into the image that
// containerd's sandbox_image names, since the lab has no registry to pull
// the usual one from.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
