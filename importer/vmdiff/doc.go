// Package vmdiff holds the differential test of the keepalived import
// against the real keepalived 2.2.7 on kernel IPVS. It runs inside the test
// VM (tests/vm, TestImportDifferentialInVM, which builds this package's
// tests with the vm tag and carries keepalived into the guest's initramfs).
//
// For each keepalived.conf of the corpus that has virtual servers, two
// identical worlds are built in network namespaces of the guest: a director
// namespace linked by a veth pair to one namespace per real server address,
// each real running a small server for the protocols its checkers speak
// (HTTP, HTTPS, SMTP, DNS, plain TCP; PING needs nothing). In one world the
// real keepalived runs its checker alone (keepalived -C); in the other ldird
// runs the ldirectord.cf lvsha-import wrote, with the generated external
// check scripts. Once both IPVS tables have settled, `ipvsadm -Ln` must be
// identical (services, schedulers, persistence, flags, reals, weights,
// forwarding methods). Then one real's server is stopped in both worlds:
// the tables must again be identical, with that real removed or at weight
// 0 as the configuration says.
//
// Inputs whose virtual servers hold something the import reports as not
// mapped are left out (their tables are expected to differ, and the report
// says why), as are inputs whose checks are too slow to settle within the
// VM's time budget (keepalived's samples that check every 60 s); the test
// logs each one with its reason.
package vmdiff
