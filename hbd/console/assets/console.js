// lvsha cluster console: renders /api/v1/events (server-sent events of the
// cluster document) with plain DOM calls; text is always set as text, never
// as HTML (check details come from the real servers).
'use strict';

const SVGNS = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
let session = null;   // /api/v1/session
let doc = null;       // the last cluster document
let source = null;    // the EventSource
let lastUpdate = 0;
const nodeColors = ['#2f6fdb', '#8250df', '#bf5700'];

// el builds an element: el('td', {class: 'num'}, 'text', child, ...).
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'style') e.style.cssText = v; // CSSOM: allowed by the page's CSP, a style attribute is not
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  for (const k of kids.flat()) if (k) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function pill(text, kind, field) { return el('span', {class: 'pill ' + kind, 'data-field': field}, text); }

function fmtMS(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1) return ms.toFixed(2) + ' ms';
  if (ms < 1000) return (ms < 10 ? ms.toFixed(1) : Math.round(ms)) + ' ms';
  return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + ' s';
}

// ago is how long before the document's time t was.
function ago(t) {
  if (!t || !doc) return '';
  const s = (Date.parse(doc.time) - Date.parse(t)) / 1000;
  if (s < 1) return 'just now';
  if (s < 90) return Math.round(s) + ' s ago';
  if (s < 5400) return Math.round(s / 60) + ' min ago';
  return Math.round(s / 3600) + ' h ago';
}

function clock(t) { return new Date(t).toLocaleTimeString([], {hour12: false}); }

function announce(text, lost) {
  const live = $('live');
  live.textContent = text;
  live.classList.toggle('lost', !!lost);
}

function showAlert(text, ok, list) {
  const a = $('alert');
  a.replaceChildren(el('span', {}, text));
  if (list && list.length) a.append(el('ul', {}, list.map((x) => el('li', {}, x))));
  a.classList.toggle('ok', !!ok);
  a.hidden = false;
}

// ---- session and login ----------------------------------------------------

async function loadSession() {
  const r = await fetch('/api/v1/session', {credentials: 'same-origin', cache: 'no-store'});
  session = await r.json();
  renderAuth();
  const canSee = session.user || session.read_only_view;
  $('login').hidden = !!session.user || !session.password_login;
  $('login-why').textContent = session.read_only_view
    ? 'Anyone here may look; log in to drain a real, move resources or reload.'
    : 'This console shows the cluster to administrators only.';
  $('content').hidden = !canSee;
  if (canSee) connect(); else { disconnect(); announce('Log in to see the cluster.'); }
}

function renderAuth() {
  const a = $('auth');
  a.replaceChildren();
  if (session.user) {
    a.append(el('span', {}, 'Logged in as ', el('strong', {'data-testid': 'user'}, session.user)));
    if (!session.cert) a.append(el('button', {type: 'button', onclick: logout}, 'Log out'));
  } else if (session.password_login) {
    a.append(el('a', {href: '#login', class: 'login-link'}, 'Administrator login'));
  }
}

