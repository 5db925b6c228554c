package director

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// mailer sends alerts one at a time from its own goroutine, so a slow or
// dead SMTP server never delays the table.
type mailer struct {
	log      *slog.Logger
	port     int
	sender   string // envelope sender: user@host, as Net::SMTP's caller does
	hostname string
	sendmail string
	queue    chan mail
	wg       sync.WaitGroup
}

func newMailer(log *slog.Logger, port int, hostname, sender, sendmail string) *mailer {
	m := &mailer{log: log, port: port, sender: sender, hostname: hostname,
		sendmail: sendmail, queue: make(chan mail, 256)}
	m.wg.Add(1)
	go m.run()
	return m
}

func (m *mailer) enqueue(x mail) {
	select {
	case m.queue <- x:
	default:
		m.log.Error("email alert dropped: queue full", "subject", x.subject)
	}
}

// close sends what is queued (bounded by timeout) and stops.
func (m *mailer) close(timeout time.Duration) {
	close(m.queue)
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		m.log.Warn("email alerts still queued at exit", "pending", len(m.queue))
	}
}

func (m *mailer) run() {
	defer m.wg.Done()
	for x := range m.queue {
		if err := m.send(x); err != nil {
			m.log.Error("failed to send email alert", "to", x.to, "subject", x.subject, "err", err)
		} else {
			m.log.Info("email alert sent", "to", x.to, "subject", x.subject)
		}
	}
}

func recipients(to string) []string {
	var out []string
	for _, a := range strings.Split(to, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (m *mailer) message(x mail) []byte {
	from := x.from
	if from == "" {
		from = m.sender
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n\r\n", from, x.to, x.subject,
		time.Now().Format(time.RFC1123Z))
	b.WriteString(strings.ReplaceAll(x.body, "\n", "\r\n"))
	return b.Bytes()
}

func (m *mailer) send(x mail) error {
	rcpts := recipients(x.to)
	if len(rcpts) == 0 {
		return fmt.Errorf("no recipient in %q", x.to)
	}
	msg := m.message(x)
	if x.smtp == "" {
		// ldirectord uses Mail::Send (the local sendmail) without smtp=.
		if m.sendmail == "" {
			return fmt.Errorf("no smtp server configured and no sendmail found")
		}
		cmd := exec.Command(m.sendmail, append([]string{"-i", "--"}, rcpts...)...)
		cmd.Stdin = bytes.NewReader(msg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", m.sendmail, err, bytes.TrimSpace(out))
		}
		return nil
	}
	addr := net.JoinHostPort(x.smtp, strconv.Itoa(m.port))
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	c, err := smtp.NewClient(conn, x.smtp)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	defer c.Close()
	steps := []func() error{
		func() error { return c.Hello(m.hostname) },
		func() error { return c.Mail(m.sender) },
	}
	for _, r := range rcpts {
		steps = append(steps, func() error { return c.Rcpt(r) })
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return fmt.Errorf("smtp %s: %w", addr, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp %s: write: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: end of data: %w", addr, err)
	}
	return c.Quit()
}
