package vm

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// TestIPVSInVM builds ldird/dataplane/ipvs's tests with -tags vm, boots
// the VM once and runs them there: the IPVS table tests (every scheduler,
// tcp/udp/fwm, v4/v6, persistence, gate/masq/ipip, weights, errors),
// checked against ipvsadm -Ln, and HTTP end to end through a VIP over NAT
// and DR between network namespaces inside the VM.
func TestIPVSInVM(t *testing.T) {
	testenv.SkipShort(t, "boots a VM (about 10-20 s)")
	start := time.Now()
	bin := filepath.Join(t.TempDir(), "ipvs.test")
	if err := BuildTest("lvsha/ldird/dataplane/ipvs", bin, "vm"); err != nil {
		t.Fatal(err)
	}
	t.Logf("built the in-VM test binary in %v", time.Since(start).Round(10*time.Millisecond))
	// TestLdirdIPVS needs the ldird binary: TestLdirdInVM runs it;
	// TestSyncFailover needs hbd too: TestSyncFailoverInVM runs it.
	out, err := Run(t, "cd /share && ./ipvs.test -test.v -test.count=1 -test.timeout=100s -test.skip '^(TestLdird|TestSyncFailover$)'\n",
		map[string]string{"ipvs.test": bin})
	t.Logf("in the VM:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	testenv.CheckSkips(t, "lvsha/ldird/dataplane/ipvs", out)
	// Guard against a binary that ran nothing.
	for _, want := range []string{"--- PASS: TestTable", "--- PASS: TestEndToEnd/nat", "--- PASS: TestEndToEnd/dr", "--- PASS: TestSyncDaemonKernel", "\nPASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("in-VM output lacks %q", want)
		}
	}
	t.Logf("whole VM test: %v", time.Since(start).Round(10*time.Millisecond))
}

func TestExtractVmlinuxGzip(t *testing.T) {
	elf := append([]byte("\x7fELF"), bytes.Repeat([]byte("kernel"), 100)...)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(elf)
	zw.Close()
	payload := append(z.Bytes(), 0, 0, 0, 0) // the size the build appends
	// A bzImage: 2 setup sectors + boot sector, then the protected-mode
	// code with the payload at offset 16 in it.
	img := make([]byte, 3*512+16)
	img[0x1f1] = 2
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x20f)
	binary.LittleEndian.PutUint32(img[0x248:], 16)
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(len(payload)))
	img = append(img, payload...)
	got, err := ExtractVmlinux(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, elf) {
		t.Errorf("extracted %d bytes, want %d", len(got), len(elf))
	}
	if _, err := ExtractVmlinux(img[:0x300]); err == nil {
		t.Error("truncated image accepted")
	}
	img[0x202] = 'X'
	if _, err := ExtractVmlinux(img); err == nil {
		t.Error("image without HdrS accepted")
	}
}

func TestResolveModules(t *testing.T) {
	dep := filepath.Join(t.TempDir(), "modules.dep")
	os.WriteFile(dep, []byte(`kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko kernel/lib/libcrc32c.ko
kernel/net/netfilter/nf_conntrack.ko: kernel/lib/libcrc32c.ko
kernel/lib/libcrc32c.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/net/veth.ko:
kernel/net/9p/9pnet-virtio.ko: kernel/net/9p/9pnet.ko
kernel/net/9p/9pnet.ko:
`), 0o644)
	got, err := resolveModules(dep, []string{"ip_vs", "9pnet_virtio", "builtin_thing"})
	if err != nil {
		t.Fatal(err)
	}
	want := "kernel/lib/libcrc32c.ko kernel/net/9p/9pnet-virtio.ko kernel/net/9p/9pnet.ko kernel/net/netfilter/ipvs/ip_vs.ko kernel/net/netfilter/nf_conntrack.ko"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v\nwant %s", got, want)
	}
}

func TestCpio(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/bin/prog"), []byte("hello"), 0o755)
	os.Symlink("usr/bin", filepath.Join(root, "bin"))
	var b bytes.Buffer
	if err := writeCpio(&b, root); err != nil {
		t.Fatal(err)
	}
	// Read it back: newc headers, names, 4-byte alignment.
	type ent struct {
		mode uint64
		data string
	}
	got := map[string]ent{}
	buf := b.Bytes()
	for off := 0; ; {
		if off%4 != 0 || string(buf[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) uint64 {
			v, err := strconv.ParseUint(string(buf[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		mode, size, nameSize := field(1), int(field(6)), int(field(11))
		name := string(buf[off+110 : off+110+nameSize-1])
		off = align4(off + 110 + nameSize)
		data := string(buf[off : off+size])
		off = align4(off + size)
		if name == "TRAILER!!!" {
			if off != len(buf) {
				t.Errorf("%d bytes after the trailer", len(buf)-off)
			}
			break
		}
		got[name] = ent{mode, data}
	}
	if e := got["usr/bin/prog"]; e.mode != 0o100755 || e.data != "hello" {
		t.Errorf("file: %o %q", e.mode, e.data)
	}
	if e := got["bin"]; e.mode != 0o120777 || e.data != "usr/bin" {
		t.Errorf("symlink: %o %q", e.mode, e.data)
	}
	if e, ok := got["usr"]; !ok || e.mode&0o170000 != 0o040000 {
		t.Errorf("dir: %o %v", e.mode, ok)
	}
}
