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
	"time"

	hbdapi "lvsha/hbd/statusapi"
	"lvsha/internal/cfgerr"
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
	res, aerr := s.act(r.Context(), action, req, who)
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
// console.
func (s *Server) act(ctx context.Context, action string, req ActionRequest, who string) (ActionResult, *actionError) {
	switch action {
	case "real", "standby", "takeover", "reload":
	default:
		return ActionResult{}, fail(http.StatusNotFound, "no such action %q (real, standby, takeover, reload)", action)
	}
	if req.Director != s.o.Node {
		return s.forward(ctx, action, req, who)
	}
	switch action {
	case "real":
		if req.Virtual == "" || req.Real == "" || req.State == "" {
			return ActionResult{}, fail(http.StatusBadRequest, "real: instance, virtual, real and state are required")
		}
		sock, ok := s.ldirdSocket(req.Instance)
		if !ok {
			return ActionResult{}, fail(http.StatusNotFound, "no ldird instance %q runs on %s", req.Instance, s.o.Node)
		}
		err := control.Admin(sock, control.AdminRequest{Virtual: req.Virtual, Real: req.Real, State: req.State, By: who})
		if err != nil {
			return ActionResult{}, fail(http.StatusConflict, "%s", err)
		}
		return ActionResult{OK: true, Message: fmt.Sprintf("%s: %s %s on %s", req.State, req.Real, req.Virtual, s.o.Node)}, nil
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
