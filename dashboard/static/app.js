// shoal dashboard: one EventSource to the manager that serves the page; a
// snapshot, then deltas keyed by ID, applied to the DOM once per animation
// frame. No framework, no build step.
"use strict";

const S = {
  nodes: new Map(),     // id -> {d, el, tasksEl}
  services: new Map(),  // id -> {d, el}
  tasks: new Map(),     // id -> {d, el}
  bySvc: new Map(),     // service id -> Set of task ids
  raft: null,
  raftAt: 0,
  index: 0,
  dirtyNodes: new Set(), dirtySvcs: new Set(), dirtyTasks: new Set(),
  removedTasks: [], removedNodes: [], removedSvcs: [],
  newEvents: [],
  scheduled: false,
  connected: false,
  firstRender: 0,
};

const $ = (id) => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function schedule() {
  if (!S.scheduled) { S.scheduled = true; requestAnimationFrame(render); }
}
function fmtMem(b) {
  if (!b) return "";
  const g = b / (1 << 30);
  return g >= 1 ? g.toFixed(g >= 10 ? 0 : 1) + " GiB" : Math.round(b / (1 << 20)) + " MiB";
}
function fmtCPU(n) { return n ? (n / 1e9).toFixed(n % 1e9 ? 1 : 0) + " CPU" : ""; }
function hostOf(id) { const n = S.nodes.get(id); return n ? n.d.host : id.slice(0, 12); }

// --- model updates -------------------------------------------------------

function putNode(d) { const n = S.nodes.get(d.id); if (n) n.d = d; else S.nodes.set(d.id, { d }); S.dirtyNodes.add(d.id); }
function putService(d) {
  const s = S.services.get(d.id);
  if (s) {
    // A new spec version: its tasks are now behind (a rolling update).
    if (s.d.v !== d.v) for (const id of S.bySvc.get(d.id) || []) S.dirtyTasks.add(id);
    s.d = d;
  } else S.services.set(d.id, { d });
  S.dirtySvcs.add(d.id);
}
function putTask(d) {
  const t = S.tasks.get(d.id);
  if (t) {
    if (t.d.svc !== d.svc) S.dirtySvcs.add(t.d.svc);
    t.d = d;
  } else S.tasks.set(d.id, { d });
  let set = S.bySvc.get(d.svc);
  if (!set) S.bySvc.set(d.svc, set = new Set());
  set.add(d.id);
  S.dirtyTasks.add(d.id); S.dirtySvcs.add(d.svc);
}
function dropTask(id) {
  const t = S.tasks.get(id);
  if (!t) return;
  S.tasks.delete(id);
  const set = S.bySvc.get(t.d.svc);
  if (set) set.delete(id);
  S.dirtySvcs.add(t.d.svc); S.dirtyTasks.delete(id);
  if (t.el) t.el.remove();
}

function onSnapshot(s) {
  // A new stream: forget everything and rebuild.
  for (const n of S.nodes.values()) if (n.el) n.el.remove();
  for (const sv of S.services.values()) if (sv.el) sv.el.remove();
  for (const t of S.tasks.values()) if (t.el) t.el.remove();
  S.nodes.clear(); S.services.clear(); S.tasks.clear(); S.bySvc.clear();
  S.dirtyNodes.clear(); S.dirtySvcs.clear(); S.dirtyTasks.clear();
  $("events").textContent = "";
  S.index = s.index;
  // Columns: managers first, then by hostname; cards by task name.
  s.nodes.sort((a, b) => (a.role === b.role ? 0 : a.role === "manager" ? -1 : 1) || a.host.localeCompare(b.host, undefined, { numeric: true }));
  s.tasks.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  s.nodes.forEach(putNode);
  s.services.forEach(putService);
  s.tasks.forEach(putTask);
  S.newEvents.push(...s.events);
  schedule();
}
function onDelta(d) {
  S.index = d.index;
  (d.nodes || []).forEach(putNode);
  (d.services || []).forEach(putService);
  (d.tasks || []).forEach(putTask);
  (d.rmTasks || []).forEach(dropTask);
  for (const id of d.rmNodes || []) {
    const n = S.nodes.get(id);
    if (n && n.el) n.el.remove();
    S.nodes.delete(id); S.dirtyNodes.delete(id);
  }
  for (const id of d.rmServices || []) {
    const s = S.services.get(id);
    if (s && s.el) s.el.remove();
    S.services.delete(id); S.dirtySvcs.delete(id);
  }
  S.newEvents.push(...(d.events || []));
  schedule();
}
function onRaft(v) {
  const oldLeader = S.raft && S.raft.leader;
  S.raft = v; S.raftAt = Date.now();
  if (oldLeader !== v.leader) {
    if (oldLeader) S.dirtyNodes.add(oldLeader);
    if (v.leader) S.dirtyNodes.add(v.leader);
  }
  schedule();
}

// --- rendering -----------------------------------------------------------

