// Package userspace is an embedded L4 dataplane for hosts without IPVS:
// each virtual service is a listening socket on its VIP:port, and every
// connection (TCP) or client flow (UDP) is relayed to a real server chosen
// with the IPVS scheduler of the same name.
//
// What differs from kernel IPVS, and why:
//
//   - It is a proxy. The forwarding methods gate, masq and ipip are
//     accepted and read back as set, but all behave alike: the real sees
//     the director's address as the source (like masq, without the client
//     IP), and replies come back through the director. Reals need no VIP
//     on lo and no ARP sysctls. No PROXY protocol.
//   - Firewall-mark services and port 0 ("all ports") are refused: a
//     socket cannot see marks or listen on every port.
//   - Listeners bind with IP_FREEBIND / IPV6_FREEBIND, so a service can be
//     added before IPaddr2 configures the VIP (a standby director).
//   - DelService closes the listener at once; established TCP connections
//     run on until they end (as IPVS keeps them). UDP sessions end with
//     the service, since replies leave through its socket. DelDest and
//     weight 0 never cut a connection either. Close resets everything.
//   - On a failed connect the scheduler is asked once more, without the
//     failed real (IPVS cannot: it forwards the SYN and never learns).
//     A client is reset when no real is available.
//
// Schedulers follow the kernel's algorithms, list order (reals in the
// order added) and tie-breaking, over connection counts kept by the proxy:
//
//   - rr, wrr: the ip_vs_rr walk and the ip_vs_wrr gcd/current-weight
//     interleave (weights 3,2,1 give A A B A B C), including how a table
//     change moves the position. Unlike the kernel, wrr never hands a
//     connection to a weight-0 real right after a change.
//   - lc, wlc, sed, nq: overhead = active*256 + inactive (lc, wlc) or
//     active+1 (sed, nq), compared by cross-multiplying with the weights;
//     first real wins ties. A TCP connection is active until its first
//     half-close, then inactive; UDP sessions are inactive, as IPVS counts
//     them, so sed and nq see UDP reals as idle.
//   - sh: the kernel's 256-bucket table (each real fills weight buckets)
//     and hash_32 of the client address, so a client maps to the same
//     real as under IPVS. When that real is quiescent or down the next
//     buckets are probed (IPVS's sh-fallback flag) instead of dropping.
//   - dh: hashes the destination, which for a proxy is always the VIP:
//     every connection goes to the one real the VIP's hash selects,
//     probing onwards when it is unavailable.
//   - lblc, lblcr: locality by destination address means nothing when the
//     destination is always the VIP; they schedule as wlc, the fallback
//     they use inside the kernel.
//   - "" is ipvsadm's default, wlc (and reads back as "").
//
// Weight 0 (quiescent): no new connections, existing ones drain. With
// persistence, a client's template keeps sending it to its real even at
// weight 0 while the template lives, as IPVS does with the default
// expire_quiescent_template=0; Options.ExpireQuiescentTemplate gives the
// sysctl's other setting. A removed real ends its templates. A template
// (keyed by the client address masked to PersistentMask bits) lives while
// it has connections and for Persistent after the last one ends.
//
// TCP is relayed by GOMAXPROCS event loops, not a goroutine per
// connection: each loop waits on its own edge-triggered epoll set, and
// waits for it through Go's netpoller (an epoll descriptor is pollable), so
// the loops block no OS thread and add none. The scheduler keeps one thread
// waiting in the netpoller; a loop it wakes takes that thread, and when
// another loop is waiting it readies a goroutine, so that an idle P's
// thread takes over the waiting. Otherwise the waiting loop's events wait
// for the woken loop's batch to end (milliseconds when the kernel preempts
// its thread), which made the keep-alive p99 six times HAProxy's. The
// loops allocate nothing per wake-up or event. A loop reads into its one
// scratch buffer and writes straight on; only bytes the receiver cannot
// take yet are kept, in a pooled 32 KiB buffer, while reading that side
// pauses.
// An idle connection therefore holds no goroutine, stack or buffer, only
// its state (about 250 bytes measured, TestIdleConnectionsBoundedMemory;
// HAProxy 2.6 measured 3.3 KiB here). The per-connection system calls
// (accept4, socket, connect, read, sendto, shutdown, close, epoll_ctl) are
// raw: none can block, and telling the scheduler they might made its
// monitor thread poll every 20 µs. A FIN from either side is passed on as a
// half-close; a reset or error on either side resets both (a real's reset
// that comes with its handshake, before the loop has seen the connection
// up, is a failed connect: the client goes to another real once, as with
// a refusal). Where HAProxy saves a system call the loop does too: a
// real's socket that turns writable with no error is connected (no
// SO_ERROR look), a FIN that came with the last data (EPOLLRDHUP, then a
// short read) needs no read of its own, and the direction that ends a
// connection is closed without a shutdown first (close sends the FIN). Under wrk with a new connection
// per request (perf stat on syscalls:sys_enter_*) that took reads from 3.9
// to 3.05 per request, shutdowns from 1.9 to 1.0 and getsockopt from 0.94
// to none: 14.6 calls per request in all (HAProxy 17.3), and about 5 %
// less CPU.
//
// Limits (HAProxy's maxconn): Options.MaxConns bounds connections over all
// services (default DefaultMaxConns: half of what RLIMIT_NOFILE leaves
// after keeping a quarter, at least 256, for listeners, checks and logs,
// since a relayed connection holds two descriptors), and
// dataplane.Service.MaxConns bounds one service. A UDP session holds a
// socket, so it counts too. At a limit the service stops accepting: new
// TCP connections wait in the kernel's listen queue (up to
// net.core.somaxconn, then the kernel drops SYNs and clients retransmit)
// and are accepted, oldest first, as connections end. Nobody is refused
// for a brief peak, and one full service never holds up another below the
// global limit. A UDP datagram cannot wait: a new client's datagram at a
// limit is dropped and counted. Waiting clients show in
// ServiceStats.LimitVirtual and LimitGlobal (times accepting paused);
// clients turned away in Refused, by reason.
//
// Idle timeouts (HAProxy's timeout client and timeout server): a TCP
// connection is reset when nothing moved to or from the client for
// ClientTimeout, or to or from the real for ServerTimeout (default 900 s
// each, IPVS's established timeout; per service in dataplane.Service). A
// side counts as active while data flows either way through it, so a
// download to a client that reads keeps both alive, and a client that
// stops reading is timed out. The loops check every eighth of the shortest
// timeout among their connections (5 ms to 1 s), so a timeout is enforced
// within that much after it expires; the connect timeout likewise.
//
// Out of descriptors or socket memory (EMFILE, ENFILE, ENOBUFS, ENOMEM),
// a service pauses accepting, 5 ms doubling to 1 s, and retries early when
// a connection ends; a client accepted before its real's socket could be
// made is held, not reset. Established connections are served meanwhile.
// Per-connection warnings (no real, failed connects, limits, accept
// pauses) are rate-limited per service: the first is logged, then one line
// per Options.LogInterval (5 s) with the count.
//
// Table changes build a new immutable snapshot of the service and publish
// it with one atomic store; the data path takes one short lock per new
// connection for the scheduler's state, as IPVS takes its sched_lock.
package userspace
