// Package statusapi is ldird's versioned JSON status: the document served
// at /api/v1/status on the metrics listener (--metrics, metrics =) and
// answered to "status-json" on the control socket, and read by hbd's web
// console. Version 1 only grows: fields are added, never renamed or
// removed; a change that cannot be made that way is a /api/v2.
//
// Times are RFC 3339 in UTC, durations are numbers with their unit in the
// name (_ms, _s). A field with nothing to say is null, not absent.
package statusapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"lvsha/internal/cfgerr"
)

// API names the document's schema.
const API = "lvsha.ldird/v1"

// Path is where the document is served.
const Path = "/api/v1/status"

// Status is the whole document.
type Status struct {
	API       string    `json:"api"` // API
	Version   string    `json:"version"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Config    string    `json:"config"`   // the configuration file
	Instance  string    `json:"instance"` // its name as the pid file and socket use it
	Dataplane string    `json:"dataplane"`
	Time      time.Time `json:"time"`
	Started   time.Time `json:"started"`
	Table     Table     `json:"table"`
	Virtuals  []Virtual `json:"virtuals"`
	// Reloads is the reload history, oldest first (the last MaxReloads).
	Reloads []Reload `json:"reloads"`
	// Sync is the kernel's connection synchronisation between directors
	// (the syncdaemon directive); null when it is not configured.
	Sync *Sync `json:"sync"`
}

// Sync is the IPVS connection synchronisation at one moment.
type Sync struct {
	// Daemons are the kernel's sync daemons that run, ldird's or another's.
	Daemons []SyncDaemon `json:"daemons"`
	Error   *string      `json:"error"` // set when the daemons could not be read
	// Connections counts the connection table by origin: scheduled here
	// (local) or learnt from another director (synced); null when it could
	// not be read.
	Connections *SyncConnections `json:"connections"`
}

// SyncDaemon is one running sync daemon.
type SyncDaemon struct {
	Role      string `json:"role"` // "master" or "backup"
	Interface string `json:"interface"`
	SyncID    int    `json:"syncid"`
	Group     string `json:"group"`      // multicast ADDRESS:PORT
	StartedBy string `json:"started_by"` // "ldird", or "other" (ipvsadm --start-daemon, ...)
}

// SyncConnections counts the connection table by origin.
type SyncConnections struct {
	Local  int `json:"local"`
	Synced int `json:"synced"`
}

// Table is the dataplane table as a whole.
type Table struct {
	Services     int     `json:"services"`
	Destinations int     `json:"destinations"`
	Error        *string `json:"error"`   // set when it could not be read
	Changes      uint64  `json:"changes"` // table passes that changed it
}

// Virtual is one configured virtual service.
type Virtual struct {
	Key            string    `json:"key"` // what the admin request names: "tcp 10.0.0.1:80"
	Protocol       string    `json:"protocol"`
	Address        string    `json:"address"` // ip:port, or the firewall mark
	Line           int       `json:"line"`
	Scheduler      string    `json:"scheduler"`
	PersistentS    float64   `json:"persistent_s"`
	Check          string    `json:"check"`
	CheckIntervalS float64   `json:"check_interval_s"`
	CheckTimeoutS  float64   `json:"check_timeout_s"`
	FailureCount   int       `json:"failure_count"`
	Quiescent      bool      `json:"quiescent"`
	InTable        bool      `json:"in_table"`
	Fallback       *Fallback `json:"fallback"`
	Reals          []Real    `json:"reals"`
}

// Fallback is a virtual's fallback server.
type Fallback struct {
	Server string `json:"server"`
	Active bool   `json:"active"` // in the table: every real is down
}

// Real is one configured real server of a virtual.
type Real struct {
	Key         string       `json:"key"`    // what the admin request names (as configured)
	Server      string       `json:"server"` // ip:port as in the table
	Line        int          `json:"line"`
	Forward     string       `json:"forward"` // gate, masq, ipip
	Weight      int          `json:"weight"`  // configured
	State       string       `json:"state"`   // the check's: up, down, unknown
	Maintenance bool         `json:"maintenance"`
	Admin       Admin        `json:"admin"`
	Up          bool         `json:"up"` // what the table follows
	InTable     bool         `json:"in_table"`
	TableWeight *int         `json:"table_weight"` // null when not in the table or unreadable
	Connections *Connections `json:"connections"`  // null when the dataplane does not count them
	Checks      uint64       `json:"checks"`
	Failures    int          `json:"failures"` // consecutive
	Last        *Check       `json:"last"`
	Recent      []Check      `json:"recent"` // the last results, oldest first
	History     History      `json:"history"`
}

// Admin is an administrator's override of a real.
type Admin struct {
	State string     `json:"state"` // enable (none), drain, disable
	By    *string    `json:"by"`
	At    *time.Time `json:"at"`
}

// Connections are a real's connection counts.
type Connections struct {
	Active   int64 `json:"active"`
	Inactive int64 `json:"inactive"`
}

// Check is one check result.
type Check struct {
	At        time.Time `json:"at"`
	OK        bool      `json:"ok"`
	Outcome   string    `json:"outcome"` // ok, failed, timeout
	LatencyMS float64   `json:"latency_ms"`
	Detail    string    `json:"detail"`
	Up        bool      `json:"up"` // the real's state after it
}

// History is a real's check results of the last hour in buckets.
type History struct {
	BucketS float64  `json:"bucket_s"`
	Buckets []Bucket `json:"buckets"` // oldest first; buckets without a result are left out
}

// Bucket sums the results of one bucket.
type Bucket struct {
	Start         time.Time `json:"start"`
	OK            int       `json:"ok"`
	Failed        int       `json:"failed"`
	MeanLatencyMS float64   `json:"mean_latency_ms"`
	MaxLatencyMS  float64   `json:"max_latency_ms"`
	Down          bool      `json:"down"` // the real was down after some result in it
}

// Reload is one load or reload of the configuration.
type Reload struct {
	At      time.Time     `json:"at"`
	Trigger string        `json:"trigger"` // start, autoreload, sighup, command
	OK      bool          `json:"ok"`
	Errors  []ConfigError `json:"errors"` // why it was refused, each at file:line
}

// ConfigError is one problem of a refused configuration.
type ConfigError struct {
	File    string `json:"file"`
	Line    int    `json:"line"` // 0: the file as a whole
	Message string `json:"message"`
}

// ConfigErrors lists the problems of err with their file and line.
func ConfigErrors(err error) []ConfigError {
	out := []ConfigError{}
	for _, e := range cfgerr.List(err) {
		out = append(out, ConfigError{File: e.File, Line: e.Line, Message: e.Msg})
	}
	return out
}

// MaxReloads bounds the reload history.
const MaxReloads = 20

// Reloads is the reload history, safe for concurrent use.
type Reloads struct {
	mu   sync.Mutex
	list []Reload
}

// Add records one load or reload; err is why it was refused (nil: applied).
func (r *Reloads) Add(at time.Time, trigger string, err error) {
	rl := Reload{At: at.UTC(), Trigger: trigger, OK: err == nil, Errors: []ConfigError{}}
	if err != nil {
		rl.Errors = ConfigErrors(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rl)
	if len(r.list) > MaxReloads {
		r.list = append([]Reload(nil), r.list[len(r.list)-MaxReloads:]...)
	}
}

// List returns the history, oldest first.
func (r *Reloads) List() []Reload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Reload{}, r.list...)
}

// Handler serves the document at Path: GET (and HEAD) only.
func Handler(get func() *Status) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
			return
		}
		b, err := json.Marshal(get())
		if err != nil {
			WriteError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(append(b, '\n'))
	})
}

// WriteError answers an error as the API does: {"error": "..."}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Write(append(b, '\n'))
}

// Decode reads a document, refusing one of another API.
func Decode(b []byte) (*Status, error) {
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.API != API {
		return nil, errors.New("not an " + API + " document (api " + s.API + ")")
	}
	return &s, nil
}
