package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/reference"
)

// The client's registry credentials live where Docker's CLI keeps them:
// the "auths" of config.json in --config, $DOCKER_CONFIG or ~/.docker.
// Other keys of the file are kept as they are.

func configPath(c *cli.Context) string {
	dir := c.String("config")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "/root"
		}
		dir = filepath.Join(home, ".docker")
	}
	return filepath.Join(dir, "config.json")
}

type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// readConfig reads config.json as raw keys (empty when missing).
func readConfig(path string) (map[string]json.RawMessage, map[string]authEntry, error) {
	raw := map[string]json.RawMessage{}
	auths := map[string]authEntry{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return raw, auths, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if a, ok := raw["auths"]; ok {
		if err := json.Unmarshal(a, &auths); err != nil {
			return nil, nil, fmt.Errorf("%s: auths: %w", path, err)
		}
	}
	return raw, auths, nil
}

func writeConfig(path string, raw map[string]json.RawMessage, auths map[string]authEntry) error {
	a, err := json.Marshal(auths)
	if err != nil {
		return err
	}
	raw["auths"] = a
	b, err := json.MarshalIndent(raw, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// authFor returns the stored credentials for the registry of ref, nil if
// none: they go to the daemon in X-Registry-Auth, as docker sends them.
func authFor(c *cli.Context, ref string) *types.AuthConfig {
	n, err := reference.ParseNamed(ref)
	if err != nil {
		return nil
	}
	server := n.IndexName()
	_, auths, err := readConfig(configPath(c))
	if err != nil {
		return nil
	}
	e, ok := auths[server]
	if !ok {
		return nil
	}
	ac := &types.AuthConfig{ServerAddress: server, IdentityToken: e.IdentityToken}
	if e.Auth != "" {
		b, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return nil
		}
		ac.Username, ac.Password, _ = strings.Cut(string(b), ":")
	}
	return ac
}
