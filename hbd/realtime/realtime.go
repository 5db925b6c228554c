// Package realtime makes hbd a soft real-time process, as Heartbeat's
// cl_make_realtime makes each of its processes (ha.cf `realtime on`, the
// default): round-robin scheduling at a fixed priority, so that heartbeats
// go out and are read on time while other programs keep every CPU busy, and
// memory locked, so that a page of the daemon is never waiting on the disk.
//
// Linux schedules threads, not processes, and the Go runtime runs hbd on
// several: Enable sets the policy on every thread, and threads the runtime
// starts later inherit it from the thread that creates them. Programs hbd
// starts (resource agents, respawn children) must not inherit it: a busy
// script at real-time priority would starve the machine. StartNormal starts
// them from a thread switched back to normal scheduling for the moment of
// the fork, as Heartbeat's children call cl_make_normaltime.
//
// Memory is locked with MCL_ONFAULT: pages are locked as they are touched,
// so the lock costs nothing up front. Without it the Go runtime's reserved
// heap and thread stacks would all be made resident.
package realtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// schedParam is struct sched_param.
type schedParam struct{ priority int32 }

// Scheduling policies (sched.h).
const (
	policyOther = 0
	policyRR    = 2
)

// taskDir lists the threads of this process.
const taskDir = "/proc/self/task"

// Status is what Enable achieved.
type Status struct {
	Priority int  // SCHED_RR priority set
	Threads  int  // threads switched
	Locked   bool // memory locked (mlockall)
}

// MinPriority is sched_get_priority_min(SCHED_RR), Heartbeat's priority
// when ha.cf has no rtprio.
func MinPriority() int { return 1 }

// MaxPriority is sched_get_priority_max(SCHED_RR) on Linux.
func MaxPriority() int { return 99 }

// Enable switches every thread of the process to SCHED_RR at priority and
// locks memory. A failure to lock memory is reported in the error but the
// scheduling stays: Heartbeat carries on in the same case.
func Enable(priority int) (Status, error) {
	if priority < MinPriority() || priority > MaxPriority() {
		return Status{}, fmt.Errorf("real-time priority %d is out of range %d..%d", priority, MinPriority(), MaxPriority())
	}
	st := Status{Priority: priority}
	n, err := setAllThreads(policyRR, priority)
	st.Threads = n
	if err != nil {
		return st, fmt.Errorf("SCHED_RR priority %d: %w", priority, err)
	}
	if err := lockMemory(); err != nil {
		return st, fmt.Errorf("lock memory: %w", err)
	}
	st.Locked = true
	return st, nil
}

// setAllThreads gives every thread the policy. A thread started while the
// list is read may have been cloned from one not yet switched, so the
// list is walked again until a pass finds every thread done.
func setAllThreads(policy, priority int) (int, error) {
	done := map[int]bool{}
	for pass := 0; pass < 10; pass++ {
		tids, err := threads()
		if err != nil {
			return len(done), err
		}
		fresh := 0
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			if err := setScheduler(tid, policy, priority); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue // the thread has exited
				}
				return len(done), fmt.Errorf("thread %d: %w", tid, err)
			}
			done[tid] = true
			fresh++
		}
		if fresh == 0 {
			return len(done), nil
		}
	}
	return len(done), errors.New("threads keep appearing; not every thread could be switched")
}

func threads() ([]int, error) {
	ents, err := os.ReadDir(taskDir)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out, nil
}

func setScheduler(tid, policy, priority int) error {
	p := schedParam{priority: int32(priority)}
	return schedSetScheduler(tid, policy, &p)
}

// Policy returns the scheduling policy and priority of thread tid (0:
// the calling thread).
func Policy(tid int) (policy, priority int, err error) {
	r, _, e := unix.RawSyscall(unix.SYS_SCHED_GETSCHEDULER, uintptr(tid), 0, 0)
	if e != 0 {
		return 0, 0, e
	}
	var p schedParam
	if err := schedGetParam(tid, &p); err != nil {
		return 0, 0, err
	}
	return int(r), int(p.priority), nil
}

// IsRR reports whether policy is SCHED_RR.
func IsRR(policy int) bool { return policy == policyRR }

// lockMemory is Heartbeat's: lift RLIMIT_MEMLOCK, then mlockall, here with
// MCL_ONFAULT (see the package comment). Unlike Heartbeat it does not lock
// under a finite limit: the kernel counts the whole locked address space
// against it, and with MCL_FUTURE the Go runtime's next mapping beyond it
// would fail and end the daemon.
func lockMemory() error {
	lim := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil && !HasCap(capIPCLock) {
		if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim) == nil && lim.Cur != unix.RLIM_INFINITY {
			return fmt.Errorf("RLIMIT_MEMLOCK is %d bytes and cannot be lifted (%w): memory left unlocked", lim.Cur, err)
		}
	}
	return unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
}

// Capabilities this package cares about: CAP_IPC_LOCK exempts locked
// memory from the limit, CAP_SYS_NICE allows real-time scheduling.
const (
	capIPCLock = 14
	CapSysNice = 23
)

// HasCap reports whether the process has capability c in its effective
// set (hbd's tests ask it for CapSysNice before expecting SCHED_RR).
func HasCap(c uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<c) != 0
		}
	}
	return false
}

// StartNormal starts cmd as cmd.Start does, but with normal scheduling
// (SCHED_OTHER) when the calling thread is real-time: the fork happens on
// a thread locked to this goroutine and switched for the moment, and the
// child inherits that thread's policy. Memory locks are never inherited.
func StartNormal(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	policy, priority, err := Policy(0)
	if err != nil || policy == policyOther {
		return cmd.Start()
	}
	if err := setScheduler(0, policyOther, 0); err != nil {
		return fmt.Errorf("start %s: cannot leave real-time scheduling for the child: %w", cmd.Path, err)
	}
	startErr := cmd.Start()
	if err := setScheduler(0, policy, priority); err != nil {
		// The thread stays locked to this goroutine's end: leaving it to
		// the runtime would run other goroutines at normal priority.
		runtime.LockOSThread()
		return errors.Join(startErr, fmt.Errorf("restore real-time scheduling: %w", err))
	}
	return startErr
}

// LeaveThread gives the calling thread normal scheduling and unlocks
// memory: before hbd re-executes itself, so that the new image starts as a
// fresh one would. The caller must have locked the goroutine to its
// thread.
func LeaveThread() error {
	var errs []error
	if policy, _, err := Policy(0); err == nil && policy != policyOther {
		errs = append(errs, setScheduler(0, policyOther, 0))
	}
	errs = append(errs, unix.Munlockall())
	return errors.Join(errs...)
}
