package daemon

import "lvsha/hbd/wire"

// Keys is the authkeys keyring in force (a reload may replace it).
func (d *Daemon) Keys() *wire.Keyring {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.keys
}
