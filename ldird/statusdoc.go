package main

import (
	"time"

	"lvsha/ldird/director"
	"lvsha/ldird/statusapi"
)

// statusInfo is what the daemon adds to the director's view.
type statusInfo struct {
	Version, Host, Config, Instance, Dataplane string
	PID                                        int
	Started                                    time.Time
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func checkOf(r director.CheckRecord) statusapi.Check {
	return statusapi.Check{At: r.At.UTC(), OK: r.OK, Outcome: r.Outcome, LatencyMS: msOf(r.Latency), Detail: r.Detail, Up: r.Up}
}

// buildStatus makes the status document from the director's detail.
func buildStatus(det director.Detail, info statusInfo, reloads []statusapi.Reload, sync *statusapi.Sync, now time.Time) *statusapi.Status {
	s := &statusapi.Status{API: statusapi.API, Version: info.Version, Host: info.Host, PID: info.PID, Config: info.Config,
		Instance: info.Instance, Dataplane: info.Dataplane, Time: now.UTC(), Started: info.Started.UTC(),
		Table:    statusapi.Table{Services: det.TableServices, Destinations: det.TableDests, Changes: det.Applied},
		Virtuals: []statusapi.Virtual{}, Reloads: reloads, Sync: sync}
	if s.Reloads == nil {
		s.Reloads = []statusapi.Reload{}
	}
	if det.TableErr != nil {
		e := det.TableErr.Error()
		s.Table.Error = &e
	}
	for _, v := range det.Virtuals {
		sv := statusapi.Virtual{Key: v.Key, Protocol: v.ID.Protocol, Address: v.ID.Virtual, Line: v.Line, Scheduler: v.Scheduler,
			PersistentS: v.Persistent.Seconds(), Check: v.Check, CheckIntervalS: v.CheckInterval.Seconds(),
			CheckTimeoutS: v.CheckTimeout.Seconds(), FailureCount: v.FailureCount, Quiescent: v.Quiescent,
			InTable: v.InTable, Reals: []statusapi.Real{}}
		if v.Fallback != "" {
			sv.Fallback = &statusapi.Fallback{Server: v.Fallback, Active: v.FallbackActive}
		}
		for _, r := range v.Reals {
			sr := statusapi.Real{Key: r.Key, Server: r.Dest, Line: r.Line, Forward: r.Method, Weight: r.Weight,
				State: r.State.String(), Maintenance: r.Maintenance, Admin: statusapi.Admin{State: string(r.Admin)},
				Up: r.Up, InTable: r.InTable, Checks: r.Checks, Failures: r.Failures, Recent: []statusapi.Check{},
				History: statusapi.History{BucketS: director.HistoryBucket.Seconds(), Buckets: []statusapi.Bucket{}}}
			if r.Admin != director.AdminEnabled {
				by, at := r.AdminBy, r.AdminAt.UTC()
				sr.Admin.By, sr.Admin.At = &by, &at
			}
			if r.InTable && det.TableErr == nil {
				w := r.TableWeight
				sr.TableWeight = &w
			}
			if r.HasConns {
				sr.Connections = &statusapi.Connections{Active: r.Active, Inactive: r.Inactive}
			}
			for _, c := range r.Recent {
				sr.Recent = append(sr.Recent, checkOf(c))
			}
			if n := len(sr.Recent); n > 0 {
				last := sr.Recent[n-1]
				sr.Last = &last
			}
			for _, b := range r.Buckets {
				n := b.OK + b.Failed
				mean := 0.0
				if n > 0 {
					mean = msOf(b.SumLatency) / float64(n)
				}
				sr.History.Buckets = append(sr.History.Buckets, statusapi.Bucket{Start: b.Start.UTC(), OK: b.OK, Failed: b.Failed,
					MeanLatencyMS: mean, MaxLatencyMS: msOf(b.MaxLatency), Down: b.Down})
			}
			sv.Reals = append(sv.Reals, sr)
		}
		s.Virtuals = append(s.Virtuals, sv)
	}
	return s
}
