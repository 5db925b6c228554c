package director

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"lvsha/ldird/check"
)

// What every result touches of its tag (onEvent: tell, then record) is
// in the tag's first cache line.
func TestCheckTagHotLine(t *testing.T) {
	var tag checkTag
	if end := unsafe.Offsetof(tag.hist) + unsafe.Offsetof(tag.hist.recent); end > 64 {
		t.Errorf("the tag's hot fields end at byte %d, beyond its first cache line", end)
	}
	if n := unsafe.Sizeof(record{}); n > 40 {
		t.Errorf("a record takes %d bytes", n)
	}
}

// At 10,000 reals every tag is cold by its check's next result, and the
// checks' order differs from the order the tags were made in.
func BenchmarkHistoryRecord10k(b *testing.B) {
	h := newCheckHistory()
	tags := make([]*checkTag, 10000)
	for i := range tags {
		tags[i] = h.entry(fmt.Sprint(i))
	}
	rand.Shuffle(len(tags), func(i, j int) { tags[i], tags[j] = tags[j], tags[i] })
	ev := check.Event{Result: check.Result{OK: true, Latency: time.Millisecond}, State: check.Up}
	now := time.Now()
	b.ResetTimer()
	for i := range b.N {
		t := tags[i%len(tags)]
		t.hist.record(ev, now.Add(time.Duration(i)*100*time.Microsecond))
		t.tell(ev)
	}
}
