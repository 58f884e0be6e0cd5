// The side panels: scoreboard, kill feed, event log, inspector, and the status bar.

import { colorOf, escapeHtml, gameTime, MOD_SHORT, WEAPON_SHORT } from "./style.js";

const $ = (id) => document.getElementById(id);
const CONTROLLER = { 1: "bot", 2: "agent", 3: "human" };

export function renderScoreboard(world, onPick) {
  const players = [...world.players.values()].sort((a, b) => (b.score || 0) - (a.score || 0) || a.client - b.client);
  const m = world.match;
  const teamGame = m && m.game_type >= 4 && m.game_type !== 11;
  $("team-scores").innerHTML = teamGame
    ? `<span class="team red">Red ${m.red_score || 0}</span><span class="team blue">Blue ${m.blue_score || 0}</span>`
    : "";
  const rows = players.map((p) => `
    <tr data-client="${p.client}" class="${p.alive ? "" : "dead"}">
      <td><span class="dot" style="background:${colorOf(p)}"></span></td>
      <td class="name">${escapeHtml(p.name)}</td>
      <td class="ctl ${CONTROLLER[p.controller] || ""}">${CONTROLLER[p.controller] || ""}</td>
      <td class="num score">${p.score || 0}</td>
      <td class="num">${p.deaths || 0}</td>
      <td class="num dim">${p.controller === 3 ? p.ping_ms || 0 : ""}</td>
    </tr>`).join("");
  const body = $("scoreboard-body");
  if (body.dataset.html !== rows) {
    body.innerHTML = rows;
    body.dataset.html = rows;
    for (const tr of body.querySelectorAll("tr")) tr.onclick = () => onPick(Number(tr.dataset.client));
  }
}

export function renderKillFeed(world) {
  const now = performance.now();
  const name = (c) => (c < 0 ? "the world" : (world.players.get(c) || { name: `#${c}` }).name);
  const html = world.kills.filter((k) => now - k.wallTime < 10000).slice(-6).reverse().map(({ kill, wallTime }) => {
    const self = kill.attacker === kill.victim || kill.attacker < 0;
    const fade = Math.max(0.25, 1 - (now - wallTime) / 10000);
    return `<div class="kill" style="opacity:${fade.toFixed(2)}">${self ? "" : `<b>${escapeHtml(name(kill.attacker))}</b> `}
      <span class="mod">${MOD_SHORT[kill.means_of_death] || "?"}</span> <b>${escapeHtml(name(kill.victim))}</b></div>`;
  }).join("");
  const feed = $("killfeed");
  if (feed.dataset.html !== html) {
    feed.innerHTML = html;
    feed.dataset.html = html;
  }
}

function describe(event, world) {
  const name = (c) => escapeHtml(c < 0 ? "the world" : (world.players.get(c) || { name: `#${c}` }).name);
  if (event.kill) {
    const k = event.kill;
    if (k.attacker === k.victim) return ["kill", `${name(k.victim)} killed themself (${MOD_SHORT[k.means_of_death]})`];
    return ["kill", `${name(k.attacker)} fragged ${name(k.victim)} (${MOD_SHORT[k.means_of_death]})`];
  }
  if (event.item_pickup) return ["item", `${name(event.item_pickup.client)} took ${escapeHtml(event.item_pickup.item)}`];
  if (event.chat) return ["chat", `${escapeHtml(event.chat.name)}: ${escapeHtml(event.chat.text)}`];
  if (event.join) return ["join", `${name(event.join.client)} joined`];
  if (event.leave) return ["join", `player #${event.leave.client} left`];
  if (event.phase_change) {
    const phase = ["", "warmup", "playing", "intermission"][event.phase_change.phase] || "?";
    return ["phase", `match phase: ${phase}${event.phase_change.reason ? ` (${escapeHtml(event.phase_change.reason)})` : ""}`];
  }
  return ["other", "?"];
}

/** history: [{frame, timeMs, event}] in frame order (the whole match's, from the timeline). */
export function renderLog(history, world, filters) {
  const entries = [];
  for (let i = history.length - 1; i >= 0 && entries.length < 80; i--) {
    const { event, timeMs } = history[i];
    const [kind, text] = describe(event, world);
    if (filters[kind] === false) continue;
    entries.push(`<div class="log ${kind}"><span class="t">${gameTime(timeMs)}</span>${text}</div>`);
  }
  const html = entries.join("");
  const log = $("eventlog");
  if (log.dataset.html !== html) {
    log.innerHTML = html;
    log.dataset.html = html;
  }
}

