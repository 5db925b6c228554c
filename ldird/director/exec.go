package director

import (
	"context"
	"log/slog"
	"os/exec"
	"sync"
	"time"
)

// cmdQueue runs shell commands (fallbackcommand) one after another in the
// order asked, off the reconcile path; ldirectord runs them with system(),
// which blocks its whole loop.
type cmdQueue struct {
	log     *slog.Logger
	shell   string
	timeout time.Duration
	queue   chan string
	wg      sync.WaitGroup
}

func newCmdQueue(log *slog.Logger, shell string, timeout time.Duration) *cmdQueue {
	q := &cmdQueue{log: log, shell: shell, timeout: timeout, queue: make(chan string, 256)}
	q.wg.Add(1)
	go q.run()
	return q
}

func (q *cmdQueue) enqueue(cmdline string) {
	select {
	case q.queue <- cmdline:
	default:
		q.log.Error("command dropped: queue full", "command", cmdline)
	}
}

func (q *cmdQueue) run() {
	defer q.wg.Done()
	for c := range q.queue {
		RunShell(q.log, q.shell, c, q.timeout)
	}
}

func (q *cmdQueue) close(timeout time.Duration) {
	close(q.queue)
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		q.log.Warn("commands still queued at exit", "pending", len(q.queue))
	}
}

// RunShell runs cmdline with shell -c, bounded by timeout, and logs the
// outcome as ldirectord's system_wrapper does ("system(...) failed").
func RunShell(log *slog.Logger, shell, cmdline string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, shell, "-c", cmdline)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		log.Error("command failed", "command", cmdline, "err", err, "output", string(out), "elapsed", time.Since(start))
		return err
	}
	log.Info("command run", "command", cmdline, "elapsed", time.Since(start))
	return nil
}
