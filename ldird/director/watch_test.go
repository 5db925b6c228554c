package director

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatchFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ldirectord.cf")
	os.WriteFile(path, []byte("v1\n"), 0o644)
	got := make(chan string, 16)
	w, err := WatchFile(path, []byte("v1\n"), 5*time.Millisecond, nil, func(data []byte, first time.Time) {
		got <- string(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	expect := func(what, want string) {
		t.Helper()
		start := time.Now()
		select {
		case s := <-got:
			if s != want {
				t.Fatalf("%s: got %q want %q", what, s, want)
			}
			t.Logf("%s: seen after %v", what, time.Since(start))
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: no change reported", what)
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case s := <-got:
			t.Fatalf("%s: unexpected change %q", what, s)
		case <-time.After(100 * time.Millisecond):
		}
	}

	os.WriteFile(path, []byte("v2\n"), 0o644)
	expect("in place", "v2\n")

	now := time.Now()
	os.Chtimes(path, now, now)
	quiet("touch")

	tmp := filepath.Join(dir, ".ldirectord.cf.swp")
	os.WriteFile(tmp, []byte("v3\n"), 0o644)
	os.Rename(tmp, path)
	expect("rename-on-save", "v3\n")

	// Symlink swap: path becomes a link into releases/a, then to releases/b.
	for _, rel := range []string{"a", "b"} {
		d := filepath.Join(dir, "releases", rel)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "ldirectord.cf"), []byte("release "+rel+"\n"), 0o644)
	}
	link := filepath.Join(dir, "link.tmp")
	os.Symlink("releases/a/ldirectord.cf", link)
	os.Rename(link, path)
	expect("symlink swap", "release a\n")
	os.Symlink("releases/b/ldirectord.cf", link)
	os.Rename(link, path)
	expect("symlink retarget", "release b\n")

	// An edit inside the link's target directory.
	os.WriteFile(filepath.Join(dir, "releases", "b", "ldirectord.cf"), []byte("release b2\n"), 0o644)
	expect("edit of the target", "release b2\n")

	w.Seen([]byte("release b3\n"))
	os.WriteFile(filepath.Join(dir, "releases", "b", "ldirectord.cf"), []byte("release b3\n"), 0o644)
	quiet("already seen (SIGHUP)")
}
