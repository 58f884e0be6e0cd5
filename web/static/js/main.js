// The gametap viewer: a match list (#/) and a match view (#/match/<id>): live, or replayed from
// the match's recording with a timeline (scrub, speed, kills, back to live).

import { FoxgloveClient } from "./foxglove.js";
import { MapView } from "./mapview.js";
import { renderAgentActions, renderInspector, renderKillFeed, renderLog, renderScoreboard, renderStatus, setConnection } from "./panels.js";
import { Replay } from "./replay.js";
import { schemaFromDescriptorSet } from "./schema.js";
import { escapeHtml } from "./style.js";
import { drawRate, drawScores, eventsUpTo, nextKill, previousKill } from "./timeline.js";
import { World } from "./world.js";

const $ = (id) => document.getElementById(id);
const PANEL_INTERVAL_MS = 100;
const TIMELINE_REFRESH_MS = 2000;
const ENDED = ["FINISHED", "STOPPED", "FAILED"];
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
  info: null, // the match as /api/matches lists it
  replay: null, // a Replay while the view shows the recording, null while it is live
  timeline: null, // /api/matches/<id>/timeline, refreshed while the match runs
  rates: [], // the server's recent frame rates (live)
  lastTick: 0,
  lastTimeline: 0, // when the running match's timeline was last asked for (ms)
  scrubbing: false,
};
window.gametap = app; // for debugging from the console, and for the browser tests

