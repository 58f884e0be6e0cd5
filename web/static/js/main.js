// The gametap viewer: a match list (#/) and a live match view (#/match/<id>).

import { FoxgloveClient } from "./foxglove.js";
import { MapView } from "./mapview.js";
import { renderInspector, renderKillFeed, renderLog, renderScoreboard, renderStatus, setConnection } from "./panels.js";
import { schemaFromDescriptorSet } from "./schema.js";
import { escapeHtml } from "./style.js";
import { World } from "./world.js";

const $ = (id) => document.getElementById(id);
const PANEL_INTERVAL_MS = 100;
// A daemon with access tokens: open the viewer as /?token=TOKEN; the token goes with every request.
const TOKEN = new URLSearchParams(location.search).get("token");
const withToken = (path) => (TOKEN ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(TOKEN)}` : path);

const SCHEME = location.protocol === "https:" ? "wss" : "ws";
const DAEMON_SOCKET = `${SCHEME}://${location.host}${withToken("/ws")}`;

// A match's viewer stream comes from the worker process that runs it (its placement), not
// through the daemon; a match the daemon no longer lists falls back to the daemon's socket.
async function matchSocket(id) {
  try {
    const response = await fetch(withToken("/api/matches"));
    const { matches } = await response.json();
    const port = (matches.find((m) => m.id === id)?.placement || {}).httpPort;
    if (port) return `${SCHEME}://${location.hostname}:${port}${withToken("/ws")}`;
  } catch {
    return null; // the daemon does not answer: try again later
  }
  return DAEMON_SOCKET;
}

const app = {
  client: null,
  types: null, // protobuf types, once the server advertised the schema
  matchId: null,
  subscription: null,
  world: new World(),
  frozen: null, // the world as it was when the view was paused
  view: null,
  geometry: new Map(), // map name -> geometry (or a pending promise)
  lastPanels: 0,
  logFilters: { kill: true, item: false, chat: true, join: true, phase: true },
};
window.gametap = app; // for debugging from the console, and for the browser tests

async function ensureTypes() {
  if (app.types || app.client.channels.size === 0) return app.types;
  const channel = app.client.channels.values().next().value;
  const root = await schemaFromDescriptorSet(channel.schema);
  app.types = {
    WorldUpdate: root.lookupType(channel.schemaName),
    Player: root.lookupType("gametap.q3.v1.Player"),
    Entity: root.lookupType("gametap.q3.v1.Entity"),
  };
  return app.types;
}

// ---- the match list ----

async function refreshMatchList() {
  if (app.matchId) return;
  try {
    const response = await fetch(withToken("/api/matches"));
    if (response.status === 401) {
      $("match-rows").innerHTML = `<tr><td colspan="9" class="empty">This daemon needs a token: open the viewer as <code>/?token=TOKEN</code>.</td></tr>`;
      return;
    }
    const { matches } = await response.json();
    const rows = matches.map((m) => `
      <tr>
        <td><a href="#/match/${m.id}">${m.id}</a></td>
        <td><span class="status ${m.status}">${(m.status || "").toLowerCase()}</span></td>
        <td>${(m.config.clock || "").toLowerCase()}</td>
        <td>${escapeHtml(m.config.map)}</td>
        <td>${(m.config.gameType || "").replace("GAME_TYPE_", "").toLowerCase()}</td>
        <td class="num">${(m.config.bots || []).length}</td>
        <td class="num">${(m.agentClients || []).length}</td>
        <td class="num">${m.frame || 0}</td>
        <td class="num">${(m.framesPerSecond || 0).toFixed(0)}</td>
      </tr>`).join("");
    $("match-rows").innerHTML = rows || `<tr><td colspan="9" class="empty">No matches yet. Create one with <code>gametap create</code>.</td></tr>`;
  } catch {
    $("match-rows").innerHTML = `<tr><td colspan="9" class="empty">The daemon does not answer.</td></tr>`;
  }
}

// The game's frame rate as the daemon measures it (Match.frames_per_second), not one derived
// from the updates this page happens to receive.
async function refreshServerRate() {
  if (!app.matchId) return;
  try {
    const { matches } = await (await fetch(withToken("/api/matches"))).json();
    const m = matches.find((x) => x.id === app.matchId);
    if (m) $("fps").textContent = (m.framesPerSecond || 0).toFixed(m.framesPerSecond < 100 ? 1 : 0);
  } catch { /* the daemon does not answer: the connection state says so */ }
}

// ---- the match view ----

function openMatch(id) {
  closeMatch();
  connect(() => matchSocket(id));
  app.matchId = id;
  app.world = new World();
  app.frozen = null;
  $("list-page").hidden = true;
  $("match-page").hidden = false;
  $("match-id").textContent = id;
  $("notice").hidden = true;
  subscribe();
}

