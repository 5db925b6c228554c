package daemon

import (
	"context"
	"log/slog"
	"testing"

	"lvsha/hbd/media"
)

// TestFloodedLinkKeepsToItsQueue: a link whose queue a flood has filled
// drops (and counts) only its own packets; another link's packet is still
// queued, and the next pass of the loop takes it among the first, not
// after the flood.
func TestFloodedLinkKeepsToItsQueue(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eth1, eth2 := (&hub{}).join("eth1", "10.0.1.1"), (&hub{}).join("eth2", "10.0.2.1")
	d, err := New(ctx, Options{Config: testConfig(t, "k"), Node: "alpha", StateDir: t.TempDir(),
		Media: []media.Medium{eth1, eth2}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	forged := media.Packet{Data: []byte("###\n%%%\n"), Link: 0}
	flood := cap(d.rx[0]) + 100
	for range flood {
		d.enqueue(0, forged)
	}
	genuine := media.Packet{Data: []byte("not a heartbeat either, but from eth2"), Link: 1}
	d.enqueue(1, genuine)
	c := d.Counters()
	if c["rx_dropped_queue_full"] != 100 {
		t.Errorf("rx_dropped_queue_full = %d after %d packets into a queue of %d", c["rx_dropped_queue_full"], flood, cap(d.rx[0]))
	}
	if len(d.rx[1]) != 1 {
		t.Fatalf("eth2's packet was not queued behind eth1's flood (eth2 queue %d)", len(d.rx[1]))
	}
	d.drainRx()
	if len(d.rx[1]) != 0 {
		t.Errorf("one pass of the loop did not take eth2's packet (eth1 still has %d queued)", len(d.rx[0]))
	}
	if got := d.Counters()["rx_packets"]; got > rxBatch {
		t.Errorf("one pass took %d packets, more than rxBatch %d", got, rxBatch)
	}
	select {
	case <-d.rxReady:
	default:
		t.Error("packets are still queued but the loop was not told to come back")
	}
}
