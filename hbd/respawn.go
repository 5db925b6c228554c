package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"lvsha/hbd/config"
	"lvsha/hbd/realtime"
	"lvsha/resources"
)

// runRespawns honours ha.cf's respawn lines: each program runs as its user
// and is restarted when it exits (Heartbeat: at most once per second;
// failfast means the node must not carry on without it). ipfail is not run:
// its job is built in (ping nodes and the rm's connectivity comparison).
func runRespawns(ctx context.Context, rs []config.Respawn, log *slog.Logger) {
	for _, r := range rs {
		if r.BuiltIn {
			log.Info("respawn of ipfail: its job (ping-node reachability deciding who holds resources) is built into hbd; not starting it",
				"line", r.Line)
			continue
		}
		go respawnLoop(ctx, r, log.With("respawn", r.Command))
	}
}

func respawnLoop(ctx context.Context, r config.Respawn, log *slog.Logger) {
	cred, err := credOf(r.User)
	if err != nil {
		log.Error("respawn: cannot run as user", "user", r.User, "err", err)
		return
	}
	backoff := time.Second
	for ctx.Err() == nil {
		started := time.Now()
		cmd := exec.Command(r.Path, r.Args...)
		cmd.Env = resources.ChildEnv()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGTERM}
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		// Normal scheduling for the child even when hbd runs real-time.
		if err := realtime.StartNormal(cmd); err != nil {
			log.Error("respawn: cannot start", "err", err)
		} else {
			log.Info("respawn: started", "pid", cmd.Process.Pid)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-ctx.Done():
				syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
				<-done
				return
			case err := <-done:
				log.Warn("respawn: child exited", "err", err)
			}
		}
		if r.Failfast {
			log.Error("failfast child died: stopping hbd so the peer takes over")
			syscall.Kill(os.Getpid(), syscall.SIGTERM)
			return
		}
		// A child that keeps dying is restarted with a growing pause
		// (up to 30 s) rather than in a tight loop.
		if time.Since(started) > time.Minute {
			backoff = time.Second
		} else if backoff < 30*time.Second {
			backoff *= 2
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

func credOf(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
