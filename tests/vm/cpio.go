package vm

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// writeCpio writes the tree under root as an uncompressed "newc" cpio
// archive, the format the kernel unpacks as an initramfs. Uncompressed on
// purpose: under TCG unpacking gzip would cost more boot time than the
// extra megabytes cost to load.
func writeCpio(w io.Writer, root string) error {
	ino := uint32(1)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		st, err := os.Lstat(path)
		if err != nil {
			return err
		}
		var mode uint32
		var data []byte
		switch {
		case st.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			mode = 0o120000 | 0o777
			data = []byte(target)
		case st.IsDir():
			mode = 0o040000 | uint32(st.Mode().Perm())
		case st.Mode().IsRegular():
			mode = 0o100000 | uint32(st.Mode().Perm())
			if data, err = os.ReadFile(path); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unsupported file type %v", path, st.Mode().Type())
		}
		nlink := 1
		if st.IsDir() {
			nlink = 2
		}
		ino++
		return cpioEntry(w, rel, ino, mode, nlink, st.ModTime().Unix(), data)
	})
	if err != nil {
		return fmt.Errorf("initramfs cpio: %w", err)
	}
	if err := cpioEntry(w, "TRAILER!!!", 0, 0, 1, 0, nil); err != nil {
		return fmt.Errorf("initramfs cpio: %w", err)
	}
	return nil
}

func cpioEntry(w io.Writer, name string, ino, mode uint32, nlink int, mtime int64, data []byte) error {
	name = strings.TrimPrefix(name, "/")
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, nlink, uint32(mtime), len(data), 0, 0, 0, 0, len(name)+1, 0)
	buf := make([]byte, 0, len(hdr)+len(name)+8+len(data)+4)
	buf = append(buf, hdr...)
	buf = append(buf, name...)
	buf = append(buf, 0)
	buf = pad4(buf)
	buf = append(buf, data...)
	buf = pad4(buf)
	_, err := w.Write(buf)
	return err
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
