package director

import (
	"errors"
	"fmt"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

// keysOf lists the service keys the director looks at in the table: the
// configured virtuals and the old configuration's.
func keysOf(cfg, old *config.Config) map[string]bool {
	keys := map[string]bool{}
	for _, c := range []*config.Config{cfg, old} {
		if c == nil {
			continue
		}
		for _, v := range c.Virtuals {
			keys[ServiceFor(v).Key()] = true
		}
	}
	return keys
}

// readActual reads the services named in keys (and their servers) from
// dp; other services are not even read.
func readActual(dp dataplane.Dataplane, keys map[string]bool) (map[string]ServiceState, error) {
	svcs, err := dp.Services()
	if err != nil {
		return nil, err
	}
	out := map[string]ServiceState{}
	for _, s := range svcs {
		if !keys[s.Key()] {
			continue
		}
		ds, err := dp.Dests(s)
		if errors.Is(err, dataplane.ErrNotExist) {
			continue // deleted meanwhile by someone else
		}
		if err != nil {
			return nil, fmt.Errorf("servers of %s: %w", s.Key(), err)
		}
		ss := ServiceState{Service: s}
		for _, x := range ds {
			ss.Dests = append(ss.Dests, DestState{Dest: x})
		}
		out[s.Key()] = ss
	}
	return out, nil
}

// applyOp performs one op on dp, tolerating the races a table shared with
// other tools has (an entry added or removed behind our back).
func applyOp(dp dataplane.Dataplane, op Op) error {
	switch op.Kind {
	case AddService:
		err := dp.AddService(op.Service)
		if errors.Is(err, dataplane.ErrExist) {
			err = dp.UpdateService(op.Service)
		}
		return err
	case UpdateService:
		return dp.UpdateService(op.Service)
	case DelService:
		if err := dp.DelService(op.Service); err != nil && !errors.Is(err, dataplane.ErrNotExist) {
			return err
		}
	case AddDest:
		err := dp.AddDest(op.Service, op.Dest)
		if errors.Is(err, dataplane.ErrExist) {
			err = dp.UpdateDest(op.Service, op.Dest)
		}
		return err
	case UpdateDest:
		err := dp.UpdateDest(op.Service, op.Dest)
		if errors.Is(err, dataplane.ErrNotExist) {
			err = dp.AddDest(op.Service, op.Dest)
		}
		return err
	case DelDest:
		if err := dp.DelDest(op.Service, op.Dest); err != nil && !errors.Is(err, dataplane.ErrNotExist) {
			return err
		}
	}
	return nil
}
