package daemon

import "lvsha/hbd/api"

// SetFencing attaches the STONITH state (hbd's fencing wiring). Call
// before serving.
func (b *Backend) SetFencing(f func() api.FenceStatus) { b.fencing = f }

// Fencing implements api.FenceReporter: the STONITH device configured for
// this node and the reset in progress; state none without a device.
func (b *Backend) Fencing() api.FenceStatus {
	if b.fencing == nil {
		return api.FenceStatus{State: "none"}
	}
	return b.fencing()
}
