package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	hbdapi "lvsha/hbd/statusapi"
	"lvsha/internal/cfgerr"
	"lvsha/ldird/adminstate"
	"lvsha/ldird/control"
	ldapi "lvsha/ldird/statusapi"
)

// ActionRequest is the body of POST /api/v1/actions/{real,standby,takeover,reload}.
type ActionRequest struct {
	// Director is the node the action is for (default: this one); a
	// console forwards an action for its peer to the peer's console.
	Director string `json:"director,omitempty"`
	// real: the ldird instance, the virtual and the real (as the status
	// API names them), and the state: drain, disable or enable.
	Instance string `json:"instance,omitempty"`
	Virtual  string `json:"virtual,omitempty"`
	Real     string `json:"real,omitempty"`
	State    string `json:"state,omitempty"`
	// standby, takeover: the resource set (all, local, foreign; takeover
	// also failback); default all, as hb_standby's.
	Set string `json:"set,omitempty"`
	// reload: "ldird" (with instance) or "hbd".
	Target string `json:"target,omitempty"`
	// By is set by a forwarding console: who asked there.
	By string `json:"by,omitempty"`
}

// ActionResult is the answer.
type ActionResult struct {
	OK      bool                `json:"ok"`
	Message string              `json:"message,omitempty"`
	Error   string              `json:"error,omitempty"`
	Errors  []ldapi.ConfigError `json:"errors,omitempty"` // a refused reload's problems, at file:line
}

// actionError is a failed action with the HTTP status that says why.
type actionError struct {
	code   int
	msg    string
	errors []ldapi.ConfigError
}

func (e *actionError) Error() string { return e.msg }

func fail(code int, format string, a ...any) *actionError {
	return &actionError{code: code, msg: fmt.Sprintf(format, a...)}
}

func (s *Server) handleAction(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	action := r.PathValue("action")
	ip := clientIP(r)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPeerBody))
	if err != nil {
		hbdapi.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	peer, sig, perr := s.verifyPeer(r, body)
	who := ""
	if perr != nil {
		if !errors.Is(perr, errNotPeer) {
			s.log.Warn("console action refused", "remote", ip, "action", action, "result", perr.Error())
			hbdapi.WriteError(w, http.StatusUnauthorized, perr.Error())
			return
		}
		id := s.identify(r)
		if !id.admin() {
			s.log.Warn("console action refused", "user", "(anonymous)", "remote", ip, "action", action, "result", "not logged in")
			hbdapi.WriteError(w, http.StatusUnauthorized, "log in as an administrator first")
			return
		}
		if err := checkCSRF(r, id); err != nil {
			s.log.Warn("console action refused", "user", id.user, "remote", ip, "action", action, "result", "CSRF check: "+err.Error())
			hbdapi.WriteError(w, http.StatusForbidden, err.Error())
			return
		}
		who = id.user
	}
	var req ActionRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		hbdapi.WriteError(w, http.StatusBadRequest, "malformed action: "+err.Error())
		return
	}
	if peer != "" {
		who = req.By + "@" + peer
		if req.By == "" {
			who = "(unnamed)@" + peer
		}
		if req.Director != "" && req.Director != s.o.Node {
			hbdapi.WriteError(w, http.StatusBadRequest, "a forwarded action must be for this node")
			return
		}
	}
	if req.Director == "" {
		req.Director = s.o.Node
	}
	res, aerr := s.act(r.Context(), action, req, who, peer != "")
	code := http.StatusOK
	if aerr != nil {
		code = aerr.code
		res = ActionResult{Error: aerr.msg, Errors: aerr.errors}
	}
	s.log.Info("console action", "user", who, "remote", ip, "action", action, "director", req.Director,
		"target", target(action, req), "result", result(res))
	b, _ := json.Marshal(res)
	b = append(b, '\n')
	if peer != "" {
		s.signReply(w, sig, b)
	}
	writeRaw(w, code, b)
}

