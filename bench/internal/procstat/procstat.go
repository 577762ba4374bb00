// Package procstat reads a process's CPU time and memory from /proc
// (Linux only): what the benchmarks report for manager processes.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of the CPU times in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports.
const clockTick = 100

// Usage is a process's resource use at one moment.
type Usage struct {
	// CPU is user plus system time since the process started.
	CPU time.Duration
	// RSS is the resident set (VmRSS) and PeakRSS its high-water mark
	// (VmHWM), in bytes.
	RSS, PeakRSS int64
	// Threads is the number of threads.
	Threads int
	// RunDelay is the time the process's live threads spent runnable but
	// waiting for a CPU (the second field of /proc/PID/task/TID/schedstat):
	// what a busy machine adds to every wake-up.
	RunDelay time.Duration
}

// Read returns the usage of process pid.
func Read(pid int) (Usage, error) {
	var u Usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name (field 2) may hold spaces; fields after it start
	// past the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, fmt.Errorf("procstat: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return u, fmt.Errorf("procstat: short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return u, fmt.Errorf("procstat: bad CPU times in /proc/%d/stat", pid)
	}
	u.CPU = time.Duration(utime+stime) * time.Second / clockTick

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "VmRSS":
			u.RSS = kB(v)
		case "VmHWM":
			u.PeakRSS = kB(v)
		case "Threads":
			u.Threads, _ = strconv.Atoi(v)
		}
	}
	u.RunDelay = runDelay(pid)
	return u, nil
}

func runDelay(pid int) time.Duration {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tids, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, t := range tids {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		ns, _ := strconv.ParseInt(f[1], 10, 64)
		total += time.Duration(ns)
	}
	return total
}

// kB parses "123 kB" into bytes.
func kB(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	return n * 1024
}

// Self returns the usage of the calling process.
func Self() (Usage, error) { return Read(os.Getpid()) }

// System is the machine's CPU time since boot, from /proc/stat.
type System struct {
	// Busy is the time all CPUs spent not idle (user, nice, system, irq,
	// softirq, steal); Total includes idle and iowait.
	Busy, Total time.Duration
}

// ReadSystem returns the machine's CPU times.
func ReadSystem() (System, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return System{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return System{}, fmt.Errorf("procstat: malformed /proc/stat")
	}
	var s System
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return System{}, fmt.Errorf("procstat: malformed /proc/stat")
		}
		d := time.Duration(n) * time.Second / clockTick
		s.Total += d
		// Fields: user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already counted in user.
		if i != 3 && i != 4 && i < 8 {
			s.Busy += d
		}
	}
	return s, nil
}
