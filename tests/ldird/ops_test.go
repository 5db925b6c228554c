package ldird

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/tests/netns"
)

// scrape GETs /metrics from inside the director node.
func (l *lab) scrape(addr string) (string, error) {
	out, errOut, code, err := l.dir.Run(context.Background(), "curl", "-s", "-S", "--max-time", "2", "http://"+addr+"/metrics")
	if err != nil {
		return "", err
	}
	if code != 0 {
		return "", fmt.Errorf("curl http://%s/metrics: exit %d: %s", addr, code, errOut)
	}
	return out, nil
}

func (l *lab) mustScrape(addr string) string {
	l.t.Helper()
	body, err := l.scrape(addr)
	if err != nil {
		l.t.Fatal(err)
	}
	return body
}

// metric returns the value of one series (name{labels} exactly as
// exposed) and whether it is there.
func metric(body, series string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func ldirdLines(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "ldird_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitMetric waits until series has value v.
func (l *lab) waitMetric(addr, series string, v float64, timeout time.Duration) string {
	l.t.Helper()
	var body string
	netns.Eventually(l.t, timeout, 20*time.Millisecond, func() (bool, string) {
		var err error
		body, err = l.scrape(addr)
		if err != nil {
			return false, err.Error()
		}
		got, ok := metric(body, series)
		return ok && got == v, fmt.Sprintf("%s = %v (present %v), want %v\n%s", series, got, ok, v, ldirdLines(body))
	})
	return body
}

func realSeries(name, real string) string {
	return fmt.Sprintf(`%s{protocol="tcp",real="%s:80",virtual="%s:80"}`, name, real, vip)
}

func reloads(trigger, result string) string {
	return fmt.Sprintf(`ldird_reloads_total{result="%s",trigger="%s"}`, result, trigger)
}

// checksOf sums ldird_check_results_total of the test virtual for outcomes.
func checksOf(body string, outcomes ...string) float64 {
	sum := 0.0
	for _, o := range outcomes {
		v, _ := metric(body, fmt.Sprintf(`ldird_check_results_total{outcome="%s",protocol="tcp",virtual="%s:80"}`, o, vip))
		sum += v
	}
	return sum
}

// TestLdirdMetrics runs ldird with metrics enabled by the ldirectord.cf
// extension directive and scrapes them from inside the director node:
// health, weights, failed checks, table size, and reloads by trigger and
// result; a changed directive moves the listener.
func TestLdirdMetrics(t *testing.T) {
	l := newLab(t)
	const addr = "127.0.0.1:9695"
	l.writeCf(cf("yes", 1, "metrics = "+addr))
	if o, e, c := l.ldird("-t", cfName); c != 0 {
		t.Fatalf("-t with the metrics directive = %d: %s%s", c, o, e)
	}
	ld, err := l.dir.Start(ldirdBin, "--foreground", cfName, "start")
	if err != nil {
		t.Fatal(err)
	}
	up2 := map[string]string{real1IP + ":80": "1", real2IP + ":80": "1"}
	l.waitTable(10*time.Second, up2)

	body := l.waitMetric(addr, realSeries("ldird_real_up", real2IP), 1, 5*time.Second)
	for series, want := range map[string]float64{
		realSeries("ldird_real_up", real1IP):                                     1,
		realSeries("ldird_real_weight", real1IP):                                 1,
		realSeries("ldird_real_weight", real2IP):                                 1,
		realSeries("ldird_real_in_table", real2IP):                               1,
		`ldird_table_services`:                                                   1,
		`ldird_table_destinations`:                                               2,
		`ldird_config_virtuals`:                                                  1,
		`ldird_virtual_fallback_active{protocol="tcp",virtual="` + vip + `:80"}`: 0,
		`ldird_config_last_reload_successful`:                                    1,
		`ldird_dataplane_operations_total{op="add_service",result="ok"}`:         1,
		`ldird_dataplane_operations_total{op="add_dest",result="ok"}`:            2,
	} {
		if got, ok := metric(body, series); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if checksOf(body, "ok") < 2 {
		t.Errorf("ok check results: %v\n%s", checksOf(body, "ok"), ldirdLines(body))
	}
	if n, _ := metric(body, `ldird_check_duration_seconds_count{protocol="tcp",virtual="`+vip+`:80"}`); n < 2 {
		t.Errorf("check latency histogram count %v", n)
	}
	if !strings.Contains(body, `ldird_info{dataplane="userspace"`) {
		t.Errorf("ldird_info missing:\n%s", ldirdLines(body))
	}

	// Real 2 stops: its state goes to 0, it is quiesced, failed checks grow.
	failedBefore := checksOf(body, "failed", "timeout")
	l.web2.Stop(5 * time.Second)
	body = l.waitMetric(addr, realSeries("ldird_real_up", real2IP), 0, 5*time.Second)
	l.waitMetric(addr, realSeries("ldird_real_weight", real2IP), 0, 2*time.Second)
	netns.Eventually(t, 5*time.Second, 100*time.Millisecond, func() (bool, string) {
		b := l.mustScrape(addr)
		f := checksOf(b, "failed", "timeout")
		return f >= failedBefore+2, fmt.Sprintf("failed checks %v, before %v\n%s", f, failedBefore, ldirdLines(b))
	})
	body = l.mustScrape(addr)
	if v, _ := metric(body, realSeries("ldird_real_in_table", real2IP)); v != 1 {
		t.Errorf("quiesced real not in the table: %v", v)
	}
	if v, _ := metric(body, `ldird_dataplane_operations_total{op="update_dest",result="ok"}`); v < 1 {
		t.Errorf("quiesce not counted as update_dest: %v", v)
	}

	// A good reload by each trigger.
	l.writeCf(cf("yes", 3, "metrics = "+addr)) // autoreload=yes
	l.waitMetric(addr, reloads("autoreload", "ok"), 1, 3*time.Second)
	l.waitMetric(addr, realSeries("ldird_real_weight", real1IP), 3, 2*time.Second)
	if _, e, c := l.ldird(cfName, "reload"); c != 0 {
		t.Fatalf("reload = %d: %s", c, e)
	}
	// The command waits for the daemon: counted by the time it returns.
	if v, _ := metric(l.mustScrape(addr), reloads("command", "ok")); v != 1 {
		t.Errorf("reloads command ok = %v right after `ldird reload`", v)
	}
	if err := ld.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	l.waitMetric(addr, reloads("sighup", "ok"), 1, 3*time.Second)

	// A broken edit: refused by autoreload, its errors counted, table kept.
	l.writeCf(cf("yes", 1, "metrics = "+addr+"\nbogus = 1"))
	body = l.waitMetric(addr, reloads("autoreload", "failed"), 1, 3*time.Second)
	if v, _ := metric(body, `ldird_config_errors_total{trigger="autoreload"}`); v != 1 {
		t.Errorf("config errors %v, want 1\n%s", v, ldirdLines(body))
	}
	if v, _ := metric(body, `ldird_config_last_reload_successful`); v != 0 {
		t.Errorf("last_reload_successful %v after a refused reload", v)
	}
	if v, _ := metric(body, realSeries("ldird_real_weight", real1IP)); v != 3 {
		t.Errorf("refused reload changed the weight: %v", v)
	}
	// A file the client cannot fault (it parses) but the daemon refuses:
	// the dataplane cannot change on reload. The command reports it.
	l.writeCf(strings.Replace(cf("yes", 1, "metrics = "+addr), "dataplane=userspace", "dataplane=ipvs", 1))
	l.waitMetric(addr, reloads("autoreload", "failed"), 2, 3*time.Second)
	if _, e, c := l.ldird(cfName, "reload"); c != 2 || !strings.Contains(e, "dataplane cannot change") {
		t.Fatalf("reload refused by the daemon = %d, want 2: %s", c, e)
	}
	body = l.mustScrape(addr)
	for series, want := range map[string]float64{
		reloads("command", "failed"):                   1,
		reloads("command", "ok"):                       1,
		reloads("sighup", "ok"):                        1,
		reloads("autoreload", "ok"):                    1,
		`ldird_config_errors_total{trigger="command"}`: 1,
	} {
		if got, _ := metric(body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}

	// The directive moves the listener; the counters carry over.
	const addr2 = "127.0.0.1:9696"
	l.writeCf(cf("yes", 3, "metrics = "+addr2))
	body = l.waitMetric(addr2, reloads("autoreload", "ok"), 2, 3*time.Second)
	if v, _ := metric(body, `ldird_config_last_reload_successful`); v != 1 {
		t.Errorf("last_reload_successful %v after a good reload", v)
	}
	if _, err := l.scrape(addr); err == nil {
		t.Errorf("old metrics address %s still answers", addr)
	}

	if _, e, c := l.ldird(cfName, "stop"); c != 0 {
		t.Fatalf("stop = %d: %s", c, e)
	}
	if err := ld.Wait(10 * time.Second); err != nil {
		t.Fatalf("ldird --foreground: %v", err)
	}
}

// TestLdirdSystemdNotify runs `ldird --foreground start` the way the
// systemd unit does, with NOTIFY_SOCKET pointing at a socket the test
// listens on and a 1 s watchdog: READY=1 comes only after the control
// socket answers and the first check round (one real that never answers,
// so it lasts checktimeout) is published; WATCHDOG=1 every half second;
// RELOADING=1/READY=1 around reloads; STOPPING=1 on stop; the notify
// variables do not leak to the commands ldird runs.
func TestLdirdSystemdNotify(t *testing.T) {
	l := newLab(t)
	tmp := t.TempDir()
	sockPath := filepath.Join(tmp, "notify.sock")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	type note struct {
		msg string
		at  time.Time
	}
	notes := make(chan note, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				return
			}
			notes <- note{string(buf[:n]), time.Now()}
		}
	}()
	envFile := filepath.Join(tmp, "fallbackcommand.env")
	script := filepath.Join(tmp, "fb.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > "+envFile+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const blackhole = "10.60.0.99" // on the LAN, nobody there: checks time out
	text := func(w1 int) string {
		return fmt.Sprintf(`checkinterval=1
checktimeout=1
negotiatetimeout=1
autoreload=yes
quiescent=yes
dataplane=userspace
fallbackcommand="%s"
virtual=%s:80
	real=%s:80 masq %d
	real=%s:80 masq 1
	real=%s:80 masq 1
	service=http
	request="index.html"
	receive="^real"
	scheduler=rr
`, script, vip, real1IP, w1, real2IP, blackhole)
	}
	l.writeCf(text(1))

	startAt := time.Now()
	ld, err := l.dir.Start("/usr/bin/env", "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=1000000",
		ldirdBin, "--foreground", cfName, "start")
	if err != nil {
		t.Fatal(err)
	}
	// Poll the control socket until READY=1 arrives.
	var sockAt, readyAt time.Time
	var firstStatus string
	deadline := time.Now().Add(15 * time.Second)
	for readyAt.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("no READY=1 within 15 s; control socket answered at %v", sockAt)
		}
		select {
		case n := <-notes:
			if !strings.HasPrefix(n.msg, "READY=1") {
				t.Fatalf("first notification %q, want READY=1", n.msg)
			}
			readyAt = n.at
			continue
		default:
		}
		if sockAt.IsZero() {
			if out, e, c := l.ldird(cfName, "status"); c == 0 && strings.Contains(e, "is running") && strings.Contains(out, "Health (ldird)") {
				sockAt, firstStatus = time.Now(), out
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sockAt.IsZero() || !sockAt.Before(readyAt) {
		t.Fatalf("READY=1 at %v came before the control socket answered (%v)", readyAt.Sub(startAt), sockAt)
	}
	if d := readyAt.Sub(startAt); d < 900*time.Millisecond {
		t.Errorf("READY=1 after %v: before the first check round (checktimeout 1 s) could end", d)
	}
	// The socket answered while the first round was still running: nothing
	// was published yet (the no-flap start-up), which READY=1 waited for.
	if regexp.MustCompile(`-> ` + regexp.QuoteMeta(real1IP) + `:80\s`).MatchString(firstStatus) {
		t.Errorf("table published %v after exec, before the first round could end:\n%s", sockAt.Sub(startAt), firstStatus)
	}
	t.Logf("control socket answered %v after exec, READY=1 %v after exec", sockAt.Sub(startAt), readyAt.Sub(startAt))
	// At READY=1 the first round is in the table: no waiting here.
	if tab, out := l.table(); tab[real1IP+":80"] != "1" || tab[real2IP+":80"] != "1" || tab[blackhole+":80"] != "0" {
		t.Fatalf("table right after READY=1:\n%s", out)
	}

	// WATCHDOG=1 every half of WATCHDOG_USEC.
	var beats []time.Time
	collect := time.After(2200 * time.Millisecond)
wait:
	for {
		select {
		case n := <-notes:
			if n.msg != "WATCHDOG=1" {
				t.Fatalf("unexpected notification %q while idle", n.msg)
			}
			beats = append(beats, n.at)
		case <-collect:
			break wait
		}
	}
	if len(beats) < 3 {
		t.Fatalf("%d WATCHDOG=1 in 2.2 s, want about 4", len(beats))
	}
	for i := 1; i < len(beats); i++ {
		if gap := beats[i].Sub(beats[i-1]); gap < 300*time.Millisecond || gap > 800*time.Millisecond {
			t.Errorf("watchdog gap %v, want about 500 ms", gap)
		}
	}

	// A reload, by autoreload and by command: RELOADING=1 then READY=1.
	expectReload := func(how string) {
		t.Helper()
		var got []string
		timeout := time.After(5 * time.Second)
		for {
			select {
			case n := <-notes:
				if n.msg == "WATCHDOG=1" {
					continue
				}
				got = append(got, n.msg)
				if len(got) == 2 {
					if !strings.HasPrefix(got[0], "RELOADING=1\nMONOTONIC_USEC=") || !strings.HasPrefix(got[1], "READY=1\n") {
						t.Fatalf("%s: notifications %q, want RELOADING=1 then READY=1", how, got)
					}
					return
				}
			case <-timeout:
				t.Fatalf("%s: notifications %q, want RELOADING=1 then READY=1", how, got)
			}
		}
	}
	l.writeCf(text(2))
	expectReload("autoreload")
	if _, e, c := l.ldird(cfName, "reload"); c != 0 {
		t.Fatalf("reload = %d: %s", c, e)
	}
	expectReload("reload command")

	// What ldird runs does not inherit the service's notify socket.
	envb, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatalf("fallbackcommand did not run: %v", err)
	}
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		if strings.Contains(string(envb), v+"=") {
			t.Errorf("fallbackcommand inherited %s:\n%s", v, envb)
		}
	}

	// Stop: STOPPING=1, then the process ends.
	if _, e, c := l.ldird(cfName, "stop"); c != 0 {
		t.Fatalf("stop = %d: %s", c, e)
	}
	timeout := time.After(5 * time.Second)
	for stopped := false; !stopped; {
		select {
		case n := <-notes:
			if n.msg == "STOPPING=1" {
				stopped = true
			} else if n.msg != "WATCHDOG=1" {
				t.Fatalf("unexpected notification %q before STOPPING=1", n.msg)
			}
		case <-timeout:
			t.Fatal("no STOPPING=1 on stop")
		}
	}
	if err := ld.Wait(10 * time.Second); err != nil {
		t.Fatalf("ldird: %v", err)
	}
}
