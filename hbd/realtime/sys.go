package realtime

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// sched_setscheduler(2) and sched_getparam(2) on one thread. The legacy
// call, not sched_setattr: it leaves the nice value alone, as Heartbeat's
// sched_setscheduler calls do.
func schedSetScheduler(tid, policy int, p *schedParam) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, uintptr(tid), uintptr(policy), uintptr(unsafe.Pointer(p))); e != 0 {
		return e
	}
	return nil
}

func schedGetParam(tid int, p *schedParam) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SCHED_GETPARAM, uintptr(tid), uintptr(unsafe.Pointer(p)), 0); e != 0 {
		return e
	}
	return nil
}
