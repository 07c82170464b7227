package network

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
)

// deleteLink removes a network device (a network's bridge); one that does not
// exist is fine: the bridge plugin makes it only when a container joins.
func deleteLink(name string) error {
	if name == "" {
		return nil
	}
	if _, err := net.InterfaceByName(name); err != nil {
		return nil
	}
	out, err := exec.Command("ip", "link", "delete", name).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Cannot find device") {
		return fmt.Errorf("deleting bridge %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
