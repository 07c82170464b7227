// Package errdefs names the few kinds of error that the manager's packages
// return, so that the API edge can map each kind to an HTTP status and the
// CLI to a message without knowing where the error came from. Wrap a kind
// with context: fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound).
package errdefs

import "errors"

var (
	// ErrNotFound: the named thing does not exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a thing of that name exists already (HTTP 409).
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidArgument: the request itself is wrong (HTTP 400).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrConflict: the request is valid but the current state forbids it,
	// such as removing an image a container uses (HTTP 409).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: something the request needs cannot be reached now,
	// such as a registry (HTTP 503).
	ErrUnavailable = errors.New("unavailable")
	// ErrUnauthorized: a registry refused the credentials (HTTP 401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotModified: the request asks for the state that already holds,
	// such as starting a running container (HTTP 304).
	ErrNotModified = errors.New("not modified")
)

func IsNotFound(err error) bool        { return errors.Is(err, ErrNotFound) }
func IsAlreadyExists(err error) bool   { return errors.Is(err, ErrAlreadyExists) }
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }
func IsConflict(err error) bool        { return errors.Is(err, ErrConflict) }
func IsUnavailable(err error) bool     { return errors.Is(err, ErrUnavailable) }
func IsUnauthorized(err error) bool    { return errors.Is(err, ErrUnauthorized) }
func IsNotModified(err error) bool     { return errors.Is(err, ErrNotModified) }
