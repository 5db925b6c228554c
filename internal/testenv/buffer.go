package testenv

import (
	"strings"
	"sync"
)

// Buffer collects what a child process or a logger writes while the test
// reads it: a strings.Builder behind a lock (exec's copying goroutines and
// slog handlers write from goroutines of their own).
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
