package resources

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestMain runs a helper job instead of the tests when helperEnv is set
// (drreal_test.go): a process TestDRRealServerARP starts inside a node.
func TestMain(m *testing.M) {
	if job := os.Getenv(helperEnv); job != "" {
		if err := drrealHelper(strings.Fields(job)); err != nil {
			fmt.Fprintf(os.Stderr, "%s=%q: %v\n", helperEnv, job, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