function unassigned() {
  let n = S.nodes.get("");
  if (!n) {
    n = { d: { id: "", host: "unassigned", role: "", avail: "", state: "" }, pseudo: true };
    S.nodes.set("", n);
    renderNode(n);
    n.el.classList.add("unassigned");
    $("nodes").prepend(n.el);
  }
  return n;
}

function renderNode(n) {
  const d = n.d;
  if (!n.el) {
    n.el = el("div", "node");
    n.el.dataset.nodeId = d.id;
    n.head = el("div", "node-head");
    n.hostEl = el("span", "node-host");
    n.metaEl = el("div", "node-meta");
    n.head.append(n.hostEl, n.metaEl);
    n.tasksEl = el("div", "node-tasks");
    n.el.append(n.head, n.tasksEl);
    if (!n.pseudo) $("nodes").append(n.el);
  }
  n.el.dataset.state = d.state; n.el.dataset.avail = d.avail;
  n.hostEl.textContent = d.host;
  n.hostEl.title = d.id;
  if (S.raft && S.raft.leader && S.raft.leader === d.id) {
    const m = el("span", "leader-mark", "★");
    m.title = "Raft leader";
    n.hostEl.append(m);
    n.el.dataset.leader = "true";
  } else delete n.el.dataset.leader;
  if (n.pseudo) { n.metaEl.textContent = "tasks waiting for a node"; return; }
  const res = [fmtCPU(d.cpu), fmtMem(d.mem)].filter(Boolean).join(" · ");
  n.metaEl.textContent = "";
  n.metaEl.append(
    el("div", "", `${d.role} · ${d.avail} · ${d.state}`),
    el("div", "", [d.engine ? "engine " + d.engine : "", res].filter(Boolean).join(" · ")));
  if (d.msg) n.metaEl.title = d.msg;
}

function renderTask(t) {
  const d = t.d;
  if (!t.el) { t.el = el("div", "task"); t.el.dataset.taskId = d.id; }
  t.el.dataset.state = d.st;
  t.el.classList.toggle("stopping", d.ds !== "running" && d.st === "running");
  const svc = S.services.get(d.svc);
  t.el.classList.toggle("old", !!svc && d.v < svc.d.v);
  t.el.textContent = d.name;
  t.el.title = `${d.name}: ${d.st} (desired ${d.ds})${d.msg ? " — " + d.msg : ""}${d.err ? " — " + d.err : ""}${svc ? "\n" + svc.d.image : ""}`;
  let host = S.nodes.get(d.node || "");
  if (!host || !d.node) host = unassigned();
  if (!host.el) renderNode(host);
  if (t.el.parentNode !== host.tasksEl) host.tasksEl.append(t.el);
}

function svcCounts(id) {
  const c = { running: 0, desired: 0, updated: 0, pending: 0, reasons: new Map() };
  const s = S.services.get(id);
  for (const tid of S.bySvc.get(id) || []) {
    const t = S.tasks.get(tid).d;
    if (t.ds === "running") c.desired++;
    if (t.st === "running" && t.ds === "running") {
      c.running++;
      if (s && t.v === s.d.v) c.updated++;
    }
    if (t.st === "pending") {
      c.pending++;
      const r = t.msg || t.err || "pending";
      c.reasons.set(r, (c.reasons.get(r) || 0) + 1);
    }
  }
  return c;
}

function renderService(s) {
  const d = s.d;
  if (!s.el) {
    s.el = el("tr");
    s.cells = [el("td", "svc-name"), el("td"), el("td"), el("td", "svc-replicas"), el("td", "svc-update"), el("td", "reason")];
    s.el.append(...s.cells);
    s.el.dataset.serviceId = d.id;
    // keep rows sorted by name
    const rows = $("services").tBodies[0];
    let before = null;
    for (const r of rows.rows) if (r.cells[0].textContent > d.name) { before = r; break; }
    rows.insertBefore(s.el, before);
  }
  s.el.dataset.serviceName = d.name;
  const c = svcCounts(d.id);
  const desired = d.global ? c.desired : d.replicas;
  s.cells[0].textContent = d.name;
  s.cells[1].textContent = d.image;
  s.cells[2].textContent = d.global ? "global" : "replicated";
  s.cells[3].textContent = `${c.running} / ${desired}`;
  s.el.dataset.running = c.running; s.el.dataset.desired = desired;
  const u = s.cells[4];
  u.textContent = "";
  if (d.upd) {
    u.append(document.createTextNode(d.upd.replace(/_/g, " ")));
    if (d.upd === "updating" || d.upd === "rollback_started") {
      const p = el("span", "progress"), i = el("i");
      i.style.width = (desired ? Math.round(100 * c.updated / desired) : 0) + "%";
      p.append(i);
      u.append(p, document.createTextNode(` ${c.updated}/${desired}`));
    }
    if (d.updmsg) u.title = d.updmsg;
  }
  const reasons = [...c.reasons].map(([r, n]) => (n > 1 ? n + "× " : "") + r);
  s.cells[5].textContent = c.pending ? `${c.pending} pending: ${reasons.join("; ")}` : "";
}

