// Package proccpu reads how much CPU a process has used, from Linux's
// /proc: what the load runs and the load table divide by the work done. It
// imports no testing code, so a command (loadtable) and the test helpers
// (pageload) share it.
package proccpu

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Tick is the unit of /proc's CPU times, in seconds: Linux counts them in
// clock ticks of 1/100 s, so a shorter use reads as 0.
const Tick = 0.01

// Seconds returns pid's CPU time so far, user and system, in seconds.
func Seconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time of process %d: %w", pid, err)
	}
	cpu, err := Parse(string(data))
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return cpu, nil
}

// Parse returns utime + stime, in seconds, from the text of
// /proc/<pid>/stat. A short or odd line is an error, not a panic.
func Parse(stat string) (float64, error) {
	// The fields after the command's name, which is in parentheses and may
	// hold spaces and parentheses; utime and stime are the 14th and 15th
	// fields of the line.
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("no command name in parentheses")
	}
	f := strings.Fields(stat[end+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, not the 13 or more utime and stime need", len(f))
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (utime + stime) * Tick, nil
}