func target(action string, req ActionRequest) string {
	switch action {
	case "real":
		return fmt.Sprintf("%s %s %s %s", req.Instance, req.Virtual, req.Real, req.State)
	case "standby", "takeover":
		return req.Set
	case "reload":
		return req.Target + " " + req.Instance
	}
	return ""
}

func result(res ActionResult) string {
	if res.OK {
		return "ok"
	}
	return "failed: " + res.Error
}

// act carries out an action here, or forwards it to the director's
// console. A drain, disable or enable given here (not forwarded) goes to
// every director: see realEverywhere.
func (s *Server) act(ctx context.Context, action string, req ActionRequest, who string, forwarded bool) (ActionResult, *actionError) {
	switch action {
	case "real", "standby", "takeover", "reload":
	default:
		return ActionResult{}, fail(http.StatusNotFound, "no such action %q (real, standby, takeover, reload)", action)
	}
	if action == "real" {
		if req.Virtual == "" || req.Real == "" || req.State == "" || !validInstance(req.Instance) {
			return ActionResult{}, fail(http.StatusBadRequest, "real: instance, virtual, real and state are required")
		}
		if _, err := adminstate.Parse(req.State); err != nil {
			return ActionResult{}, fail(http.StatusBadRequest, "%s", err)
		}
		if !forwarded {
			return s.realEverywhere(ctx, req, who)
		}
	}
	if req.Director != s.o.Node {
		return s.forward(ctx, action, req, who)
	}
	switch action {
	case "real":
		return s.realHere(req, who)
	case "standby", "takeover":
		set := req.Set
		if set == "" {
			set = "all"
		}
		f := s.o.Standby
		if action == "takeover" {
			f = s.o.Takeover
		}
		if err := f(set); err != nil {
			return ActionResult{}, fail(http.StatusConflict, "%s", err)
		}
		tool := map[string]string{"standby": "hb_standby", "takeover": "hb_takeover"}[action]
		return ActionResult{OK: true, Message: fmt.Sprintf("%s %s on %s", tool, set, s.o.Node)}, nil
	}
	// reload
	switch req.Target {
	case "ldird":
		sock, ok := s.ldirdSocket(req.Instance)
		if !ok {
			return ActionResult{}, fail(http.StatusNotFound, "no ldird instance %q runs on %s", req.Instance, s.o.Node)
		}
		err := control.Reload(sock)
		var refused *control.RefusedError
		if errors.As(err, &refused) {
			ae := fail(http.StatusUnprocessableEntity, "ldird kept its running configuration: the file has errors")
			for _, p := range refused.Problems {
				ae.errors = append(ae.errors, parseProblem(p))
			}
			return ActionResult{}, ae
		}
		if err != nil {
			return ActionResult{}, fail(http.StatusBadGateway, "%s", err)
		}
		return ActionResult{OK: true, Message: "ldird " + req.Instance + " on " + s.o.Node + " applied its configuration"}, nil
	case "hbd":
		if err := s.o.ReloadHbd(); err != nil {
			ae := fail(http.StatusUnprocessableEntity, "hbd kept its running configuration: %d problem(s)", len(cfgerr.List(err)))
			for _, e := range cfgerr.List(err) {
				ae.errors = append(ae.errors, ldapi.ConfigError{File: e.File, Line: e.Line, Message: e.Msg})
			}
			return ActionResult{}, ae
		}
		return ActionResult{OK: true, Message: "hbd on " + s.o.Node + " checked its configuration and reloads it"}, nil
	}
	return ActionResult{}, fail(http.StatusBadRequest, "reload: target must be ldird or hbd")
}

