package userspace

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The relay loop's own system calls (epoll, its eventfd), made raw as
// its socket calls are (ldird/sockcall): none of them blocks.

func sysErr(errno unix.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}

func sysEpollAdd(epfd, fd int, ev *unix.EpollEvent) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), unix.EPOLL_CTL_ADD, uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return sysErr(errno)
}

// sysEpollPoll collects ready events without waiting (the netpoller did
// the waiting).
func sysEpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, errno
	}
}

// sysWake adds one to an eventfd.
func sysWake(evfd int) {
	one := uint64(1)
	unix.RawSyscall(unix.SYS_WRITE, uintptr(evfd), uintptr(unsafe.Pointer(&one)), 8)
}

// sysTakeWakes reads an eventfd back to zero.
func sysTakeWakes(evfd int) {
	var n uint64
	unix.RawSyscall(unix.SYS_READ, uintptr(evfd), uintptr(unsafe.Pointer(&n)), 8)
}
