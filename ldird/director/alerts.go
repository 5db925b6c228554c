package director

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"lvsha/ldird/config"
)

// Email alerts, as ldirectord's ld_emailalert_send and
// ld_emailalert_resend decide them; the mailer sends them.

// mail is one alert to send.
type mail struct {
	smtp    string // server host; "" = local sendmail
	to      string // emailalert as written: "a@x, b@y"
	from    string // emailalertfrom; "" = the envelope sender
	subject string
	body    string
}

// alertTrack is a real reported down, repeated every emailalertfreq while
// it stays down.
type alertTrack struct {
	v       *config.Virtual
	rserver string
	last    time.Time
}

// alert is ldirectord's ld_emailalert_send: track a downed real for
// emailalertfreq repeats (or stop tracking it), then send if the daemon
// state passes emailalertstatus and emailalert is set.
func (p *planner) alert(now time.Time, v *config.Virtual, subject, rserver string, down bool) {
	id := rserver + " (" + vname(v) + ")"
	if down && v.EmailAlertFreq > 0 {
		p.alerts[id] = &alertTrack{v: v, rserver: rserver, last: now}
	} else {
		delete(p.alerts, id)
	}
	p.sendAlert(v, subject)
}

func (p *planner) sendAlert(v *config.Virtual, subject string) {
	if v.EmailAlertStatus&p.status == 0 || v.EmailAlert == "" {
		return
	}
	if v.ServiceName != "" {
		subject = "[" + v.ServiceName + "] " + subject
	}
	from := ""
	if p.cfg != nil {
		from = p.cfg.Global.EmailAlertFrom
	}
	p.log.Info("emailalert: "+subject, "to", v.EmailAlert)
	p.out = append(p.out, sendAlert{mail{smtp: v.SMTP, to: v.EmailAlert, from: from, subject: subject,
		body: alertBody(p.opt.hostname, subject, statusName(p.status), v)}})
}

// resendAlerts is ldirectord's ld_emailalert_resend: every emailalertfreq
// a real that stays down is reported again.
func (p *planner) resendAlerts(now time.Time) {
	ids := make([]string, 0, len(p.alerts))
	for id := range p.alerts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := p.alerts[id]
		if now.Sub(a.last) < a.v.EmailAlertFreq {
			continue
		}
		a.last = now
		p.sendAlert(a.v, "Inaccessible real server: "+id)
	}
}

// alertBody is ldirectord's mail body for one log line.
func alertBody(hostname, subject, status string, v *config.Virtual) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ldirectord host: %s\nLog-Message: %s\nDaemon-Status: %s\n", hostname, subject, status)
	var extra string
	if v.ServiceName != "" {
		extra += "Service name: " + v.ServiceName + "\n"
	}
	if v.Comment != "" {
		extra += "Comment: " + v.Comment + "\n"
	}
	if extra != "" {
		b.WriteString("\n" + extra + "\n")
	}
	return b.String()
}

// statusName is ldirectord's daemon_status_str.
func statusName(s config.AlertStatus) string {
	switch s {
	case config.AlertStarting:
		return "starting"
	case config.AlertRunning:
		return "running"
	case config.AlertStopping:
		return "stopping"
	case config.AlertReloading:
		return "reloading"
	}
	return "UNKNOWN"
}