function renderRaft() {
  const v = S.raft;
  if (!v) return;
  const body = $("raft").tBodies[0];
  body.textContent = "";
  for (const m of v.members) {
    const tr = el("tr");
    tr.dataset.managerId = m.id;
    if (!m.reachable) tr.className = "unreachable";
    const name = el("td", "", hostOf(m.id));
    if (m.id === v.leader) name.append(el("span", "leader-mark", "★"));
    if (m.id === v.self) name.append(el("span", "muted", " (this page)"));
    const lag = el("td", m.lag > 100 ? "lag-high" : "", m.reachable ? String(m.lag) : "–");
    tr.append(name, el("td", "", m.state || "?"), el("td", "", m.term ? String(m.term) : "–"),
      el("td", "", m.reachable ? String(m.commit) : "–"), el("td", "", m.reachable ? String(m.applied) : "–"),
      lag, el("td", "", m.reachable ? "yes" : "no" + (m.error ? ": " + m.error : "")));
    tr.lastChild.title = m.error || "";
    body.append(tr);
  }
  const lose = v.canLose < 0 ? "quorum lost" : `can lose ${v.canLose} more manager${v.canLose === 1 ? "" : "s"}`;
  $("raft-summary").textContent = `leader ${v.leader ? hostOf(v.leader) : "none"} · term ${v.term} · ${v.reachable}/${v.voters} voters answer, quorum ${v.quorum} · ${lose}`;
  $("raft-summary").dataset.canLose = v.canLose;
}

function renderEvents() {
  if (!S.newEvents.length) return;
  const list = $("events");
  const frag = document.createDocumentFragment();
  for (let i = S.newEvents.length - 1; i >= 0 && i >= S.newEvents.length - 200; i--) {
    const e = S.newEvents[i];
    const li = el("li");
    li.dataset.type = e.type;
    li.append(el("span", "t", new Date(e.time).toLocaleTimeString()),
      document.createTextNode(`${e.type} ${e.action} ${e.type === "task" ? e.name : e.name || e.id}${e.detail ? ": " + e.detail.replace(/ on (\w+)$/, (_, id) => " on " + hostOf(id)) : ""}`));
    frag.append(li);
  }
  list.prepend(frag);
  while (list.childElementCount > 200) list.lastElementChild.remove();
  S.newEvents = [];
}

function render() {
  S.scheduled = false;
  if (S.raft) renderRaft();
  for (const id of S.dirtyNodes) { const n = S.nodes.get(id); if (n) renderNode(n); }
  for (const id of S.dirtyTasks) { const t = S.tasks.get(id); if (t) renderTask(t); }
  for (const id of S.dirtySvcs) { const s = S.services.get(id); if (s) renderService(s); }
  S.dirtyNodes.clear(); S.dirtyTasks.clear(); S.dirtySvcs.clear();
  const un = S.nodes.get("");
  if (un) un.el.hidden = un.tasksEl.childElementCount === 0;
  renderEvents();
  const real = S.nodes.size - (un ? 1 : 0);
  $("nodes-count").textContent = `${real}`;
  $("services-count").textContent = `${S.services.size}`;
  $("summary").textContent = `${real} nodes · ${S.services.size} services · ${S.tasks.size} tasks`;
  $("index").textContent = `index ${S.index}`;
  updateStale();
  if (!S.firstRender && S.connected) {
    S.firstRender = performance.now();
    document.body.dataset.firstRenderMs = Math.round(S.firstRender);
    document.body.dataset.rendered = "true";
  }
}

// --- staleness and the connection ---------------------------------------

function updateStale() {
  let reason = "";
  if (!S.connected) reason = "disconnected from the manager: reconnecting…";
  else if (S.raft && S.raft.stale) reason = "stale: " + S.raft.staleReason;
  else if (S.raftAt && Date.now() - S.raftAt > 4000) reason = `stale: no news from the manager for ${Math.round((Date.now() - S.raftAt) / 1000)} s`;
  const banner = $("stale");
  banner.hidden = !reason;
  banner.textContent = reason;
  document.body.classList.toggle("stale", !!reason);
  const b = $("conn");
  b.dataset.state = !S.connected ? "disconnected" : reason ? "stale" : "live";
  b.textContent = b.dataset.state;
}
setInterval(updateStale, 1000);

function connect() {
  const es = new EventSource("api/stream");
  es.addEventListener("open", () => { S.connected = true; updateStale(); });
  es.addEventListener("error", () => {
    S.connected = false;
    updateStale();
    // EventSource retries a broken connection by itself, but gives up on
    // an answer other than 200 (a manager serving its MaxStreams pages
    // answers 503): then try again a little later.
    if (es.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
  });
  es.addEventListener("snapshot", (e) => { S.connected = true; onSnapshot(JSON.parse(e.data)); });
  es.addEventListener("delta", (e) => onDelta(JSON.parse(e.data)));
  es.addEventListener("raft", (e) => onRaft(JSON.parse(e.data)));
}
connect();