function closeMatch() {
  if (app.subscription !== null) app.client.unsubscribe(app.subscription);
  app.subscription = null;
  app.matchId = null;
  $("list-page").hidden = false;
  $("match-page").hidden = true;
}

async function subscribe() {
  if (!app.matchId || app.subscription !== null || app.client.state !== "connected") return;
  const channel = app.client.channelByTopic(`/matches/${app.matchId}/world`);
  if (!channel) {
    if (app.client.channels.size || app.client.serverInfo) showNotice(`The daemon has no match ${app.matchId} (any more).`);
    return;
  }
  await ensureTypes();
  $("notice").hidden = true;
  app.world = new World(); // a fresh keyframe comes first
  app.subscription = app.client.subscribe(channel.id);
}

function showNotice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
}

function onMessage({ detail }) {
  if (detail.subscription !== app.subscription || !app.types) return;
  const update = app.types.WorldUpdate.decode(detail.data);
  app.world.apply(update);
  const map = app.world.match && app.world.match.map;
  if (map && !app.geometry.has(map)) loadGeometry(map);
}

async function loadGeometry(name) {
  app.geometry.set(name, null);
  try {
    const response = await fetch(withToken(`/api/maps/${encodeURIComponent(name)}`));
    if (!response.ok) throw new Error(await response.text());
    const geometry = await response.json();
    app.geometry.set(name, geometry);
    app.view.setGeometry(geometry);
    $("maptitle").textContent = geometry.title || "";
  } catch (e) {
    app.geometry.delete(name);
    showNotice(`Cannot load the map ${name}: ${e.message}`);
  }
}

function shownWorld() {
  return app.frozen || app.world;
}

function togglePause() {
  app.frozen = app.frozen ? null : app.world.snapshot();
  $("pause").textContent = app.frozen ? "Resume" : "Pause";
  $("pause").classList.toggle("active", !!app.frozen);
}

function select(selection) {
  app.view.selected = selection;
  renderInspector(shownWorld(), selection, app.types);
}

function updateFollowOptions(world) {
  const sel = $("follow");
  const want = ["", ...[...world.players.values()].map((p) => `${p.client}`)];
  const have = [...sel.options].map((o) => o.value);
  if (want.join() === have.join()) return;
  const current = sel.value;
  sel.innerHTML = `<option value="">nobody</option>` + [...world.players.values()]
    .map((p) => `<option value="${p.client}">${escapeHtml(p.name)}</option>`).join("");
  sel.value = want.includes(current) ? current : "";
}

function frame(now) {
  requestAnimationFrame(frame);
  if (!app.matchId) return;
  const world = shownWorld();
  app.view.render(world);
  if (now - app.lastPanels > PANEL_INTERVAL_MS) {
    app.lastPanels = now;
    renderScoreboard(world, (client) => select({ kind: "player", id: client }));
    renderKillFeed(world);
    renderLog(world, app.logFilters);
    renderInspector(world, app.view.selected, app.types);
    renderStatus(world, !app.frozen);
    updateFollowOptions(world);
  }
}

// ---- wiring ----

function route() {
  const m = location.hash.match(/^#\/match\/([0-9a-f]{1,64})$/);
  if (m) openMatch(m[1]);
  else {
    closeMatch();
    refreshMatchList();
  }
}

function connect(url) {
  if (app.client) app.client.close();
  app.subscription = null;
  const client = new FoxgloveClient(url);
  client.addEventListener("state", (e) => {
    if (client !== app.client) return;
    setConnection(e.detail.state);
    if (e.detail.state !== "connected") app.subscription = null;
  });
  client.addEventListener("channels", () => client === app.client && subscribe());
  client.addEventListener("message", (e) => client === app.client && onMessage(e));
  client.addEventListener("status", (e) => console.warn("server status:", e.detail.message));
  app.client = client;
  setConnection(client.state);
}

function boot() {
  app.view = new MapView($("map"));
  app.view.addEventListener("select", (e) => select(e.detail));
  connect(DAEMON_SOCKET);
  $("pause").onclick = togglePause;
  $("fit").onclick = () => { app.view.follow = null; $("follow").value = ""; app.view.fit(); };
  $("follow").onchange = (e) => { app.view.follow = e.target.value === "" ? null : Number(e.target.value); };
  $("inspector-close").onclick = () => select(null);
  for (const box of document.querySelectorAll("#log-filters input")) {
    box.checked = app.logFilters[box.dataset.kind];
    box.onchange = () => { app.logFilters[box.dataset.kind] = box.checked; };
  }
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.key === " ") { e.preventDefault(); togglePause(); }
    if (e.key === "Escape") select(null);
  });
  window.addEventListener("hashchange", route);
  setInterval(refreshMatchList, 2000);
  setInterval(refreshServerRate, 1000);
  route();
  requestAnimationFrame(frame);
}

boot();
