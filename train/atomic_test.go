package train

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteFileAtomicMode checks that written files get 0666 less the umask, for the process's
// umask and for others, whether the file is new or replaced.
func TestWriteFileAtomicMode(t *testing.T) {
	m := syscall.Umask(0)
	syscall.Umask(m)
	if got := umask; got != os.FileMode(m) {
		t.Errorf("umask read as %04o, the process has %04o", got, m)
	}
	saved := umask
	defer func() { umask = saved }()
	for _, c := range []struct {
		umask, want os.FileMode
	}{
		{0o022, 0o644},
		{0o002, 0o664},
		{0o027, 0o640},
		{0o077, 0o600},
		{0o000, 0o666},
	} {
		umask = c.umask
		dir := t.TempDir()
		p := filepath.Join(dir, "f.json")
		for _, content := range []string{"first", "second"} {
			if err := WriteFileAtomic(p, []byte(content)); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != c.want {
				t.Errorf("umask %04o, %s write: mode %04o, want %04o", c.umask, content, st.Mode().Perm(), c.want)
			}
			if b, _ := os.ReadFile(p); string(b) != content {
				t.Errorf("umask %04o: content %q, want %q", c.umask, b, content)
			}
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
			t.Errorf("umask %04o: temporary files left: %v", c.umask, left)
		}
	}
}
