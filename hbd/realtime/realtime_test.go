package realtime

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/internal/testenv"
)

// childEnv makes the test binary run childMain instead of the tests: the
// real-time checks run in a process of their own, so the test binary (and
// anything it starts) never runs at real-time priority.
const childEnv = "LVSHA_REALTIME_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := childMain(); err != nil {
			fmt.Println("FAIL:", err)
			os.Exit(1)
		}
		fmt.Println("OK")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// threadPolicies reads policy and real-time priority of every thread of
// pid from /proc (stat fields 41 and 40).
func threadPolicies(pid int) (map[int][2]int, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[int][2]int{}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		pol, prio, err := statPolicy(dir + "/" + e.Name() + "/stat")
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		out[tid] = [2]int{pol, prio}
	}
	return out, nil
}

func statPolicy(path string) (policy, prio int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// f[0] is field 3; rt_priority is field 40, policy field 41.
	if len(f) < 39 {
		return 0, 0, fmt.Errorf("%s: short", path)
	}
	prio, _ = strconv.Atoi(f[40-3])
	policy, _ = strconv.Atoi(f[41-3])
	return policy, prio, nil
}

func allRR(prio int) error {
	pols, err := threadPolicies(os.Getpid())
	if err != nil {
		return err
	}
	for tid, p := range pols {
		if p[0] != policyRR || p[1] != prio {
			return fmt.Errorf("thread %d has policy %d priority %d, want SCHED_RR %d (all: %v)", tid, p[0], p[1], prio, pols)
		}
	}
	return nil
}

// childMain: Enable, then every thread — those there before and those the
// runtime starts after — is SCHED_RR; memory is locked; a program started
// with StartNormal runs SCHED_OTHER and the starting thread is real-time
// again.
func childMain() error {
	const prio = 3
	before, _ := threadPolicies(os.Getpid())
	st, err := Enable(prio)
	if err != nil {
		return fmt.Errorf("Enable: %w", err)
	}
	if st.Threads < len(before) || !st.Locked || st.Priority != prio {
		return fmt.Errorf("Enable reported %+v with %d threads before", st, len(before))
	}
	if err := allRR(prio); err != nil {
		return fmt.Errorf("after Enable: %w", err)
	}
	// Goroutines blocked in system calls make the runtime start threads
	// (which it keeps, idle, afterwards).
	n0 := len(before)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts := unix.NsecToTimespec(int64(200 * time.Millisecond))
			unix.Nanosleep(&ts, nil)
		}()
	}
	wg.Wait()
	pols, _ := threadPolicies(os.Getpid())
	if len(pols) <= n0 {
		return fmt.Errorf("the runtime started no thread (%d before, %d now): nothing tested", n0, len(pols))
	}
	if err := allRR(prio); err != nil {
		return fmt.Errorf("threads started after Enable: %w", err)
	}
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmLck:"); ok {
			kb, _ := strconv.Atoi(strings.Fields(v)[0])
			if kb == 0 {
				return fmt.Errorf("mlockall reported success but VmLck is 0")
			}
		}
	}

	cmd := exec.Command("sleep", "10")
	if err := StartNormal(cmd); err != nil {
		return fmt.Errorf("StartNormal: %w", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	child, err := threadPolicies(cmd.Process.Pid)
	if err != nil {
		return err
	}
	for tid, p := range child {
		if p[0] != policyOther || p[1] != 0 {
			return fmt.Errorf("child thread %d has policy %d priority %d, want SCHED_OTHER", tid, p[0], p[1])
		}
	}
	if err := allRR(prio); err != nil {
		return fmt.Errorf("after StartNormal: %w", err)
	}
	return nil
}

func TestEnableAndStartNormal(t *testing.T) {
	testenv.RequireRoot(t, "SCHED_RR and mlockall")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestEnableRefusesPriorityOutOfRange(t *testing.T) {
	for _, p := range []int{0, -1, 100} {
		if _, err := Enable(p); err == nil {
			t.Errorf("Enable(%d) succeeded", p)
		}
	}
}

// Without real-time scheduling StartNormal is cmd.Start.
func TestStartNormalFromNormalThread(t *testing.T) {
	cmd := exec.Command("true")
	if err := StartNormal(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := StartNormal(exec.Command("/nonexistent/program")); err == nil {
		t.Error("a missing program started")
	}
}
