package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/reference"
)

// Docker credential helpers: config.json's "credHelpers" (per registry)
// or "credsStore" (all registries) name a program docker-credential-NAME
// that keeps the secrets instead of the file. The protocol is the one of
// docker-credential-helpers: the action as the argument ("get", "store",
// "erase") and the server or the credentials on stdin, JSON on stdout.

// helperTimeout bounds one helper call (a keychain prompt must not hang a pull).
const helperTimeout = 30 * time.Second

// helperCreds is the JSON a helper reads on store and prints on get.
type helperCreds struct {
	ServerURL string `json:"ServerURL"`
	Username  string `json:"Username"`
	Secret    string `json:"Secret"`
}

// identityTokenUser is the user name helpers store for an identity token.
const identityTokenUser = "<token>"

// helperFor returns the credential helper config.json names for the
// server key, or "".
func (cf *dockerConfig) helperFor(key string) (string, error) {
	if raw, ok := cf.fields["credHelpers"]; ok {
		var m map[string]string
		if err := json.Unmarshal(raw, &m); err != nil {
			return "", errdefs.Invalid("%s: credHelpers: %v", cf.path, err)
		}
		for host, h := range m {
			if reference.IndexServer(host) == key {
				return h, nil
			}
		}
	}
	if raw, ok := cf.fields["credsStore"]; ok {
		var h string
		if err := json.Unmarshal(raw, &h); err != nil {
			return "", errdefs.Invalid("%s: credsStore: %v", cf.path, err)
		}
		return h, nil
	}
	return "", nil
}

// runHelper runs docker-credential-<name> <action> with stdin in.
func runHelper(ctx context.Context, name, action string, in []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, helperTimeout)
	defer cancel()
	prog := "docker-credential-" + name
	cmd := exec.CommandContext(ctx, prog, action)
	cmd.Stdin = bytes.NewReader(in)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String() + " " + stderr.String())
		return nil, fmt.Errorf("credential helper %s %s: %v: %s", prog, action, err, msg)
	}
	return out.Bytes(), nil
}

// helperGet asks a helper for the credentials of server key; found is
// false when it has none.
func helperGet(ctx context.Context, name, key string) (a AuthConfig, found bool, err error) {
	out, err := runHelper(ctx, name, "get", []byte(key))
	if err != nil {
		if strings.Contains(err.Error(), "credentials not found") {
			return AuthConfig{}, false, nil
		}
		return AuthConfig{}, false, errdefs.Unavailable("%v", err)
	}
	var c helperCreds
	if err := json.Unmarshal(out, &c); err != nil {
		return AuthConfig{}, false, errdefs.Unavailable("credential helper %s: bad answer: %v", name, err)
	}
	if c.Username == identityTokenUser {
		return AuthConfig{IdentityToken: c.Secret}, true, nil
	}
	return AuthConfig{Username: c.Username, Password: c.Secret}, c.Username != "" || c.Secret != "", nil
}

func helperStore(ctx context.Context, name, key, user, secret string) error {
	in, _ := json.Marshal(helperCreds{ServerURL: key, Username: user, Secret: secret})
	if _, err := runHelper(ctx, name, "store", in); err != nil {
		return errdefs.Unavailable("%v", err)
	}
	return nil
}

func helperErase(ctx context.Context, name, key string) error {
	if _, err := runHelper(ctx, name, "erase", []byte(key)); err != nil {
		return errdefs.Unavailable("%v", err)
	}
	return nil
}
