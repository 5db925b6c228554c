// Package director keeps the virtual services of ldirectord.cf in the
// dataplane's table as the configuration and the health of their reals ask
// for. It runs the health checks (ldird/check) and applies only the
// differences between the table it wants and the table it reads, with
// ldirectord's logs, alerts, fallbackcommands and monitorfile lines.
//
// The decisions are made by a planner (planner.go) that takes inputs (the
// configuration, check results, the table as read, the outcome of the
// ops it asked for, the time) and returns table ops and actions; it does
// no I/O and reads no clock, so its tests step it with a fake clock.
// Desired and Diff are its pure core. The Director (director.go) drives
// it from one goroutine, as hbd/rm's Manager drives its Machine: check
// results and calls (Start, Reload, Stop, Poke) are queued to that
// goroutine, which reads the table, applies the ops and carries out the
// actions (the mailer in mailer.go, the command queue in exec.go,
// monitorfile writes in monitorfile.go) and then publishes a view that
// Snapshot and WriteStatus read without waiting for it.
//
// It never flushes: services that are not in the configuration are left
// alone, on start, reload and stop. Behaviour follows ldirectord 4.12:
// quiescent (weight 0) or removal of a failed real, readdquiescent,
// fallback only while every real of a virtual is down, fallbackcommand
// "start"/"stop" on the transitions, maintenancedir, monitorfile,
// cleanstop, and email alerts (emailalert, emailalertfreq,
// emailalertstatus, emailalertfrom, smtp) with ldirectord's subjects and
// bodies (alerts.go, report.go). Differences on purpose: checks run
// concurrently (check.Runner); on start a real already in the table with
// weight > 0 is taken as up and nothing is published until the first
// check round has completed, so a restart does not flap the table
// (ldirectord adds every real and takes the unknown ones down before
// checking); table changes are applied within milliseconds of a check
// result (no ipvsadm process per change).
//
// For operations, an Observer (Options.Observer; ldird/metrics) is told
// every check result and table operation (a result that changes nothing
// on the check's own goroutine, without the loop: quiet.go), Snapshot reads health, weights
// and the table at one moment, and LoopStall says whether the driver's
// goroutine is wedged (the systemd watchdog feed).
package director
