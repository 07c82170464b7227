package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseLogTime(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"", time.Time{}, false},
		{"1700000000", time.Unix(1700000000, 0), false},
		{"1700000000.5", time.Unix(1700000000, 500000000), false},
		{"1700000000.123456789", time.Unix(1700000000, 123456789), false},
		{"1700000000.000000001", time.Unix(1700000000, 1), false},
		{"2023-11-14T22:13:20.25Z", time.Unix(1700000000, 250000000), false},
		{"1700000000.1234567891", time.Time{}, true},
		{"1700000000.-5", time.Time{}, true},
		{"10m", time.Time{}, true},
		{"soon", time.Time{}, true},
	} {
		got, err := parseLogTime("since", tt.in)
		if (err != nil) != tt.bad || !got.Equal(tt.want) {
			t.Errorf("parseLogTime(%q) = %v, %v; want %v (bad %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
	for in, want := range map[string]int{"": -1, "all": -1, "0": 0, "25": 25, "-3": -1, "x": -1} {
		if got := parseTail(in); got != want {
			t.Errorf("parseTail(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestLogs(t *testing.T) {
	f, url := startContainers(t)
	t1 := time.Unix(1700000000, 5).UTC()
	f.script(func() {
		f.logs = []LogMessage{
			{Stream: "stdout", Line: []byte("one\n"), Time: t1},
			{Stream: "stderr", Line: []byte("two\n"), Time: t1.Add(time.Second)},
		}
	})
	status, body, h := call(t, "GET", url+"/containers/web/logs?stdout=1&stderr=1&timestamps=1&tail=5&since=1700000000.5&until=1700000100&details=1", "")
	if status != 200 || h.Get("Content-Type") != rawStreamType {
		t.Fatalf("logs: %d %v %s", status, h, body)
	}
	got := readFrames(t, bytes.NewReader(body))
	if got[streamStdout] != "2023-11-14T22:13:20.000000005Z one\n" || got[streamStderr] != "2023-11-14T22:13:21.000000005Z two\n" {
		t.Errorf("frames %q", got)
	}
	o := f.lastLogs
	if !o.Stdout || !o.Stderr || o.Follow || !o.Timestamps || !o.Details || o.Tail != 5 ||
		!o.Since.Equal(time.Unix(1700000000, 500000000)) || !o.Until.Equal(time.Unix(1700000100, 0)) {
		t.Errorf("options %+v", o)
	}

	// Only stderr, every line.
	_, body, _ = call(t, "GET", url+"/containers/web/logs?stderr=1&tail=all", "")
	if got := readFrames(t, bytes.NewReader(body)); got[streamStderr] != "two\n" || len(got) != 1 || f.lastLogs.Tail != -1 {
		t.Errorf("stderr only: %q, tail %d", got, f.lastLogs.Tail)
	}

	// A tty container's log is raw.
	_, body, _ = call(t, "GET", url+"/containers/term/logs?stdout=1&stderr=1", "")
	if string(body) != "one\ntwo\n" {
		t.Errorf("tty log %q", body)
	}

	for _, tt := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/containers/web/logs", 400, "you must choose at least one stream"},
		{"/containers/web/logs?stdout=1&since=yesterday", 400, `invalid value for since: \"yesterday\"`},
		{"/containers/web/logs?stdout=1&until=x", 400, "invalid value for until"},
		{"/containers/nosuch/logs?stdout=1", 404, "No such container: nosuch"},
	} {
		status, body, _ := call(t, "GET", url+tt.path, "")
		if status != tt.status || !strings.Contains(string(body), tt.msg) {
			t.Errorf("%s: %d %s, want %d %q", tt.path, status, body, tt.status, tt.msg)
		}
	}

	// A failure after some lines ends the stream with a message on
	// stderr; before any, it is an error status.
	f.script(func() { f.logsErr = errors.New("log file is corrupt") })
	_, body, _ = call(t, "GET", url+"/containers/web/logs?stdout=1", "")
	if got := readFrames(t, bytes.NewReader(body)); got[streamStdout] != "one\n" || got[streamStderr] != "Error grabbing logs: log file is corrupt\n" {
		t.Errorf("failure mid-way: %q", got)
	}
	f.script(func() { f.logs = nil })
	status, body, _ = call(t, "GET", url+"/containers/web/logs?stdout=1", "")
	if status != 500 || !strings.Contains(string(body), "log file is corrupt") {
		t.Errorf("failure at the start: %d %s", status, body)
	}
}

// TestLogsFollowHeaderFirst: a followed, empty log answers its header at
// once, and lines as they come.
func TestLogsFollowHeaderFirst(t *testing.T) {
	_, url := startContainers(t)
	got := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Get(url + "/containers/web/logs?follow=1&stdout=1&timestamps=1")
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- resp
	}()
	var resp *http.Response
	select {
	case resp = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no header for a followed empty log")
	}
	if resp == nil {
		t.FailNow()
	}
	defer resp.Body.Close()
	if status, body, _ := call(t, "POST", url+"/containers/stopped/start", ""); status != 204 {
		t.Fatalf("start: %d %s", status, body)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFrames(t, bytes.NewReader(b)); got[streamStdout] != "2023-11-14T22:13:21.000000000Z later\n" {
		t.Errorf("followed frames %q", got)
	}
}
