package cli_test

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lmpseg/lmpseg/train"
)

// crashArgs are the flags of the runs the crash tests interrupt: single thread, a checkpoint at
// every iteration, augmentation on (random scale, crop and flip), so that the data order and the
// augmentation generator are part of what resuming must reproduce.
func crashArgs(ds, run string, iters int, extra ...string) []string {
	a := []string{"train", "--backbone", modelPath("tiny_dyn_s4.onnx"), "--feature", "feat_s4",
		"--data", filepath.Join(ds, "train"), "--out", run, "--threads", "1", "--seed", "7",
		"--iters", strconv.Itoa(iters), "--batch", "2", "--crop", "48x96", "--scale", "0.75,1.25",
		"--loss", "lmp", "--optimizer", "sgd", "--lr", "0.02", "--warmup", "3", "--ckpt-every", "1"}
	return append(a, extra...)
}

// ckptIter returns the iteration of run's last.ckpt, or -1 when there is none.
func ckptIter(t testing.TB, run string) int {
	t.Helper()
	p := filepath.Join(run, train.LastCkpt)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return -1
	}
	ck, err := train.LoadCheckpoint(p)
	if err != nil {
		t.Fatalf("%s does not load: %v", p, err)
	}
	return ck.Iter
}

// checkRunLoads checks that whatever a killed process left in run loads.
func checkRunLoads(t testing.TB, run string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(run, train.ConfigFile)); errors.Is(err, fs.ErrNotExist) {
		return // killed before the run folder was set up
	}
	if _, err := train.LoadConfig(run); err != nil {
		t.Fatalf("config of %s does not load: %v", run, err)
	}
	if ckptIter(t, run) < 0 {
		return
	}
	if _, _, _, err := train.OpenRun(run); err != nil {
		t.Fatalf("train.OpenRun(%s): %v", run, err)
	}
}

// csvLosses returns the iteration and loss columns of a run's train.csv (the time column differs
// between runs).
func csvLosses(t testing.TB, run string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(readFile(t, filepath.Join(run, train.CSVFile)))), "\n")[1:] {
		f := strings.Split(l, ",")
		out = append(out, strings.Join(f[:len(f)-1], ","))
	}
	return out
}

var resumingRE = regexp.MustCompile(`resuming .* at iteration (\d+) of`)

// TestCrashResume kills lmpseg train with SIGKILL at random moments, many of them just after a
// checkpoint began to be written, and resumes it each time. The run folder must load after every
// kill, each resumed process must start at the last checkpoint, and the final weights, optimiser
// state and loss log must equal those of an uninterrupted run with the same seed.
// LMPSEG_LONG=1 kills ten times as often over five iterations per kill.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	long := os.Getenv("LMPSEG_LONG") != ""
	for _, c := range []struct {
		name         string
		kills, iters int
		onDisk       bool
		extra        []string
	}{
		// On the real disk each checkpoint's fsync takes long enough (about 0.2 s here) that
		// many kills land inside a write; on a tmpfs almost none do.
		{"linear on disk", 20, 300, true, nil},
		// The fcn head adds batch-norm statistics and dropout, whose generator must be reseeded.
		{"fcn", 5, 150, false, []string{"--head", "fcn", "--hidden", "16"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if long {
				// A process lives for one to three steps: leave room for every kill.
				c.kills = 10 * c.kills
				c.iters = 5 * c.kills
			}
			crashResume(t, c.kills, c.iters, c.onDisk, c.extra)
		})
	}
}

