// Command pause is the sandbox ("pause") container of the real node's pods: it holds the pod's
// namespaces, reaps the zombies of a shared PID namespace and exits on SIGINT or SIGTERM.
// Built here (static, no libc) because no registry can be reached for the usual pause image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
