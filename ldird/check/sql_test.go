package check

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// TestPgsqlReal checks against a throwaway PostgreSQL cluster (initdb +
// postgres on a loopback port), run as the postgres user when we are root.
func TestPgsqlReal(t *testing.T) {
	initdb, err := findPG("initdb")
	if err != nil {
		testenv.Skipf(t, "PostgreSQL server binaries are not installed (Debian package postgresql; scripts/deps.sh test installs it): %v", err)
	}
	postgres, _ := findPG("postgres")
	cred := (*syscall.Credential)(nil)
	// Not t.TempDir: its parent is private to root, the server runs as postgres.
	dir, err := os.MkdirTemp("", "pgcheck")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Skip(t, "running as root and there is no postgres user to run the server (the Debian package postgresql creates it)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		os.Chmod(dir, 0o777)
	}
	data := filepath.Join(dir, "data")
	pwf := filepath.Join(dir, "pw")
	os.WriteFile(pwf, []byte("hunter2\n"), 0o644)
	cmd := exec.Command(initdb, "-D", data, "-U", "checker", "--pwfile", pwf, "-A", "scram-sha-256", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	srv := exec.Command(postgres, "-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", dir, "-F")
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	startDaemon(t, srv, port)
	tg := Target{IP: loop, Port: uint16(port)}
	spec := Spec{Type: "negotiate", Service: "pgsql", Login: "checker", Passwd: "hunter2", Database: "postgres", Request: "/SELECT 1"}
	// The port opens before the server accepts logins ("starting up").
	c := mustNew(t, spec)
	deadline := time.Now().Add(20 * time.Second)
	for r := c.Check(t.Context(), tg); !r.OK; r = c.Check(t.Context(), tg) {
		if time.Now().After(deadline) {
			t.Fatalf("pgsql check never succeeded: %v", r.Err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	none := spec
	none.Request = "/SELECT 1 WHERE false"
	expectFail(t, mustNew(t, none), tg) // zero rows is down
	bad := spec
	bad.Passwd = "wrong"
	expectFail(t, mustNew(t, bad), tg)
	broken := spec
	broken.Request = "/SELECT * FROM no_such_table"
	expectFail(t, mustNew(t, broken), tg)
}

func findPG(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(m) > 0 {
		return m[len(m)-1], nil
	}
	return "", fmt.Errorf("%s not found", name)
}

// mysqlServer is a fake MySQL server: handshake v10, accepts user "u" with
// any password (mysql_native_password), answers COM_QUERY with `rows` rows,
// or an error for a query containing "error".
func mysqlServer(t *testing.T, rows int) Target {
	return lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		seq := byte(0)
		write := func(p []byte) {
			h := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}
			seq++
			c.Write(append(h, p...))
		}
		read := func() []byte {
			var h [4]byte
			if _, err := io.ReadFull(rd, h[:]); err != nil {
				return nil
			}
			n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
			seq = h[3] + 1
			p := make([]byte, n)
			if _, err := io.ReadFull(rd, p); err != nil {
				return nil
			}
			return p
		}
		const caps = 0x00000200 | 0x00008000 | 0x00080000 | 0x00000008 // PROTOCOL_41|SECURE_CONN|PLUGIN_AUTH|CONNECT_WITH_DB
		salt := []byte("abcdefghijklmnopqrst")
		var hs []byte
		hs = append(hs, 10)
		hs = append(hs, "5.7.0-fake\x00"...)
		hs = binary.LittleEndian.AppendUint32(hs, 1)
		hs = append(hs, salt[:8]...)
		hs = append(hs, 0)
		hs = binary.LittleEndian.AppendUint16(hs, uint16(caps&0xffff))
		hs = append(hs, 33)
		hs = binary.LittleEndian.AppendUint16(hs, 2)
		hs = binary.LittleEndian.AppendUint16(hs, uint16(caps>>16))
		hs = append(hs, 21)
		hs = append(hs, make([]byte, 10)...)
		hs = append(hs, salt[8:]...)
		hs = append(hs, 0)
		hs = append(hs, "mysql_native_password\x00"...)
		write(hs)
		auth := read()
		if auth == nil {
			return
		}
		ok := []byte{0, 0, 0, 2, 0, 0, 0}
		// username starts at offset 32, NUL-terminated
		if len(auth) < 33 || !strings.HasPrefix(string(auth[32:]), "u\x00") {
			write(append([]byte{0xff, 0x15, 0x04, '#'}, "28000Access denied"...))
			return
		}
		write(ok)
		for {
			p := read()
			if p == nil {
				return
			}
			switch p[0] {
			case 1: // COM_QUIT
				return
			case 3: // COM_QUERY
				if strings.Contains(string(p[1:]), "error") {
					write(append([]byte{0xff, 0x7a, 0x04, '#'}, "42S02Table doesn't exist"...))
					continue
				}
				write([]byte{1}) // one column
				col := []byte{}
				for _, s := range []string{"def", "", "", "", "x", ""} {
					col = append(col, byte(len(s)))
					col = append(col, s...)
				}
				col = append(col, 0x0c, 33, 0, 1, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0)
				write(col)
				write([]byte{0xfe, 0, 0, 2, 0}) // EOF
				for i := 0; i < rows; i++ {
					write([]byte{1, '1'})
				}
				write([]byte{0xfe, 0, 0, 2, 0}) // EOF
			default:
				write(ok)
			}
		}
	})
}

func TestMySQLFake(t *testing.T) {
	spec := Spec{Type: "negotiate", Service: "mysql", Login: "u", Passwd: "p", Database: "db", Request: "/SELECT 1"}
	expectOK(t, mustNew(t, spec), mysqlServer(t, 1))
	expectFail(t, mustNew(t, spec), mysqlServer(t, 0)) // no rows
	bad := spec
	bad.Login = "v"
	expectFail(t, mustNew(t, bad), mysqlServer(t, 1))
	e := spec
	e.Request = "/SELECT error"
	expectFail(t, mustNew(t, e), mysqlServer(t, 1))
	expectFail(t, mustNew(t, spec), closedPort(t))
}
