package train

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// umask is the process's file mode creation mask, read once at start-up (reading it means setting
// it, so it is set back at once, before other goroutines create files).
var umask = readUmask()

func readUmask() os.FileMode {
	m := syscall.Umask(0o022)
	syscall.Umask(m)
	return os.FileMode(m) & os.ModePerm
}

// fileMode is the mode of the files WriteFileAtomic writes: 0666 less the umask, as os.Create.
func fileMode() os.FileMode { return 0o666 &^ umask }

// WriteFileAtomic writes data to path through a temporary file in the same folder that is synced
// and then renamed over path, and syncs the folder, so that path holds either its old content or
// all of data, whenever the process dies. The file's mode is 0666 less the umask (0644 by
// default), as with os.Create.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("train: writing %s: %w (is the disk full or the folder read-only?)", path, err)
	}
	// os.CreateTemp makes the file 0600; the user gets the mode os.Create would give.
	if err := f.Chmod(fileMode()); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
