package progress

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// StreamError is a failure reported inside a message stream.
type StreamError struct {
	Code    int
	Message string
}

func (e *StreamError) Error() string { return e.Message }

// Display reads a jsonmessage stream from r and writes it to out as the
// Docker CLI does. On a terminal each item (layer) keeps its own line,
// redrawn in place with a progress bar; otherwise byte-count updates are
// left out and every status is a plain line. It returns the stream's
// error message as a *StreamError, or a decode error.
func Display(r io.Reader, out io.Writer, isTerminal bool) error {
	return DisplayAux(r, out, isTerminal, nil)
}

// DisplayAux is Display that hands each aux payload (push's digest and
// size, load's image IDs) to aux instead of dropping it.
func DisplayAux(r io.Reader, out io.Writer, isTerminal bool, aux func(json.RawMessage)) error {
	dec := json.NewDecoder(r)
	width := termWidth(out)
	// lines maps an item ID to its line, counted from the first item line
	// of the current block; the cursor rests below the last item line.
	lines := map[string]int{}
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading the progress stream: %w", err)
		}
		if m.Aux != nil {
			if aux != nil {
				aux(m.Aux)
			}
			continue
		}
		if m.ErrorMsg != nil || m.Error != "" {
			e := &StreamError{Message: m.Error}
			if m.ErrorMsg != nil {
				e.Code, e.Message = m.ErrorMsg.Code, m.ErrorMsg.Message
			}
			if e.Code == 401 && e.Message == "" {
				e.Message = "authentication is required"
			}
			return e
		}
		up := 0
		if m.ID != "" && (m.Detail != nil || m.Progress != "") {
			line, ok := lines[m.ID]
			if !ok {
				line = len(lines)
				lines[m.ID] = line
				if isTerminal {
					fmt.Fprint(out, "\n")
				}
			}
			up = len(lines) - line
			if isTerminal {
				fmt.Fprintf(out, "\x1b[%dA", up)
			}
		} else {
			// A line that is not an item's ends the block: later items
			// start a new one below it (pull -a of several tags).
			lines = map[string]int{}
		}
		render(out, &m, isTerminal, width)
		if m.ID != "" && up > 0 && isTerminal {
			fmt.Fprintf(out, "\x1b[%dB", up)
		}
	}
}

// render writes one message as the Docker CLI's jsonmessage.Display.
func render(out io.Writer, m *message, isTerminal bool, width int) {
	end := "\n"
	progress := ""
	if m.Detail != nil {
		progress = bar(m.Detail.Current, m.Detail.Total, width)
	}
	switch {
	case isTerminal && m.Stream == "" && m.Detail != nil:
		// Clear the line and write over it, ending with a carriage
		// return so the next redraw starts at its beginning.
		fmt.Fprint(out, "\x1b[2K\r")
		end = "\r"
	case progress != "":
		return // byte counts are noise in a log
	}
	if m.ID != "" {
		fmt.Fprintf(out, "%s: ", m.ID)
	}
	switch {
	case m.Detail != nil && isTerminal:
		fmt.Fprintf(out, "%s %s%s", m.Status, progress, end)
	case m.Stream != "":
		// The stream field carries its own newlines (load, build), as
		// the Docker CLI prints it.
		fmt.Fprint(out, m.Stream)
	default:
		fmt.Fprintf(out, "%s%s", m.Status, "\n")
	}
}

// termWidth is the width of out when it is a terminal, else wide enough
// for the bar (as the daemon side assumes).
func termWidth(out io.Writer) int {
	if f, ok := out.(interface{ Fd() uintptr }); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return serverWidth
}

// IsStreamError reports whether err came from the stream itself (the
// daemon's failure) rather than from reading it.
func IsStreamError(err error) bool {
	var se *StreamError
	return errors.As(err, &se)
}
