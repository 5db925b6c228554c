// Package statusapi is hbd's versioned JSON status: the document served at
// /api/v1/status on the metrics listener (-metrics) and the console, and
// answered to the "status" operation of the control socket. Version 1
// only grows: fields are added, never renamed or removed.
//
// Times are RFC 3339 in UTC, durations numbers with their unit in the name
// (_ms, _s). A field with nothing to say is null, not absent.
//
// The Recorder keeps what a snapshot cannot tell: membership events and
// group moves with their time and cause, heartbeat arrivals per link and
// who held each group over the last hour.
package statusapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"lvsha/hbd/membership"
	"lvsha/hbd/rm"
)

// API names the document's schema.
const API = "lvsha.hbd/v1"

// Path is where the document is served.
const Path = "/api/v1/status"

// Status is the whole document.
type Status struct {
	API          string            `json:"api"`
	Version      string            `json:"version"`
	Node         string            `json:"node"` // this node
	Time         time.Time         `json:"time"`
	Started      time.Time         `json:"started"`
	Generation   uint64            `json:"generation"`
	Timers       Timers            `json:"timers"`
	AutoFailback string            `json:"auto_failback"`
	Nodes        []Node            `json:"nodes"`
	PingNodes    []PingNode        `json:"ping_nodes"`
	Resources    Resources         `json:"resources"`
	Transitions  []Transition      `json:"transitions"` // oldest first
	Fencing      json.RawMessage   `json:"fencing"`     // null until fencing is configured
	Counters     map[string]uint64 `json:"counters"`
	History      History           `json:"history"`
	// Console is where this node's web console listens (null when off).
	Console *string `json:"console"`
}

// Timers are ha.cf's.
type Timers struct {
	KeepaliveMS int64 `json:"keepalive_ms"`
	WarntimeMS  int64 `json:"warntime_ms"`
	DeadtimeMS  int64 `json:"deadtime_ms"`
	InitdeadMS  int64 `json:"initdead_ms"`
}

// Node is one node of ha.cf.
type Node struct {
	Name       string `json:"name"`
	Self       bool   `json:"self"`
	Status     string `json:"status"` // init, up, active, dead
	Generation uint64 `json:"generation"`
	DeadtimeMS int64  `json:"deadtime_ms"` // the deadtime in force for it (its advertised dt)
	HeardAgeMS *int64 `json:"last_heard_age_ms"`
	Links      []Link `json:"links"`
}

// Link is one heartbeat link as seen for a node.
type Link struct {
	Name       string   `json:"name"`
	Status     string   `json:"status"` // up, dead
	HeardAgeMS *int64   `json:"last_heard_age_ms"`
	Heartbeats uint64   `json:"heartbeats"` // the node's heartbeats heard on it
	Loss       *float64 `json:"loss"`       // share of recent heartbeats it missed (null: unknown, or our own node)
	LossSample int      `json:"loss_sample"`
}

// PingNode is a ping node or group.
type PingNode struct {
	Name   string `json:"name"`
	Status string `json:"status"` // up, dead
}

// Resources is who holds what.
type Resources struct {
	State    string  `json:"state"`    // cl_status rscstatus: none, local, foreign, all, transition
	Protocol *string `json:"protocol"` // Heartbeat's resourcestate (null without groups)
	Groups   []Group `json:"groups"`
}

// Group is one haresources line.
type Group struct {
	Key       string   `json:"key"`
	Preferred string   `json:"preferred_node"`
	Resources []string `json:"resources"`
	Holder    *string  `json:"holder"` // null: nobody (or unknown)
	Moving    bool     `json:"moving"` // groups are being started or stopped here
}

// Transition is one event with its time and cause.
type Transition struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"` // node-status, node-dead, node-restarted, node-returned, link-up, link-dead, late-heartbeat, comm-up, deadtime-changed, acquire, release
	Node   string    `json:"node,omitempty"`
	Link   string    `json:"link,omitempty"`
	Groups []string  `json:"groups,omitempty"`
	Cause  string    `json:"cause"`
	OK     bool      `json:"ok"` // false: a group failed to move
}

// History is what the last hour looked like, for the console's plots.
type History struct {
	BucketS float64       `json:"bucket_s"`
	Links   []LinkHistory `json:"links"`
	// Holders are the changes of each group's holder, oldest first.
	Holders []HolderChange `json:"holders"`
}

// LinkHistory is the heartbeat arrivals of one peer over one link, one
// entry per bucket, oldest first; Start is the first bucket's.
type LinkHistory struct {
	Node     string    `json:"node"`
	Link     string    `json:"link"`
	Start    time.Time `json:"start"`
	Arrivals []int     `json:"arrivals"`   // heartbeats in the bucket
	MaxAgeMS []int64   `json:"max_age_ms"` // the longest silence seen in it
}

// HolderChange is a group changing hands.
type HolderChange struct {
	At     time.Time `json:"at"`
	Group  string    `json:"group"`
	Holder *string   `json:"holder"`
}