async function ensureTypes() {
  if (app.types) return app.types;
  let channel = app.client.channels.size ? app.client.channels.values().next().value : null;
  if (!channel) channel = await (await fetch(withToken("/api/schema"))).json(); // no live match advertises it
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
      <tr data-match="${m.id}">
        <td><a href="#/match/${m.id}">${m.id}</a></td>
        <td><span class="status ${m.status}">${(m.status || "").toLowerCase()}</span>${m.archived ? ` <span class="dim">archived</span>` : ""}</td>
        <td>${(m.config.clock || "").toLowerCase()}</td>
        <td>${escapeHtml(m.config.map)}</td>
        <td>${(m.config.gameType || "").replace("GAME_TYPE_", "").toLowerCase()}</td>
        <td class="started">${m.startedUnixS ? new Date(m.startedUnixS * 1000).toLocaleString() : ""}</td>
        <td class="num duration">${duration(m)}</td>
        <td class="num">${(m.config.bots || []).length}</td>
        <td class="num">${(m.agentClients || []).length}</td>
        <td class="num">${m.frame || 0}</td>
        <td class="num">${ENDED.includes(m.status) ? "" : (m.framesPerSecond || 0).toFixed(0)}</td>
        <td class="scores">${(m.scores || []).slice(0, 4).map((p) => `${escapeHtml(p.name)} ${p.score || 0}`).join(", ")}</td>
      </tr>`).join("");
    $("match-rows").innerHTML = rows || `<tr><td colspan="12" class="empty">No matches yet. Create one with <code>gametap create</code>.</td></tr>`;
  } catch {
    $("match-rows").innerHTML = `<tr><td colspan="12" class="empty">The daemon does not answer.</td></tr>`;
  }
}

function duration(m) {
  if (!m.startedUnixS) return "";
  const s = Math.max(0, (m.endedUnixS || Date.now() / 1000) - m.startedUnixS);
  return `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, "0")}`;
}

// The game's frame rate as the daemon measures it (Match.frames_per_second), not one derived
// from the updates this page happens to receive.
async function refreshServerRate() {
  if (!app.matchId) return;
  try {
    const { matches } = await (await fetch(withToken("/api/matches"))).json();
    const m = matches.find((x) => x.id === app.matchId);
    app.info = m || null; // a daemon that no longer lists it has no timeline of it either
    if (!m) return;
    // The timeline is asked only of a daemon that has just listed the match: after a daemon
    // restart, a timer of its own would ask the new one about a match it never had (a 404).
    if (!ENDED.includes(m.status) && Date.now() - app.lastTimeline >= TIMELINE_REFRESH_MS) {
      app.lastTimeline = Date.now();
      refreshTimeline();
    }
    $("fps").textContent = (m.framesPerSecond || 0).toFixed(m.framesPerSecond < 100 ? 1 : 0);
    app.rates.push(m.framesPerSecond || 0);
    if (app.rates.length > 60) app.rates.shift();
  } catch { /* the daemon does not answer: the connection state says so */ }
}

// ---- the match view ----

async function openMatch(id) {
  closeMatch();
  connect(() => matchSocket(id));
  app.matchId = id;
  app.info = undefined; // not looked up yet: the socket's channels must not decide live or replay first
  app.world = new World();
  app.frozen = null;
  app.timeline = null;
  app.rates = [];
  $("list-page").hidden = true;
  $("match-page").hidden = false;
  $("match-id").textContent = id;
  $("notice").hidden = true;
  try {
    const { matches } = await (await fetch(withToken("/api/matches"))).json();
    app.info = matches.find((m) => m.id === id) || null;
  } catch { app.info = null; }
  await refreshTimeline();
  if (app.info && ENDED.includes(app.info.status)) await startReplay(app.timeline ? app.timeline.first_frame : 1);
  else subscribe();
}

async function refreshTimeline() {
  if (!app.matchId || !app.info) return; // a match the daemon does not know has no recording to read
  try {
    const response = await fetch(withToken(`/api/matches/${app.matchId}/timeline`));
    if (response.ok) app.timeline = await response.json();
  } catch { /* no recording (yet): the timeline stays as it was */ }
  const problem = app.timeline && app.timeline.problem; // a damaged recording: it replays to the damage
  if (problem) showNotice(`The recording is damaged: ${problem}. ` + (app.timeline.last_frame
    ? `It replays to frame ${app.timeline.last_frame}.` : "Nothing of it can be replayed."));
}

// ---- replay ----

async function startReplay(frame) {
  const types = await ensureTypes();
  if (app.subscription !== null) app.client.unsubscribe(app.subscription);
  app.subscription = null;
  if (!app.replay) {
    const fps = (app.info && app.info.config.serverFps) || 20;
    app.replay = new Replay(app.matchId, (bytes) => types.WorldUpdate.decode(bytes), withToken, fps);
    app.replay.speed = Number($("tl-speed").value);
  }
  await app.replay.seek(frame);
  const map = app.replay.world.match && app.replay.world.match.map;
  if (map && !app.geometry.has(map)) loadGeometry(map);
}

async function seek(frame) {
  if (frame === null || frame === undefined) return;
  await startReplay(frame);
}

function backToLive() {
  if (!app.replay || !app.info || ENDED.includes(app.info.status)) return;
  app.replay = null;
  app.world = new World();
  subscribe();
}

function togglePlay() {
  if (app.replay) {
    app.replay.playing = !app.replay.playing;
    if (app.replay.playing && app.replay.end && !app.replay.queue.length) seek(app.timeline ? app.timeline.first_frame : 1);
  } else togglePause();
}

function renderTimeline(world) {
  const t = app.timeline;
  const slider = $("tl-slider");
  const last = app.replay ? (t ? t.last_frame : world.frame) : Math.max(world.frame, t ? t.last_frame : 0);
  slider.min = t ? t.first_frame : 1;
  slider.max = Math.max(Number(slider.min), last);
  if (!app.scrubbing) slider.value = world.frame;
  const live = !app.replay;
  $("tl-play").textContent = (live ? !app.frozen : app.replay.playing) ? "Pause" : "Play";
  $("tl-live").hidden = !app.info || ENDED.includes(app.info.status);
  $("tl-live").classList.toggle("active", live);
  $("tl-mode").textContent = live ? "live" : `replay ${app.replay.speed}x`;
  $("tl-prev-kill").disabled = !t || previousKill(t, world.frame) === null;
  $("tl-next-kill").disabled = !t || nextKill(t, world.frame) === null;
}

function logEntries(world) {
  if (!app.timeline) return world.log;
  const entries = eventsUpTo(app.timeline, world.frame);
  if (!app.replay) entries.push(...world.log.filter((e) => e.frame > app.timeline.last_frame)); // newer than the timeline
  return entries;
}

function closeMatch() {
  if (app.subscription !== null) app.client.unsubscribe(app.subscription);
  app.subscription = null;
  app.matchId = null;
  app.replay = null;
  $("list-page").hidden = false;
  $("match-page").hidden = true;
}

async function subscribe() {
  if (!app.matchId || app.replay || app.subscription !== null || app.client.state !== "connected") return;
  if (app.info === undefined || (app.info && ENDED.includes(app.info.status))) return; // openMatch decides; ended: a replay
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
  if (detail.subscription !== app.subscription || !app.types || app.replay) return;
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
  return app.replay ? app.replay.world : app.frozen || app.world;
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

/** Agents' debugging: with an agent's slot selected, the players and entities outside what its
 * player could see (its PVS view, Player.sees) are dimmed on the map. */
function outOfView(world) {
  const s = app.view.selected;
  const agent = s && s.kind === "player" ? world.players.get(s.id) : null;
  if (!agent || agent.controller !== 2 || !agent.sees || !agent.sees.length) return null;
  const sees = new Set(agent.sees);
  sees.add(agent.client);
  const out = new Set();
  for (const c of world.players.keys()) if (!sees.has(c)) out.add(c);
  for (const n of world.entities.keys()) if (!sees.has(n)) out.add(n);
  return out;
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
  const dt = app.lastTick ? Math.min(0.25, (now - app.lastTick) / 1000) : 0;
  app.lastTick = now;
  if (!app.matchId) return;
  if (app.replay) app.replay.tick(dt);
  const world = shownWorld();
  app.view.dimmed = outOfView(world);
  app.view.render(world);
  if (now - app.lastPanels > PANEL_INTERVAL_MS) {
    app.lastPanels = now;
    renderScoreboard(world, (client) => select({ kind: "player", id: client }));
    renderKillFeed(world);
    renderLog(logEntries(world), world, app.logFilters);
    renderInspector(world, app.view.selected, app.types);
    renderAgentActions(world, app.view.selected);
    renderStatus(world, app.replay ? app.replay.playing : !app.frozen);
    renderTimeline(world);
    updateFollowOptions(world);
    const selected = app.view.selected && app.view.selected.kind === "player" ? app.view.selected.id : null;
    if (app.timeline) drawScores($("score-plot"), app.timeline, world.frame, selected);
    drawRate($("rate-plot"), app.replay ? [] : app.rates);
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
  $("tl-play").onclick = togglePlay;
  $("tl-live").onclick = backToLive;
  $("tl-speed").onchange = (e) => { if (app.replay) app.replay.speed = Number(e.target.value); };
  $("tl-prev-kill").onclick = () => app.timeline && seek(previousKill(app.timeline, shownWorld().frame));
  $("tl-next-kill").onclick = () => app.timeline && seek(nextKill(app.timeline, shownWorld().frame));
  $("tl-slider").oninput = () => { app.scrubbing = true; };
  $("tl-slider").onchange = async (e) => { await seek(Number(e.target.value)); app.scrubbing = false; };
  $("fit").onclick = () => { app.view.follow = null; $("follow").value = ""; app.view.fit(); };
  $("follow").onchange = (e) => { app.view.follow = e.target.value === "" ? null : Number(e.target.value); };
  $("inspector-close").onclick = () => select(null);
  for (const box of document.querySelectorAll("#log-filters input")) {
    box.checked = app.logFilters[box.dataset.kind];
    box.onchange = () => { app.logFilters[box.dataset.kind] = box.checked; };
  }
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.key === " ") { e.preventDefault(); togglePlay(); }
    if (e.key === "Escape") select(null);
  });
  window.addEventListener("hashchange", route);
  setInterval(refreshMatchList, 2000);
  setInterval(refreshServerRate, 1000);
  route();
  requestAnimationFrame(frame);
}

boot();