// realEverywhere drains, disables or enables a real on every director, so
// that the override follows the service when another director takes it
// over: applied by the ldird that runs there, recorded in the admin file
// of one that does not (it starts with it). The action succeeds when it
// did on the director it names; the others' outcomes are in the message
// (a director whose console cannot be reached is named there).
func (s *Server) realEverywhere(ctx context.Context, req ActionRequest, who string) (ActionResult, *actionError) {
	var lines []string
	var primary *actionError
	for _, n := range s.o.Nodes {
		var res ActionResult
		var err *actionError
		switch {
		case n == s.o.Node:
			res, err = s.realHere(req, who)
		case s.o.Config.ConsoleAddr(n) == "":
			err = fail(http.StatusNotFound, "%s has no console in ha.cf: not told", n)
		default:
			r := req
			r.Director = n
			res, err = s.forward(ctx, "real", r, who)
		}
		if err != nil {
			lines = append(lines, n+": "+err.msg)
			if n == req.Director {
				primary = err
			}
			continue
		}
		lines = append(lines, res.Message)
	}
	if primary != nil {
		primary.msg = strings.Join(lines, "; ")
		return ActionResult{}, primary
	}
	return ActionResult{OK: true, Message: strings.Join(lines, "; ")}, nil
}

// realHere gives the override to this node's ldird, or records it in its
// admin file when it does not run.
func (s *Server) realHere(req ActionRequest, who string) (ActionResult, *actionError) {
	what := fmt.Sprintf("%s %s (%s)", req.State, req.Real, req.Virtual)
	if sock, ok := s.ldirdSocket(req.Instance); ok {
		err := control.Admin(sock, control.AdminRequest{Virtual: req.Virtual, Real: req.Real, State: req.State, By: who})
		if err == nil {
			return ActionResult{OK: true, Message: fmt.Sprintf("%s: %s applied by ldird %s", s.o.Node, what, req.Instance)}, nil
		}
		if !errors.Is(err, control.ErrNotServed) {
			return ActionResult{}, fail(http.StatusConflict, "%s: %s", s.o.Node, err)
		}
	}
	st, _ := adminstate.Parse(req.State)
	path := s.o.AdminFile(req.Instance)
	if err := adminstate.Record(path, adminstate.Key{Virtual: req.Virtual, Real: req.Real}, st, who, s.now()); err != nil {
		return ActionResult{}, fail(http.StatusInternalServerError, "%s: %s", s.o.Node, err)
	}
	return ActionResult{OK: true, Message: fmt.Sprintf("%s: %s recorded for ldird %s, which does not run here (it starts with it)", s.o.Node, what, req.Instance)}, nil
}

// validInstance: an ldird instance is a configuration file's base name.
func validInstance(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

// problemLine is "file:line: message", as ldird reports a problem.
var problemLine = regexp.MustCompile(`^(.+?):(\d+): (.*)$`)

// parseProblem splits a problem into its file, line and message.
func parseProblem(p string) ldapi.ConfigError {
	if m := problemLine.FindStringSubmatch(p); m != nil {
		n, _ := strconv.Atoi(m[2])
		return ldapi.ConfigError{File: m[1], Line: n, Message: m[3]}
	}
	return ldapi.ConfigError{Message: p}
}

// forward sends an action to the console of the node it is for.
func (s *Server) forward(ctx context.Context, action string, req ActionRequest, who string) (ActionResult, *actionError) {
	addr := s.o.Config.ConsoleAddr(req.Director)
	if addr == "" {
		return ActionResult{}, fail(http.StatusNotFound, "%s has no console in ha.cf: the action cannot be forwarded", req.Director)
	}
	req.By = who
	body, _ := json.Marshal(req)
	fctx, cancel := context.WithTimeout(ctx, control.ReloadTimeout+10*time.Second)
	defer cancel()
	code, b, err := s.peerDo(fctx, addr, http.MethodPost, "/api/v1/actions/"+action, body)
	if err != nil {
		return ActionResult{}, fail(http.StatusBadGateway, "%s's console: %v", req.Director, err)
	}
	var res ActionResult
	if err := json.Unmarshal(b, &res); err != nil {
		var e map[string]string
		json.Unmarshal(b, &e)
		return ActionResult{}, fail(http.StatusBadGateway, "%s's console: HTTP %d %s", req.Director, code, e["error"])
	}
	if code != http.StatusOK {
		ae := fail(code, "%s", res.Error)
		ae.errors = res.Errors
		return ActionResult{}, ae
	}
	return res, nil
}