// Info is what does not change while hbd runs.
type Info struct {
	Version      string
	Node         string
	Generation   uint64
	Started      time.Time
	Keepalive    time.Duration
	Warntime     time.Duration
	Deadtime     time.Duration
	Initdead     time.Duration
	AutoFailback string
	Groups       []GroupInfo
	Console      string // "" when off
}

// GroupInfo is one haresources line.
type GroupInfo struct {
	Key, Node string
	Resources []string
}

// Sources are read at each Build.
type Sources struct {
	Nodes    func() []membership.NodeView
	Ping     func() []PingNode // nil: no ping nodes
	Counters func() map[string]uint64
	Holdings func() (rm.Holdings, bool) // nil or false: no resource manager
	State    func() string              // rscstatus
	Fencing  func() json.RawMessage     // nil (or nil result): fencing not configured
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

func age(now, t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	a := max(now.Sub(t).Milliseconds(), 0)
	return &a
}

// Build makes the document.
func Build(info Info, src Sources, rec *Recorder, now time.Time) *Status {
	s := &Status{API: API, Version: info.Version, Node: info.Node, Time: now.UTC(), Started: info.Started.UTC(),
		Generation: info.Generation, AutoFailback: info.AutoFailback,
		Timers: Timers{KeepaliveMS: ms(info.Keepalive), WarntimeMS: ms(info.Warntime), DeadtimeMS: ms(info.Deadtime), InitdeadMS: ms(info.Initdead)},
		Nodes:  []Node{}, PingNodes: []PingNode{}, Transitions: []Transition{}, Fencing: json.RawMessage("null"),
		Counters: map[string]uint64{}}
	if info.Console != "" {
		c := info.Console
		s.Console = &c
	}
	var peer string
	for _, v := range src.Nodes() {
		n := Node{Name: v.Name, Self: v.Name == info.Node, Status: string(v.Status), Generation: v.Generation,
			DeadtimeMS: ms(v.Deadtime), Links: []Link{}}
		if n.Self {
			n.Generation = info.Generation
		} else {
			n.HeardAgeMS = age(now, v.LastHeard)
			if peer == "" {
				peer = v.Name
			}
		}
		for _, l := range v.Links {
			sl := Link{Name: l.Name, Status: "dead", HeardAgeMS: age(now, l.Heard), Heartbeats: l.Statuses, LossSample: l.LossSample}
			if l.Up {
				sl.Status = "up"
			}
			if !n.Self && l.LossSample > 0 {
				loss := l.Loss
				sl.Loss = &loss
			}
			n.Links = append(n.Links, sl)
		}
		s.Nodes = append(s.Nodes, n)
	}
	if src.Ping != nil {
		s.PingNodes = append(s.PingNodes, src.Ping()...)
	}
	if src.Counters != nil {
		s.Counters = src.Counters()
	}
	if src.Fencing != nil {
		if f := src.Fencing(); len(f) > 0 {
			s.Fencing = f
		}
	}
	s.Resources = Resources{State: "none", Groups: []Group{}}
	if src.State != nil {
		s.Resources.State = src.State()
	}
	var h rm.Holdings
	haveRM := false
	if src.Holdings != nil {
		h, haveRM = src.Holdings()
	}
	if haveRM {
		st := h.State.String()
		s.Resources.Protocol = &st
	}
	for _, g := range info.Groups {
		sg := Group{Key: g.Key, Preferred: g.Node, Resources: append([]string{}, g.Resources...)}
		if haveRM {
			if who := h.Holder(g.Key, peer); who != "" {
				sg.Holder = &who
			}
			sg.Moving = h.Busy
		}
		s.Resources.Groups = append(s.Resources.Groups, sg)
	}
	if rec != nil {
		s.Transitions = rec.Transitions()
		s.History = rec.History(now)
	}
	if s.History.Links == nil {
		s.History.Links = []LinkHistory{}
	}
	if s.History.Holders == nil {
		s.History.Holders = []HolderChange{}
	}
	return s
}

// Holders reads who holds each group from a document (for the recorder's
// timeline and the console).
func (s *Status) Holders() map[string]string {
	out := map[string]string{}
	for _, g := range s.Resources.Groups {
		if g.Holder != nil {
			out[g.Key] = *g.Holder
		} else {
			out[g.Key] = ""
		}
	}
	return out
}

// Handler serves the document at Path: GET (and HEAD) only.
func Handler(get func() *Status) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
			return
		}
		WriteJSON(w, http.StatusOK, get())
	})
}

// WriteJSON answers v as JSON, never cached.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// WriteError answers an error as the API does: {"error": "..."}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, map[string]string{"error": msg})
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

// sortTransitions orders by time (stable: events of one instant keep
// their order).
func sortTransitions(ts []Transition) {
	slices.SortStableFunc(ts, func(a, b Transition) int { return a.At.Compare(b.At) })
}
