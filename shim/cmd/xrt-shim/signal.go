package main

import (
	"os/signal"
	"syscall"
)

func ignore(sig syscall.Signal) { signal.Ignore(sig) }
