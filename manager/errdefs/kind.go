package errdefs

import "fmt"

// kindError carries a kind without repeating its name in the message:
// "invalid reference format" reads better than "...: invalid argument".
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Invalid, NotFound, Conflict and Unavailable build errors of those kinds
// from a message.
func Invalid(format string, args ...any) error {
	return &kindError{kind: ErrInvalidArgument, msg: fmt.Sprintf(format, args...)}
}
func NotFound(format string, args ...any) error {
	return &kindError{kind: ErrNotFound, msg: fmt.Sprintf(format, args...)}
}
func Conflict(format string, args ...any) error {
	return &kindError{kind: ErrConflict, msg: fmt.Sprintf(format, args...)}
}
func Unavailable(format string, args ...any) error {
	return &kindError{kind: ErrUnavailable, msg: fmt.Sprintf(format, args...)}
}
func NotModified(format string, args ...any) error {
	return &kindError{kind: ErrNotModified, msg: fmt.Sprintf(format, args...)}
}
