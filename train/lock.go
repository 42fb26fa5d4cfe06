package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the file of a run folder that a training job holds locked (flock) while it runs.
const LockFile = ".lock"

// Lock takes the run folder's lock, so that two jobs never write one run, and returns the function
// that releases it. The lock file records the holder's process id for the error the next job gets.
// The lock is advisory and released by the kernel when the process dies, so a killed job never
// leaves a run folder locked.
func Lock(run string) (release func(), err error) {
	p := filepath.Join(run, LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: locking %s: %w", run, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 64)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(b[:n]))
			if _, perr := strconv.Atoi(holder); perr != nil || holder == "" {
				holder = "another process"
			} else {
				holder = "process " + holder
			}
			return nil, fmt.Errorf("train: run folder %s is in use by %s (a training job holds %s); wait for it to finish or give another --out", run, holder, p)
		}
		return nil, fmt.Errorf("train: locking %s: %w", run, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}
