package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
	"lvsha/ldird/syncd"
)

func syncCfg(t *testing.T, line string) *config.Config {
	t.Helper()
	cfg, err := config.ParseBytes("ldirectord.cf", []byte("checkinterval=5\n"+line+"virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\tchecktype=on\n"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestSyncWiring: start, status, a refused reload that keeps the running
// daemons and names the line, and the connection table's layout.
func TestSyncWiring(t *testing.T) {
	f := dataplane.NewFake()
	log := slog.New(slog.DiscardHandler)
	d := &daemon{dp: f, dpName: config.DataplaneIPVS, log: log, path: "ldirectord.cf",
		syncd: syncd.New(f, filepath.Join(t.TempDir(), "rec"), log)}
	d.newDirector("header")
	cfg := syncCfg(t, "syncdaemon = eth0 syncid=7\n")
	if err := d.applySync(cfg, nil); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	d.writeSyncStatus(&b)
	for _, want := range []string{
		"Connection synchronisation (ldird): syncdaemon = eth0 syncid=7 (ldirectord.cf:2)",
		"  master eth0 syncid 7 group 224.0.0.81:8848 ttl 1 maxlen 1472  started by ldird",
		"  backup eth0 syncid 7 group 224.0.0.81:8848 ttl 1 maxlen 1472  started by ldird",
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}

	// The kernel refuses the new interface: the reload fails at the
	// directive's line and the running daemons are back.
	f.Fail = map[string]error{"StartSyncDaemon": errors.New("no such device")}
	bad := syncCfg(t, "syncdaemon = eth9 syncid=7\n")
	err := d.applySync(bad, cfg.Global.SyncDaemon)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Line != 2 || !strings.Contains(ce.Msg, "no such device") {
		t.Fatalf("refused reload: %v", err)
	}
	f.Fail = nil
	// The restore failed too (the fake refused every start): the next
	// good reload starts them again.
	if err := d.applySync(cfg, nil); err != nil {
		t.Fatal(err)
	}
	if ds, _ := f.SyncDaemons(); len(ds) != 2 || ds[0].Interface != "eth0" || ds[1].Interface != "eth0" {
		t.Fatalf("daemons after the refused reload: %v", ds)
	}

	// No dataplane sync: a configuration with syncdaemon is refused.
	u := &daemon{dp: f, dpName: config.DataplaneUserspace, log: log}
	if err := u.applySync(cfg, nil); err == nil || !strings.Contains(err.Error(), "cannot synchronise") {
		t.Fatalf("no sync support: %v", err)
	}
	b.Reset()
	u.writeSyncStatus(&b)
	if !strings.Contains(b.String(), "not available with dataplane = userspace") {
		t.Errorf("userspace status: %s", b.String())
	}
}

func TestWriteConns(t *testing.T) {
	ap := netip.MustParseAddrPort
	var b bytes.Buffer
	WriteConns(&b, []dataplane.Conn{
		{Protocol: "TCP", Client: ap("10.80.10.10:50010"), Virtual: ap("10.80.0.100:7000"), Real: ap("10.80.1.11:7000"), State: "ESTABLISHED", Expires: 899 * time.Second, Synced: true},
		{Protocol: "TCP", Client: ap("[2001:db8::2]:54321"), Virtual: ap("[2001:db8::64]:80"), Real: ap("[2001:db8:1::b]:8080"), State: "FIN_WAIT", Expires: 60 * time.Second},
	})
	want := "IPVS connection entries\n" +
		"pro expire state       source             virtual            destination        origin\n" +
		"TCP 14:59  ESTABLISHED 10.80.10.10:50010  10.80.0.100:7000   10.80.1.11:7000    sync\n" +
		"TCP 01:00  FIN_WAIT    [2001:db8::2]:54321 [2001:db8::64]:80  [2001:db8:1::b]:8080 local\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
