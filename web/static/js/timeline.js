// The match's timeline (/api/matches/<id>/timeline): kills to jump between, the whole match's
// event log, and the plots of scores over time (and, live, of the server's frame rate).

import { colorOf } from "./style.js";

/** The first kill after `frame` (or null), and the last one before it. */
export function nextKill(timeline, frame) {
  return timeline.kills.find((f) => f > frame) ?? null;
}

export function previousKill(timeline, frame) {
  const before = timeline.kills.filter((f) => f < frame);
  return before.length ? before[before.length - 1] : null;
}

/** The timeline's events up to `frame`, as the event log takes them ({frame, timeMs, event}). */
export function eventsUpTo(timeline, frame) {
  const out = [];
  for (const e of timeline.events) {
    if (e.frame > frame) break;
    out.push({ frame: e.frame, timeMs: e.time_ms, event: e.event });
  }
  return out;
}

/** Each player's score over the match, a line each, with the shown frame marked; the
 * selected player's line drawn thicker (an agent's reward over time). */
export function drawScores(canvas, timeline, frame, selected) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 4;
  ctx.clearRect(0, 0, w, h);
  const frames = timeline.score_frames;
  if (frames.length < 2) return;
  const scores = timeline.players.flatMap((p) => p.scores.filter((s) => s !== null));
  const lo = Math.min(0, ...scores), hi = Math.max(1, ...scores);
  const x = (f) => pad + (w - 2 * pad) * (f - frames[0]) / Math.max(1, frames[frames.length - 1] - frames[0]);
  const y = (s) => h - pad - (h - 2 * pad) * (s - lo) / (hi - lo);
  for (const p of timeline.players) {
    ctx.strokeStyle = colorOf(p);
    ctx.lineWidth = p.client === selected ? 3 : 1.25;
    ctx.beginPath();
    let drawing = false;
    p.scores.forEach((s, i) => {
      if (s === null) { drawing = false; return; }
      if (drawing) ctx.lineTo(x(frames[i]), y(s));
      else ctx.moveTo(x(frames[i]), y(s));
      drawing = true;
    });
    ctx.stroke();
  }
  ctx.strokeStyle = "rgba(255,255,255,0.6)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(x(frame), 0);
  ctx.lineTo(x(frame), h);
  ctx.stroke();
}

/** The last samples of the server's frame rate, as a sparkline. */
export function drawRate(canvas, samples) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  if (samples.length < 2) return;
  const hi = Math.max(1, ...samples);
  ctx.strokeStyle = "#6ee7b7";
  ctx.beginPath();
  samples.forEach((v, i) => {
    const px = (w * i) / (samples.length - 1), py = h - 2 - (h - 4) * v / hi;
    if (i) ctx.lineTo(px, py);
    else ctx.moveTo(px, py);
  });
  ctx.stroke();
}
