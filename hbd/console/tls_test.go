package console

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lvsha/hbd/config"
	hbdapi "lvsha/hbd/statusapi"
	"lvsha/hbd/wire"
)

// pki makes a CA, a server certificate for 127.0.0.1 (shared by both
// consoles, as a cluster commonly does) and a client certificate.
type pki struct {
	dir                       string
	caFile, certFile, keyFile string
	client                    tls.Certificate
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	issue := func(serial int64, cn string, server bool) ([]byte, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		c := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		if server {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			c.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		} else {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, c, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	der, k := issue(2, "console", true)
	p.certFile, p.keyFile = filepath.Join(p.dir, "console.pem"), filepath.Join(p.dir, "console.key")
	// The chain: the server certificate, then the CA (so a peer trusts it
	// from this one file).
	os.WriteFile(p.certFile, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...), 0o600)
	kb, _ := x509.MarshalECPrivateKey(k)
	writePEM(t, p.keyFile, "EC PRIVATE KEY", kb)
	cder, ck := issue(3, "admin", false)
	p.client = tls.Certificate{Certificate: [][]byte{cder}, PrivateKey: ck}
	return p
}

// With console_tls and console_clientca: HTTPS, a verified client
// certificate is an administrator (with a CSRF token derived from it), no
// certificate is anonymous, and the consoles reach each other over HTTPS
// trusting the shared certificate.
func TestTLSAndClientCertificates(t *testing.T) {
	p := newPKI(t)
	cc := config.Console{Listen: map[string]string{}, TLSCert: p.certFile, TLSKey: p.keyFile, ClientCA: p.caFile,
		Line: map[string]int{}}
	lns := map[string]net.Listener{}
	for _, n := range []string{"alpha", "beta"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[n] = ln
		cc.Listen[n] = ln.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	moves := make(chan string, 4)
	for _, n := range []string{"alpha", "beta"} {
		st := &hbdapi.Status{API: hbdapi.API, Node: n}
		srv, err := New(Options{Node: n, Nodes: []string{"alpha", "beta"}, Config: cc, HACF: "ha.cf",
			Keys: func() *wire.Keyring { return keyring }, Status: func() *hbdapi.Status { return st },
			Standby:      func(set string) error { moves <- n + " standby " + set; return nil },
			LdirdSockets: func() []string { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		go srv.ServeListener(ctx, lns[n])
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(p.caFile)
	pool.AppendCertsFromPEM(caPEM)
	base := "https://" + cc.Listen["alpha"]
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{p.client}}}}
	without := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	session := func(c *http.Client) map[string]any {
		resp, err := c.Get(base + "/api/v1/session")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s map[string]any
		json.NewDecoder(resp.Body).Decode(&s)
		return s
	}
	s := session(withCert)
	if s["user"] != "cert:admin" || s["cert"] != true || s["csrf"] == nil || s["certificate_login"] != true {
		t.Fatalf("session with a client certificate: %v", s)
	}
	if s := session(without); s["user"] != nil {
		t.Fatalf("session without a certificate: %v", s)
	}
	// Plain HTTP to the HTTPS port is not served.
	if resp, err := http.Get("http://" + cc.Listen["alpha"] + "/api/v1/session"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered")
		}
		resp.Body.Close()
	}
	post := func(c *http.Client, csrf string) int {
		req, _ := http.NewRequest("POST", base+"/api/v1/actions/standby", strings.NewReader(`{"director":"beta","set":"foreign"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", base)
		req.Header.Set(csrfHeader, csrf)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(without, "x"); code != 401 {
		t.Errorf("action without a certificate: %d", code)
	}
	if code := post(withCert, "not the token"); code != 403 {
		t.Errorf("action with a certificate and a wrong token: %d", code)
	}
	// The right token, for beta: forwarded over HTTPS, signed.
	if code := post(withCert, s["csrf"].(string)); code != 200 {
		t.Fatalf("action with a certificate: %d", code)
	}
	select {
	case m := <-moves:
		if m != "beta standby foreign" {
			t.Fatalf("moved: %s", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the forwarded standby never ran on beta")
	}
}

// A console whose files are wrong does not start, and says which ha.cf
// line names them.
func TestNewRefusesBadFiles(t *testing.T) {
	p := newPKI(t)
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct {
		cc   config.Console
		want string
	}{
		{config.Console{TLSCert: missing, TLSKey: missing, Line: map[string]int{"console_tls": 7}}, "ha.cf:7: console_tls:"},
		{config.Console{Users: missing, Line: map[string]int{"console_users": 8}}, "ha.cf:8: console_users:"},
		{config.Console{TLSCert: p.certFile, TLSKey: p.keyFile, ClientCA: p.keyFile, Line: map[string]int{"console_clientca": 9}}, "ha.cf:9: console_clientca: " + p.keyFile + " holds no PEM certificate"},
	} {
		_, err := New(Options{Node: "alpha", Nodes: []string{"alpha"}, Config: c.cc, HACF: "ha.cf"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cc, err, c.want)
		}
	}
}
