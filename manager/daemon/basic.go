package daemon

import (
	"encoding/base64"
	"strings"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// decodeBasic splits an "auth" field (base64 of user:password).
func decodeBasic(s string) (user, pass string, err error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", errdefs.Invalid("auth field is not base64: %v", err)
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", "", errdefs.Invalid("auth field is not user:password")
	}
	return user, pass, nil
}