async function login(ev) {
  ev.preventDefault();
  $('login-error').textContent = '';
  const r = await fetch('/api/v1/login', {
    method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({user: $('login-user').value, password: $('login-password').value}),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { $('login-error').textContent = body.error || ('HTTP ' + r.status); return; }
  $('login-password').value = '';
  await loadSession();
  announce('Logged in as ' + body.user + '.');
  render();
}

async function logout() {
  await fetch('/api/v1/logout', {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf}, body: '{}'});
  await loadSession();
  announce('Logged out.');
  render();
}

// act posts an action and shows its result.
async function act(action, body, what, button) {
  if (button) button.disabled = true;
  announce(what + '…');
  try {
    const r = await fetch('/api/v1/actions/' + action, {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf || ''},
      body: JSON.stringify(body),
    });
    const res = await r.json().catch(() => ({error: 'HTTP ' + r.status}));
    if (r.ok && res.ok) {
      showAlert(what + ': done. ' + (res.message || ''), true);
      announce(what + ': done.');
    } else {
      const errs = (res.errors || []).map((e) => (e.file ? e.file + ':' + e.line + ': ' : '') + e.message);
      showAlert(what + ' failed: ' + (res.error || ('HTTP ' + r.status)), false, errs);
      announce(what + ' failed.');
    }
  } catch (e) {
    showAlert(what + ' failed: ' + e, false);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- live updates ----------------------------------------------------------

function connect() {
  if (source) return;
  source = new EventSource('/api/v1/events');
  source.addEventListener('cluster', (ev) => {
    doc = JSON.parse(ev.data);
    lastUpdate = Date.now();
    render();
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) { source = null; setTimeout(loadSession, 2000); }
    lostNotice();
  };
}

function disconnect() { if (source) { source.close(); source = null; } }

// lostNotice says the console is unreachable and where the peer's is.
function lostNotice() {
  let text = 'Connection to this console lost; retrying.';
  if (doc) {
    const peers = doc.directors.filter((d) => !d.self && d.console);
    if (peers.length) text += ' The other director\'s console: ' + peers.map((d) => d.node + ' ' + d.console).join(', ');
  }
  announce(text, true);
}

setInterval(() => { if (source && lastUpdate && Date.now() - lastUpdate > 6000) lostNotice(); }, 2000);

// ---- rendering -------------------------------------------------------------

function selfHbd() {
  const d = doc.directors.find((x) => x.self);
  return d && d.local ? d.local.hbd : null;
}

function nodeColor(name) {
  const i = doc.directors.findIndex((d) => d.node === name);
  return i < 0 ? '#8c959f' : nodeColors[i % nodeColors.length];
}

function statusPill(st) {
  const kind = st === 'active' || st === 'up' ? 'ok' : st === 'dead' ? 'bad' : 'warn';
  return pill(st, kind, 'status');
}

function render() {
  if (!doc) return;
  // Keep the keyboard focus across the re-render.
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
  const hbd = selfHbd();
  $('served').textContent = 'Served by ' + doc.served_by + ' · updated ' + clock(doc.time);
  if (!$('live').classList.contains('lost') || Date.now() - lastUpdate < 1000) {
    announce(summary(hbd), false);
  }
  renderDirectors(hbd);
  renderGroups(hbd);
  renderVirtuals();
  renderLinks(hbd);
  renderEvents(hbd);
  if (focused) {
    const e = document.querySelector('[data-key="' + CSS.escape(focused) + '"]');
    if (e) e.focus();
  }
}

// summary is the one line the live region reads out.
function summary(hbd) {
  if (!hbd) return 'Updated ' + clock(doc.time);
  const held = hbd.resources.groups.map((g) => g.key.split('::')[0] + ' on ' + (g.holder || 'nobody')).join('; ');
  const nodes = hbd.nodes.map((n) => n.name + ' ' + n.status).join(', ');
  return 'Updated ' + clock(doc.time) + '. ' + nodes + '. ' + held + '.';
}

function renderDirectors(hbd) {
  const box = $('directors');
  box.replaceChildren();
  for (const d of doc.directors) {
    const seen = hbd ? hbd.nodes.find((n) => n.name === d.node) : null;
    const own = d.local && d.local.hbd ? d.local.hbd : null;
    const holds = hbd ? hbd.resources.groups.filter((g) => g.holder === d.node).map((g) => g.key) : [];
    const card = el('article', {class: 'card' + (d.self ? ' self' : ''), 'data-director': d.node, 'aria-labelledby': 'dir-' + d.node});
    card.append(el('div', {class: 'head'},
      el('h3', {id: 'dir-' + d.node}, el('span', {class: 'swatch', style: 'background:' + nodeColor(d.node), 'aria-hidden': 'true'}), d.node,
        d.self ? el('span', {class: 'muted'}, ' (serving this page)') : ''),
      seen ? statusPill(seen.status) : pill('unknown', 'none', 'status')));
    const dl = el('dl');
    const row = (k, ...v) => dl.append(el('dt', {}, k), el('dd', {}, ...v));
    row('Holds', holds.length ? el('span', {'data-field': 'holds'}, holds.join(', ')) : el('span', {'data-field': 'holds', class: 'muted'}, 'nothing'));
    if (own) row('Resources', own.resources.state + (own.resources.protocol ? ' (' + own.resources.protocol + ')' : ''));
    if (seen && !seen.self) {
      row('Heard', seen.last_heard_age_ms === null ? 'never' : fmtMS(seen.last_heard_age_ms) + ' ago',
        el('span', {class: 'muted'}, ' · deadtime ' + fmtMS(seen.deadtime_ms) + ' · generation ' + seen.generation));
      row('Links', el('span', {'data-field': 'links'}, seen.links.map((l) => el('span', {}, pill(l.name + ' ' + l.status, l.status === 'up' ? 'ok' : 'bad', 'link-' + l.name), ' '))));
    } else if (own) {
      row('Generation', String(own.generation));
    }
    if (own && own.fencing) {
      // STONITH: the device, and a reset in progress (nothing is taken over
      // until it succeeds).
      const f = own.fencing;
      const busy = f.state !== 'idle' && f.state !== 'none';
      const what = busy ? f.state + (f.node ? ' ' + f.node : '') + (f.attempts ? ', ' + f.attempts + ' attempt(s)' : '') +
        (f.waits_for_operator ? ', waiting for meatclient -c ' + f.node : '') : 'armed';
      row('Fencing', el('span', {'data-field': 'fencing-row'}, pill(what, busy ? 'bad' : 'ok', 'fencing'), ' ',
        el('span', {class: 'muted'}, f.device + (f.last ? ' · last ' + f.last.result + ' ' + ago(f.last.at) : ''))));
    }
    const lds = d.local ? d.local.ldird : [];
    row('ldird', lds.length ? lds.map((l) => l.status ? l.instance + ' (' + l.status.dataplane + ')' : l.instance + ': ' + (l.error || 'no answer')).join(', ')
      : el('span', {class: 'muted'}, d.local ? 'not running' : 'unknown'));
    if (!d.self) {
      const c = d.console ? el('a', {href: d.console}, d.console) : 'none';
      row('Console', c, d.reachable ? '' : el('span', {class: 'error', 'data-field': 'console-error'}, ' unreachable' + (d.error ? ': ' + d.error : '') + (d.as_of ? ' (last view ' + ago(d.as_of) + ')' : '')));
    }
    card.append(dl);
    if (session && session.user && (d.reachable || d.self)) {
      const a = el('div', {class: 'actions'});
      const mk = (label, action, body, what, cls) => a.append(el('button', {type: 'button', class: cls, 'data-key': action + '-' + d.node,
        onclick: (ev) => act(action, body, what, ev.currentTarget)}, label));
      mk('Standby', 'standby', {director: d.node, set: 'all'}, 'hb_standby on ' + d.node, 'danger');
      mk('Takeover', 'takeover', {director: d.node, set: 'all'}, 'hb_takeover on ' + d.node);
      mk('Reload hbd', 'reload', {director: d.node, target: 'hbd'}, 'Reload hbd on ' + d.node);
      card.append(a);
    }
    box.append(card);
  }
}

function renderGroups(hbd) {
  const box = $('groups');
  box.replaceChildren();
  if (!hbd || !hbd.resources.groups.length) { box.append(el('p', {class: 'muted'}, 'No resource groups (haresources is empty).')); }
  else {
    const t = el('table', {'data-testid': 'groups'},
      el('caption', {}, 'Resource groups ', el('span', {class: 'muted'}, '(as ' + doc.served_by + ' sees them; ' + hbd.resources.state + ' here)')),
      el('thead', {}, el('tr', {}, ['Group', 'Preferred node', 'Held by', 'Resources'].map((h) => el('th', {scope: 'col'}, h)))));
    const tb = el('tbody');
    for (const g of hbd.resources.groups) {
      tb.append(el('tr', {'data-group': g.key},
        el('th', {scope: 'row'}, g.key),
        el('td', {}, g.preferred_node),
        el('td', {'data-field': 'holder'}, g.holder ? el('span', {}, el('span', {class: 'swatch', style: 'background:' + nodeColor(g.holder), 'aria-hidden': 'true'}), g.holder) : el('span', {class: 'muted'}, 'nobody'),
          g.moving ? el('span', {class: 'muted'}, ' (moving)') : ''),
        el('td', {class: 'detail'}, g.resources.join(' '))));
    }
    t.append(tb);
    box.append(el('div', {class: 'tablewrap'}, t));
  }
  $('timeline').replaceChildren(hbd ? timeline(hbd) : '');
}

// timeline draws, per group, who held it over the last hour, with the
// node deaths and returns as marks.
function timeline(hbd) {
  const W = 900, lane = 26, top = 18, groups = hbd.resources.groups.map((g) => g.key);
  // The window: the last hour, or since the first change when that is
  // shorter (at least 2 minutes).
  const end = Date.parse(doc.time);
  const first = hbd.history.holders.length ? Date.parse(hbd.history.holders[0].at) : end;
  const span = Math.min(3600e3, Math.max(120e3, (end - first) * 1.1)), start = end - span;
  const x = (t) => 90 + (Math.max(t, start) - start) / span * (W - 100);
  const H = top + Math.max(groups.length, 1) * lane + 24;
  const s = svg('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'timeline-title'});
  const desc = [];
  for (let i = 0; i <= 6; i++) {
    const back = span * (6 - i) / 6, xx = x(end - back);
    const lbl = i === 6 ? 'now' : back >= 120e3 ? '-' + Math.round(back / 60e3) + ' min' : '-' + Math.round(back / 1e3) + ' s';
    s.append(svg('line', {x1: xx, x2: xx, y1: top - 4, y2: H - 20, stroke: '#d0d7de'}),
      svg('text', {x: xx, y: H - 6, 'font-size': 11, 'text-anchor': 'middle', fill: '#57606a'}, lbl));
  }
  groups.forEach((key, i) => {
    const y = top + i * lane;
    s.append(svg('text', {x: 0, y: y + 15, 'font-size': 11, fill: '#1b1f24'}, key.split('::').slice(0, 2).join(' ').slice(0, 14)));
    const changes = hbd.history.holders.filter((h) => h.group === key);
    changes.forEach((c, j) => {
      const t0 = Date.parse(c.at), t1 = j + 1 < changes.length ? Date.parse(changes[j + 1].at) : end;
      if (t1 < start) return;
      const w = Math.max(x(t1) - x(t0), 1);
      s.append(svg('rect', {x: x(t0), y: y + 2, width: w, height: lane - 8, rx: 2, fill: c.holder ? nodeColor(c.holder) : '#d0d7de'},
        svg('title', {}, key + ': ' + (c.holder || 'nobody') + ' from ' + clock(c.at))));
      desc.push(key + ' ' + (c.holder || 'nobody') + ' from ' + clock(c.at));
    });
  });
  for (const t of hbd.transitions) {
    if (!['node-dead', 'node-returned', 'node-restarted'].includes(t.kind) || Date.parse(t.at) < start) continue;
    const xx = x(Date.parse(t.at));
    s.append(svg('path', {d: `M${xx - 5},${top - 12} L${xx + 5},${top - 12} L${xx},${top - 3} Z`, fill: t.kind === 'node-dead' ? '#b42318' : '#1a7f37'},
      svg('title', {}, clock(t.at) + ' ' + t.node + ': ' + t.kind)));
    desc.push(clock(t.at) + ' ' + t.node + ' ' + t.kind);
  }
  s.prepend(svg('title', {id: 'timeline-title'}, 'Failover timeline: ' + (desc.length ? desc.join('; ') : 'no change in the last hour')));
  const legend = el('div', {class: 'legend'}, doc.directors.map((d) => el('span', {}, el('span', {class: 'swatch', style: 'background:' + nodeColor(d.node)}), d.node)),
    el('span', {}, el('span', {class: 'swatch', style: 'background:#d0d7de'}), 'nobody'),
    el('span', {}, '▼ red: a node declared dead; green: back'));
  return el('div', {}, s, legend);
}

function renderVirtuals() {
  const box = $('virtuals');
  box.replaceChildren();
  let any = false;
  for (const d of doc.directors) {
    if (!d.local) continue;
    for (const inst of d.local.ldird) {
      any = true;
      if (!inst.status) {
        box.append(el('p', {class: 'error'}, 'ldird ' + inst.instance + ' on ' + d.node + ': ' + (inst.error || 'no answer')));
        continue;
      }
      const st = inst.status;
      for (const v of st.virtuals) box.append(virtualTable(d, inst, v));
      box.append(reloads(d, inst));
    }
  }
  if (!any) box.append(el('p', {class: 'muted'}, 'No ldird runs on any director that answered (ldird runs where the ldirectord resource is held).'));
}

function virtualTable(d, inst, v) {
  const stale = !d.reachable && !d.self;
  const t = el('table', {'data-virtual': v.key, 'data-director': d.node, class: stale ? 'stale' : null},
    el('caption', {}, v.protocol.toUpperCase() + ' ' + v.address + ' ',
      el('span', {class: 'muted'}, `on ${d.node} (ldird ${inst.instance}, ${inst.status.dataplane}) · ${v.scheduler} · ${v.check} every ${v.check_interval_s} s · quiescent=${v.quiescent ? 'yes' : 'no'}` +
        (v.fallback ? ` · fallback ${v.fallback.server} ${v.fallback.active ? 'ACTIVE' : 'inactive'}` : '') + (stale ? ' · last known state' : ''))),
    el('thead', {}, el('tr', {}, ['Real', 'State', 'Weight', 'Connections', 'Last check', 'Checks (up to an hour)', session && session.user ? 'Actions' : null]
      .filter((h) => h !== null).map((h) => el('th', {scope: 'col'}, h)))));
  const tb = el('tbody');
  for (const r of v.reals) {
    const state = r.admin.state === 'drain' ? 'drained' : r.admin.state === 'disable' ? 'disabled' : r.maintenance ? 'maintenance' : r.state;
    const kind = r.admin.state !== 'enable' || r.maintenance ? 'warn' : r.state === 'up' ? 'ok' : r.state === 'down' ? 'bad' : 'none';
    const last = r.last;
    const tr = el('tr', {'data-real': r.key, 'data-director': d.node},
      el('th', {scope: 'row'}, r.server, el('div', {class: 'muted'}, r.forward + ' · weight ' + r.weight)),
      el('td', {}, pill(state, kind, 'state'),
        r.admin.state !== 'enable' ? el('div', {class: 'muted'}, 'by ' + (r.admin.by || '?') + ' ' + ago(r.admin.at)) : ''),
      el('td', {class: 'num', 'data-field': 'weight'}, r.in_table ? String(r.table_weight) : 'absent'),
      el('td', {class: 'num'}, r.connections ? r.connections.active + ' active / ' + r.connections.inactive + ' inactive' : '–'),
      el('td', {'data-field': 'last-check'}, last ? [pill(last.outcome, last.ok ? 'ok' : 'bad', 'outcome'), ' ', fmtMS(last.latency_ms), ' ',
        el('span', {class: 'muted'}, ago(last.at)), el('div', {class: 'detail', 'data-field': 'detail'}, last.detail)] : el('span', {class: 'muted'}, 'not checked yet')),
      el('td', {}, spark(r)));
    if (session && session.user) {
      const a = el('div', {class: 'actions'});
      const what = (s) => `${s} ${r.server} on ${d.node}`;
      for (const [label, s, cls] of [['Drain', 'drain', ''], ['Disable', 'disable', 'danger'], ['Enable', 'enable', '']]) {
        a.append(el('button', {type: 'button', class: cls || null, 'data-key': s + '-' + d.node + '-' + v.key + '-' + r.key, 'data-action': s,
          disabled: stale || r.admin.state === s || (s === 'enable' && r.admin.state === 'enable'), 'aria-label': what(label),
          onclick: (ev) => act('real', {director: d.node, instance: inst.instance, virtual: v.key, real: r.key, state: s}, what(label), ev.currentTarget)}, label));
      }
      tr.append(el('td', {}, a));
    }
    tb.append(tr);
  }
  t.append(tb);
  return el('div', {class: 'tablewrap'}, t);
}

// spark is a real's last hour: a bar per minute (height: mean latency;
// red when a check failed), the recent results as dots.
function spark(r) {
  const bs = r.history.buckets, recent = r.recent;
  // The window: the last hour, or since the first result when that is
  // shorter (at least 5 minutes), so a young real is not a speck.
  const W = 240, H = 40, end = Date.parse(doc.time);
  const first = bs.length ? Date.parse(bs[0].start) : recent.length ? Date.parse(recent[0].at) : end;
  const span = Math.min(3600e3, Math.max(300e3, end - first + 60e3)), start = end - span;
  const x = (t) => (t - start) / span * W;
  const maxLat = Math.max(1, ...bs.map((b) => b.max_latency_ms), ...recent.map((c) => c.latency_ms));
  const y = (ms) => H - 3 - Math.min(ms / maxLat, 1) * (H - 8);
  const ok = bs.reduce((n, b) => n + b.ok, 0), failed = bs.reduce((n, b) => n + b.failed, 0);
  const mean = ok + failed ? bs.reduce((n, b) => n + b.mean_latency_ms * (b.ok + b.failed), 0) / (ok + failed) : 0;
  const label = `Last ${Math.round(span / 60e3)} min: ${ok} checks passed, ${failed} failed; latency mean ${fmtMS(mean)}, max ${fmtMS(Math.max(0, ...bs.map((b) => b.max_latency_ms)))}`;
  const s = svg('svg', {class: 'spark', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': label},
    svg('title', {}, label), svg('rect', {x: 0, y: 0, width: W, height: H, fill: '#f6f8fa'}));
  const bw = W * 60e3 / span;
  for (const b of bs) {
    const t = Date.parse(b.start), bad = b.failed > 0 || b.down;
    s.append(svg('rect', {x: x(t), y: y(b.mean_latency_ms), width: bw - 1, height: H - 3 - y(b.mean_latency_ms) + 1, fill: bad ? '#f0a39c' : '#9bd8a7'}));
  }
  for (const c of recent) {
    const t = Date.parse(c.at);
    if (t < start) continue;
    s.append(svg('circle', {cx: Math.min(x(t), W - 2), cy: y(c.latency_ms), r: 1.8, fill: c.ok ? '#1a7f37' : '#b42318'}));
  }
  return s;
}

function reloads(d, inst) {
  const rl = inst.status.reloads.slice(-5).reverse();
  const box = el('div', {class: 'reloads'});
  const head = el('div', {}, el('strong', {}, 'Configuration of ldird ' + inst.instance + ' on ' + d.node + ': '),
    el('span', {class: 'muted'}, inst.status.config));
  if (session && session.user && (d.self || d.reachable)) {
    head.append(' ', el('button', {type: 'button', 'data-key': 'reload-ldird-' + d.node + '-' + inst.instance,
      onclick: (ev) => act('reload', {director: d.node, target: 'ldird', instance: inst.instance}, 'Reload ldird ' + inst.instance + ' on ' + d.node, ev.currentTarget)}, 'Reload ldird'));
  }
  box.append(head);
  const ul = el('ul');
  for (const r of rl) {
    ul.append(el('li', {}, clock(r.at) + ' ' + r.trigger + ': ', r.ok ? pill('applied', 'ok') : pill('refused, running configuration kept', 'bad'),
      r.errors.length ? el('ul', {}, r.errors.map((e) => el('li', {}, (e.file ? e.file + ':' + e.line + ': ' : '') + e.message))) : ''));
  }
  box.append(ul);
  return box;
}

function renderLinks(hbd) {
  const box = $('links');
  box.replaceChildren();
  if (!hbd) return;
  const peers = hbd.nodes.filter((n) => !n.self);
  if (peers.length) {
    const t = el('table', {'data-testid': 'links'},
      el('caption', {}, 'Heartbeat links as ' + doc.served_by + ' hears its peers'),
      el('thead', {}, el('tr', {}, ['Node', 'Link', 'Status', 'Last heard', 'Heartbeats', 'Loss'].map((h) => el('th', {scope: 'col'}, h)))));
    const tb = el('tbody');
    for (const n of peers) {
      for (const l of n.links) {
        tb.append(el('tr', {'data-node': n.name, 'data-link': l.name},
          el('th', {scope: 'row'}, n.name), el('td', {}, l.name),
          el('td', {}, pill(l.status, l.status === 'up' ? 'ok' : 'bad', 'status')),
          el('td', {class: 'num'}, l.last_heard_age_ms === null ? 'never' : fmtMS(l.last_heard_age_ms) + ' ago'),
          el('td', {class: 'num'}, String(l.heartbeats)),
          el('td', {class: 'num'}, l.loss === null ? '–' : (l.loss * 100).toFixed(1) + ' % of ' + l.loss_sample)));
      }
    }
    t.append(tb);
    box.append(el('div', {class: 'tablewrap'}, t));
  }
  for (const lh of hbd.history.links) box.append(arrivalPlot(hbd, lh));
  if (hbd.ping_nodes.length) {
    box.append(el('p', {}, 'Ping nodes: ', hbd.ping_nodes.map((p) => el('span', {}, pill(p.name + ' ' + p.status, p.status === 'up' ? 'ok' : 'bad'), ' '))));
  }
}

// arrivalPlot: heartbeats per bucket from one peer over one link (bars)
// and the longest silence in each bucket (line), against the deadtime.
function arrivalPlot(hbd, lh) {
  // The window: an hour, or since hbd started (at least 2 minutes).
  const W = 900, H = 110, padL = 40, bucket = hbd.history.bucket_s * 1000;
  const n = Math.min(360, Math.max(12, lh.arrivals.length));
  const end = Date.parse(doc.time), start = end - n * bucket;
  const x = (i) => padL + ((Date.parse(lh.start) + i * bucket) - start) / (n * bucket) * (W - padL - 4);
  const expect = bucket / Math.max(hbd.timers.keepalive_ms, 1);
  const maxA = Math.max(expect * 1.2, ...lh.arrivals);
  // Silences are drawn up to twice the deadtime (the deadtime line in the
  // middle); a longer one, the node declared dead, tops the plot.
  const dead = hbd.timers.deadtime_ms, maxAge = dead * 2;
  const yA = (a) => H - 16 - a / maxA * (H - 26);
  const yS = (ms) => H - 16 - Math.min(ms / maxAge, 1) * (H - 26);
  const total = lh.arrivals.reduce((a, b) => a + b, 0), worst = Math.max(0, ...lh.max_age_ms);
  const label = `${lh.node} over ${lh.link}: ${total} heartbeats in the last ${Math.round(lh.arrivals.length * bucket / 60000)} min; longest silence ${fmtMS(worst)} (deadtime ${fmtMS(dead)})`;
  const s = svg('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label}, svg('title', {}, label));
  const bw = (W - padL) / n;
  lh.arrivals.forEach((a, i) => {
    s.append(svg('rect', {x: x(i), y: yA(a), width: Math.max(bw - .5, .5), height: H - 16 - yA(a), fill: a === 0 ? '#f0a39c' : '#9ec1ff'}));
  });
  let path = '';
  lh.max_age_ms.forEach((ms, i) => { if (ms >= 0) path += (path ? 'L' : 'M') + (x(i) + bw / 2).toFixed(1) + ',' + yS(ms).toFixed(1); });
  if (path) s.append(svg('path', {d: path, fill: 'none', stroke: '#8250df', 'stroke-width': 1.5}));
  s.append(svg('line', {x1: padL, x2: W, y1: yS(dead), y2: yS(dead), stroke: '#b42318', 'stroke-dasharray': '4 3'}),
    svg('text', {x: padL - 4, y: yS(dead) + 4, 'font-size': 10, 'text-anchor': 'end', fill: '#b42318'}, 'dead'),
    svg('text', {x: padL, y: H - 3, 'font-size': 10, fill: '#57606a'}, '-' + Math.round(n * bucket / 60000) + ' min'),
    svg('text', {x: W - 4, y: H - 3, 'font-size': 10, 'text-anchor': 'end', fill: '#57606a'}, 'now'));
  return el('figure', {class: 'plot', 'data-plot': 'arrivals-' + lh.node + '-' + lh.link},
    el('figcaption', {}, `Heartbeat arrivals from ${lh.node} over ${lh.link}`), s,
    el('div', {class: 'legend'}, el('span', {}, el('span', {class: 'swatch', style: 'background:#9ec1ff'}), 'heartbeats per ' + hbd.history.bucket_s + ' s'),
      el('span', {}, el('span', {class: 'swatch', style: 'background:#8250df'}), 'longest silence'),
      el('span', {}, el('span', {class: 'swatch', style: 'background:#b42318'}), 'deadtime')));
}

function renderEvents(hbd) {
  const ol = $('events');
  ol.replaceChildren();
  if (!hbd) return;
  const ts = hbd.transitions.slice(-25).reverse();
  for (const t of ts) {
    const what = [t.node, t.link, (t.groups || []).join(' ')].filter(Boolean).join(' ');
    ol.append(el('li', {'data-kind': t.kind}, el('time', {datetime: t.at}, clock(t.at)), el('strong', {}, t.kind), ' ', what, ': ', t.cause,
      t.ok ? '' : el('span', {class: 'error'}, ' (failed)')));
  }
  if (!ts.length) ol.append(el('li', {class: 'muted'}, 'No events yet.'));
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  loadSession().catch((e) => announce('Cannot reach the console: ' + e, true));
});