func crashResume(t *testing.T, kills, iters int, onDisk bool, extra []string) {
	ds := synthData(t)
	dir := fastTempDir(t)
	ref := filepath.Join(dir, "ref")
	if _, stderr, code := runBin(t, dir, append(crashArgs(ds, ref, iters), extra...)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", code, stderr)
	}

	run := filepath.Join(dir, "run")
	if onDisk {
		d, err := os.MkdirTemp("", "lmpseg-cli-crash-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		run = filepath.Join(d, "run")
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	killed, lives, last := 0, 0, -1
	var tmpLeft []string
	midWrite := 0
	for {
		lives++
		if lives > 10*kills+50 {
			t.Fatalf("no end after %d processes", lives)
		}
		args := append(crashArgs(ds, run, iters), extra...)
		resume := false
		if _, err := os.Stat(filepath.Join(run, train.ConfigFile)); err == nil {
			args = append(args, "--resume")
			resume = true
		}
		cmd := exec.Command(binPath, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var exited bool
		var werr error
		if killed < kills {
			// Kill at a random moment: sometimes during start-up, mostly a few milliseconds after a
			// new checkpoint appeared (so that the next write is in flight).
			var deadline <-chan time.Time
			if rng.IntN(5) == 0 {
				deadline = time.After(time.Duration(rng.IntN(150)) * time.Millisecond)
			}
			tick := time.NewTicker(time.Millisecond)
		wait:
			for {
				select {
				case werr = <-done:
					exited = true
					break wait
				case <-deadline:
					break wait
				case <-tick.C:
					if deadline == nil {
						if info, err := os.Stat(filepath.Join(run, train.LastCkpt)); err == nil && info.ModTime().After(time.Now().Add(-time.Second)) && ckptIterQuiet(run) > last {
							deadline = time.After(time.Duration(rng.IntN(40000)) * time.Microsecond)
						}
					}
				}
			}
			tick.Stop()
			if !exited {
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				killed++
				// A temporary file left behind means the kill landed inside an atomic write.
				if tmps, _ := filepath.Glob(filepath.Join(run, ".*.tmp-*")); len(tmps) > 0 {
					midWrite++
				}
			}
		} else {
			werr = <-done
			exited = true
		}
		if resume {
			m := resumingRE.FindStringSubmatch(out.String())
			if last > 0 && m == nil && out.Len() > 0 && strings.Contains(out.String(), "iter ") {
				t.Fatalf("resumed process did not say where it resumed:\n%s", out.String())
			}
			if m != nil {
				if got, _ := strconv.Atoi(m[1]); got != last {
					t.Fatalf("process %d resumed at iteration %d, the last checkpoint was %d", lives, got, last)
				}
			}
		}
		checkRunLoads(t, run)
		now := ckptIter(t, run)
		if now < last {
			t.Fatalf("after kill %d the checkpoint went back from iteration %d to %d", killed, last, now)
		}
		last = now
		if exited {
			if werr != nil {
				t.Fatalf("process %d failed: %v\nstdout:\n%s\nstderr:\n%s", lives, werr, out.String(), errb.String())
			}
			break
		}
	}
	ents, _ := os.ReadDir(run)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			tmpLeft = append(tmpLeft, e.Name())
		}
	}
	t.Logf("%d processes, %d SIGKILLs survived (%d inside a file write), final iteration %d; temporary files left: %d", lives, killed, midWrite, last, len(tmpLeft))
	if killed < kills {
		t.Fatalf("only %d kills, want %d", killed, kills)
	}
	if len(tmpLeft) > 0 {
		t.Errorf("killed writes left temporary files in the run folder: %v", tmpLeft)
	}

	a, err := train.LoadCheckpoint(filepath.Join(ref, train.LastCkpt))
	if err != nil {
		t.Fatal(err)
	}
	b, err := train.LoadCheckpoint(filepath.Join(run, train.LastCkpt))
	if err != nil {
		t.Fatal(err)
	}
	if a.Iter != iters || b.Iter != iters {
		t.Fatalf("final iterations %d and %d, want %d", a.Iter, b.Iter, iters)
	}
	if !bytes.Equal(a.Head, b.Head) {
		t.Errorf("head weights of the interrupted run differ from the uninterrupted run's")
	}
	if !bytes.Equal(a.Optim, b.Optim) {
		t.Errorf("optimiser state of the interrupted run differs from the uninterrupted run's")
	}
	la, lb := csvLosses(t, ref), csvLosses(t, run)
	if len(la) != len(lb) {
		t.Fatalf("train.csv: %d lines uninterrupted, %d interrupted", len(la), len(lb))
	}
	for i := range la {
		if la[i] != lb[i] {
			t.Fatalf("train.csv line %d: uninterrupted %q, interrupted %q", i+1, la[i], lb[i])
		}
	}
}

// ckptIterQuiet is ckptIter without failing on a checkpoint that is being replaced.
func ckptIterQuiet(run string) int {
	ck, err := train.LoadCheckpoint(filepath.Join(run, train.LastCkpt))
	if err != nil {
		return -1
	}
	return ck.Iter
}

// TestSignalStop sends SIGINT and SIGTERM to a training process: it must finish the step, write a
// checkpoint, exit with 130 or 143 and say how to resume; the resumed run must then finish.
func TestSignalStop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ds := synthData(t)
	// Validating after every step, a signal lands in validation about half of the time: that
	// case is tried three times.
	val := []string{"--val-data", filepath.Join(ds, "val"), "--val-every", "1"}
	for _, c := range []struct {
		name  string
		sig   syscall.Signal
		code  int
		extra []string
	}{
		{"SIGINT", syscall.SIGINT, 130, nil},
		{"SIGTERM", syscall.SIGTERM, 143, nil},
		{"SIGINT with validation/1", syscall.SIGINT, 130, val},
		{"SIGINT with validation/2", syscall.SIGINT, 130, val},
		{"SIGTERM with validation/3", syscall.SIGTERM, 143, val},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := fastTempDir(t)
			run := filepath.Join(dir, "run")
			const iters = 100000
			// No periodic checkpoint: the one found afterwards comes from the signal.
			args := crashArgs(ds, run, iters, append([]string{"--ckpt-every", "1000000"}, c.extra...)...)
			cmd := exec.Command(binPath, args...)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait for a few logged steps.
			deadline := time.Now().Add(20 * time.Second)
			for {
				b, _ := os.ReadFile(filepath.Join(run, train.CSVFile))
				if bytes.Count(b, []byte("\n")) > 3 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("no training steps logged in 20 s\n%s", errb.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			cmd.Process.Signal(c.sig)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != c.code {
				t.Fatalf("exit %v, want code %d\nstderr:\n%s", err, c.code, errb.String())
			}
			stderr := errb.String()
			if strings.Contains(stderr, "panic:") || strings.Contains(stderr, "goroutine ") {
				t.Fatalf("panic:\n%s", stderr)
			}
			if !strings.Contains(stderr, "--resume") || !strings.Contains(stderr, run) {
				t.Errorf("stderr does not say how to resume:\n%s", stderr)
			}
			it := ckptIter(t, run)
			if it <= 0 {
				t.Fatalf("no checkpoint after the signal (iteration %d)", it)
			}
			m := regexp.MustCompile(`interrupted at iteration (\d+)`).FindStringSubmatch(stderr)
			if m == nil || m[1] != strconv.Itoa(it) {
				t.Errorf("message names iteration %v, the checkpoint holds %d:\n%s", m, it, stderr)
			}
			// The logs hold exactly the finished steps.
			if n := len(csvLosses(t, run)); n != it {
				t.Errorf("train.csv has %d steps, the checkpoint %d", n, it)
			}
			checkRunLoads(t, run)
			// Resume for a few more iterations: the iteration count in the run's config is part of the
			// run, so resume with the same flags and stop it again by the same signal.
			cmd = exec.Command(binPath, append(args, "--resume")...)
			out.Reset()
			errb.Reset()
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline = time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				if len(csvLosses(t, run)) > it+2 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			cmd.Process.Signal(c.sig)
			cmd.Wait()
			if m := resumingRE.FindStringSubmatch(out.String()); m == nil || m[1] != strconv.Itoa(it) {
				t.Errorf("resumed run does not say it resumed at %d:\n%s", it, out.String())
			}
			if it2 := ckptIter(t, run); it2 < it {
				t.Errorf("checkpoint went back from %d to %d", it, it2)
			}
		})
	}
}
