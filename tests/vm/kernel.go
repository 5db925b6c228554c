package vm

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// ExtractVmlinux returns the uncompressed kernel inside a bzImage.
//
// Why: under TCG the kernel's own decompressor needs about 3 s per boot;
// qemu can load the ELF itself through its PVH entry note instead.
//
// How (the logic of the kernel's scripts/extract-vmlinux, but exact rather
// than a scan for magic bytes): the x86 boot header (boot protocol >= 2.08)
// says where the compressed payload sits: payload_offset (0x248) and
// payload_length (0x24c), counted from the start of the protected-mode
// code, which follows the (setup_sects+1) 512-byte setup sectors. The build
// appends the 4-byte decompressed size to the stream, which is cut off.
// gzip is decompressed here; xz, zstd and lzma by their Debian tools.
func ExtractVmlinux(bz []byte) ([]byte, error) {
	if len(bz) < 0x250 || string(bz[0x202:0x206]) != "HdrS" {
		return nil, errors.New("not an x86 bzImage (no HdrS boot header)")
	}
	if v := binary.LittleEndian.Uint16(bz[0x206:]); v < 0x208 {
		return nil, fmt.Errorf("boot protocol %#x has no payload fields (need 2.08+)", v)
	}
	setupSects := int(bz[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	pm := (setupSects + 1) * 512
	off := int(binary.LittleEndian.Uint32(bz[0x248:]))
	n := int(binary.LittleEndian.Uint32(bz[0x24c:]))
	if n < 8 || pm+off+n > len(bz) {
		return nil, fmt.Errorf("payload %d+%d beyond the image (%d bytes)", pm+off, n, len(bz))
	}
	payload := bz[pm+off : pm+off+n-4]
	var out []byte
	var err error
	switch {
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		out, err = gunzip(payload)
	case bytes.HasPrefix(payload, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		out, err = filter(payload, "xz", "-dc", "--single-stream")
	case bytes.HasPrefix(payload, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		out, err = filter(payload, "zstd", "-dcq")
	case bytes.HasPrefix(payload, []byte{0x5d, 0, 0}):
		out, err = filter(payload, "xz", "--format=lzma", "-dc", "--single-stream")
	default:
		return nil, fmt.Errorf("unknown kernel compression (payload starts % x)", payload[:6])
	}
	if err != nil {
		return nil, fmt.Errorf("decompress kernel payload: %w", err)
	}
	if !bytes.HasPrefix(out, []byte("\x7fELF")) {
		return nil, errors.New("decompressed kernel payload is not an ELF vmlinux")
	}
	return out, nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return io.ReadAll(zr)
}

func filter(in []byte, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s is needed to unpack the kernel: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// HasPVHNote reports whether an ELF kernel carries the Xen PVH entry note
// (XEN_ELFNOTE_PHYS32_ENTRY, type 18, owner "Xen"): qemu's -kernel boots a
// raw vmlinux only through it (CONFIG_PVH=y, as in Debian's kernels).
func HasPVHNote(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, fmt.Errorf("read kernel ELF: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return false, fmt.Errorf("read kernel ELF notes: %w", err)
		}
		for len(b) >= 12 {
			nameSz := int(f.ByteOrder.Uint32(b))
			descSz := int(f.ByteOrder.Uint32(b[4:]))
			typ := f.ByteOrder.Uint32(b[8:])
			nameEnd := 12 + align4(nameSz)
			end := nameEnd + align4(descSz)
			if end > len(b) || nameSz < 1 {
				break
			}
			if typ == 18 && string(b[12:12+nameSz-1]) == "Xen" {
				return true, nil
			}
			b = b[end:]
		}
	}
	return false, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// kernelImage writes the vmlinux of bzImage path into dir (once per image:
// the name carries its size and mtime) and returns it, or bzPath itself
// when the ELF cannot be booted directly.
func kernelImage(dir, bzPath string, logf func(string, ...any)) (string, error) {
	st, err := os.Stat(bzPath)
	if err != nil {
		return "", fmt.Errorf("kernel image: %w", err)
	}
	out := fmt.Sprintf("%s/vmlinux-%d-%d", dir, st.Size(), st.ModTime().Unix())
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	// A marker remembers an image that cannot be booted uncompressed, so
	// the next run does not unpack it again only to find that out.
	noPVH := out + ".nopvh"
	if _, err := os.Stat(noPVH); err == nil {
		return bzPath, nil
	}
	bz, err := os.ReadFile(bzPath)
	if err != nil {
		return "", fmt.Errorf("kernel image: %w", err)
	}
	raw, err := ExtractVmlinux(bz)
	if err != nil {
		logf("vm: booting %s compressed (slower): %v", bzPath, err)
		return bzPath, os.WriteFile(noPVH, []byte(err.Error()+"\n"), 0o644)
	}
	if err := writeAtomic(out, raw, 0o644); err != nil {
		return "", err
	}
	ok, err := HasPVHNote(out)
	if err != nil || !ok {
		logf("vm: %s has no PVH note (%v); booting the bzImage (slower)", out, err)
		os.Remove(out)
		return bzPath, os.WriteFile(noPVH, []byte("no PVH note\n"), 0o644)
	}
	// Images of other kernel builds are dead weight (tens of MB each).
	old, _ := filepath.Glob(filepath.Join(dir, "vmlinux-*"))
	for _, o := range old {
		if o != out {
			os.Remove(o)
		}
	}
	return out, nil
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return nil
}