function fieldRows(obj, prefix = "") {
  const rows = [];
  for (const [key, value] of Object.entries(obj)) {
    const label = prefix + key;
    if (value && typeof value === "object" && !Array.isArray(value)) {
      if ("x" in value && "y" in value) {
        rows.push([label, `${value.x?.toFixed?.(1) ?? value.x}, ${value.y?.toFixed?.(1) ?? value.y}, ${value.z?.toFixed?.(1) ?? value.z}`]);
      } else rows.push(...fieldRows(value, label + "."));
    } else if (Array.isArray(value)) {
      rows.push([label, value.length ? value.join(", ") : "—"]);
    } else rows.push([label, value]);
  }
  return rows;
}

export function renderInspector(world, selection, types) {
  const panel = $("inspector");
  if (!selection) {
    panel.hidden = true;
    return;
  }
  const record = selection.kind === "player" ? world.players.get(selection.id) : world.entities.get(selection.id);
  panel.hidden = false;
  const title = selection.kind === "player" ? `Player ${selection.id}` : `Entity ${selection.id}`;
  if (!record) {
    $("inspector-title").textContent = `${title} (gone)`;
    $("inspector-body").innerHTML = "";
    return;
  }
  const type = selection.kind === "player" ? types.Player : types.Entity;
  const all = type.toObject(record, { enums: String, defaults: true, longs: Number });
  const obj = Object.fromEntries(type.fieldsArray.map((f) => [f.name, all[f.name]])); // in .proto order
  const rows = fieldRows(obj).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join("");
  $("inspector-title").textContent = selection.kind === "player" ? `${record.name} (client ${record.client})` : title;
  $("inspector-body").innerHTML = rows;
}

const ACTION_ROWS = [
  ["forward", (c) => c.forward || 0], ["right", (c) => c.right || 0], ["up", (c) => c.up || 0],
  ["attack", (c) => ((c.buttons || 0) & 1 ? "yes" : "no")], ["weapon", (c) => WEAPON_SHORT[c.weapon || 0] || c.weapon || "—"],
  ["yaw °", (c) => degrees(c.yaw)], ["pitch °", (c) => degrees(c.pitch)],
];

function degrees(units) {
  const d = ((units || 0) * 360) / 65536;
  return (d > 180 ? d - 360 : d).toFixed(1);
}

/** An agent's slot: the command it sent (as the game applied it) beside its teacher's, the
 * bot AI's choice for the same frame. */
export function renderAgentActions(world, selection) {
  const table = $("agent-actions");
  const p = selection && selection.kind === "player" ? world.players.get(selection.id) : null;
  if (!p || p.controller !== 2) {
    table.hidden = true;
    return;
  }
  const sent = p.command || {}, teacher = p.teacher || null;
  const rows = ACTION_ROWS.map(([name, value]) =>
    `<tr data-field="${name}"><th>${name}</th><td class="sent">${value(sent)}</td><td class="teacher">${teacher ? value(teacher) : "—"}</td></tr>`);
  const html = `<tr><th></th><th>sent</th><th>teacher</th></tr>${rows.join("")}` +
    `<tr><th>sees</th><td colspan="2">${p.sees && p.sees.length ? `${p.sees.length} players and entities` : "everything (FULL)"}</td></tr>`;
  if (table.dataset.html !== html) {
    table.innerHTML = html;
    table.dataset.html = html;
  }
  table.hidden = false;
}

export function renderStatus(world, live) {
  const m = world.match || {};
  $("frame").textContent = world.frame;
  $("gametime").textContent = gameTime(world.levelTimeMs);
  $("mapname").textContent = m.map || "—";
  const phase = ["", "warmup", "playing", "intermission"][m.phase || 0] || "";
  $("phase").textContent = phase;
  $("paused-badge").hidden = live;
}

export function setConnection(state) {
  const el = $("connection");
  el.dataset.state = state;
  el.textContent = { connecting: "connecting…", connected: "live", disconnected: "disconnected" }[state] || state;
}
