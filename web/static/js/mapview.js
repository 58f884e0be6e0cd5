// The map view: the map's top-down drawing (from /api/maps/<name>) with the live players,
// projectiles and items over it. Pan with the mouse, zoom with the wheel, follow a player,
// click anything to inspect it.

import { colorOf, itemColor, WEAPON_SHORT } from "./style.js";

const PLAYER_RADIUS = 18; // game units (a player's box is 30 units wide)
const DIM_ALPHA = 0.15; // what an agent does not see, when its slot is selected

export class MapView extends EventTarget {
  constructor(canvas) {
    super();
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.geometry = null;
    this.mapLayer = null; // offscreen canvas of the map at the current scale
    this.center = { x: 0, y: 0 };
    this.scale = 0.5; // pixels per game unit
    this.follow = null; // client to keep centered
    this.selected = null; // {kind: "player"|"entity", id}
    this.dimmed = null; // Set of client and entity numbers drawn faint (outside an agent's view), or null
    this.world = null;
    this.needsFit = true;
    this._bindInput();
    new ResizeObserver(() => this._resize()).observe(canvas);
    this._resize();
  }

  setGeometry(geometry) {
    this.geometry = geometry;
    this.mapLayer = null;
    this.needsFit = true;
  }

  fit() {
    const g = this.geometry;
    if (!g) return;
    const [x0, y0] = g.bounds.min;
    const [x1, y1] = g.bounds.max;
    this.center = { x: (x0 + x1) / 2, y: (y0 + y1) / 2 };
    this.scale = 0.92 * Math.min(this.width / (x1 - x0), this.height / (y1 - y0));
    this.mapLayer = null;
    this.needsFit = false;
  }

  // ---- coordinates ----

  toScreen(x, y) {
    return [(x - this.center.x) * this.scale + this.width / 2, this.height / 2 - (y - this.center.y) * this.scale];
  }

  toWorld(sx, sy) {
    return [(sx - this.width / 2) / this.scale + this.center.x, (this.height / 2 - sy) / this.scale + this.center.y];
  }

  /** Where a player is drawn, in CSS pixels relative to the canvas (for tests and tools). */
  screenPositionOf(client) {
    const p = this.world && this.world.players.get(client);
    if (!p || !p.origin) return null;
    const [x, y] = this.toScreen(p.origin.x, p.origin.y);
    return { x, y };
  }

  // ---- input ----

  _bindInput() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener("mousedown", (e) => {
      drag = { x: e.offsetX, y: e.offsetY, moved: false };
    });
    window.addEventListener("mouseup", (e) => {
      if (drag && !drag.moved && e.target === c) this._click(e.offsetX, e.offsetY);
      drag = null;
    });
    c.addEventListener("mousemove", (e) => {
      if (!drag) return;
      const dx = e.offsetX - drag.x;
      const dy = e.offsetY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.moved) {
        this.follow = null;
        this.center.x -= dx / this.scale;
        this.center.y += dy / this.scale;
        drag.x = e.offsetX;
        drag.y = e.offsetY;
        this.dispatchEvent(new CustomEvent("camera"));
      }
    });
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [wx, wy] = this.toWorld(e.offsetX, e.offsetY);
      this.scale = Math.min(8, Math.max(0.02, this.scale * Math.exp(-e.deltaY * 0.0015)));
      if (!this.follow) { // keep the point under the cursor in place
        const [nx, ny] = this.toWorld(e.offsetX, e.offsetY);
        this.center.x += wx - nx;
        this.center.y += wy - ny;
      }
      this.mapLayer = null;
    }, { passive: false });
  }

  _click(sx, sy) {
    const hit = this.hitTest(sx, sy);
    this.selected = hit;
    this.dispatchEvent(new CustomEvent("select", { detail: hit }));
  }

  hitTest(sx, sy) {
    if (!this.world) return null;
    let best = null;
    let bestDist = Infinity;
    const consider = (kind, id, x, y, radiusPx) => {
      const [px, py] = this.toScreen(x, y);
      const d = Math.hypot(px - sx, py - sy);
      if (d <= radiusPx && d < bestDist) {
        best = { kind, id };
        bestDist = d;
      }
    };
    for (const p of this.world.players.values()) {
      if (p.origin) consider("player", p.client, p.origin.x, p.origin.y, Math.max(10, PLAYER_RADIUS * this.scale + 4));
    }
    if (!best) {
      for (const e of this.world.entities.values()) {
        if (e.origin && e.type !== 14) consider("entity", e.number, e.origin.x, e.origin.y, 9);
      }
    }
    return best;
  }

  // ---- drawing ----

  _resize() {
    const dpr = window.devicePixelRatio || 1;
    this.width = this.canvas.clientWidth;
    this.height = this.canvas.clientHeight;
    this.canvas.width = Math.round(this.width * dpr);
    this.canvas.height = Math.round(this.height * dpr);
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.mapLayer = null;
    if (this.geometry && this.needsFit) this.fit();
  }

  /** The map, drawn once per scale onto an offscreen canvas covering the whole map. */
  _buildMapLayer() {
    const g = this.geometry;
    const [x0, y0] = g.bounds.min;
    const [x1, y1] = g.bounds.max;
    const [z0, z1] = [g.bounds.min[2], g.bounds.max[2]];
    const dpr = window.devicePixelRatio || 1;
    const pad = 40;
    const w = Math.min(8192, Math.ceil((x1 - x0) * this.scale * dpr) + 2 * pad);
    const h = Math.min(8192, Math.ceil((y1 - y0) * this.scale * dpr) + 2 * pad);
    const layer = new OffscreenCanvas(w, h);
    const ctx = layer.getContext("2d");
    const k = ((w - 2 * pad) / (x1 - x0));
    const tx = (x) => pad + (x - x0) * k;
    const ty = (y) => h - pad - (y - y0) * k;
    const xy = g.floors.xy;
    const z = g.floors.z;
    ctx.lineJoin = "round";
    for (let i = 0; i < z.length; i++) {
      const t = Math.max(0, Math.min(1, (z[i] - z0) / Math.max(1, z1 - z0)));
      const color = `hsl(${212 - 40 * t}, ${28 + 18 * t}%, ${15 + 30 * t}%)`;
      ctx.fillStyle = color;
      ctx.strokeStyle = color; // hides the seams between neighbouring triangles
      ctx.lineWidth = 1;
      const j = i * 6;
      ctx.beginPath();
      ctx.moveTo(tx(xy[j]), ty(xy[j + 1]));
      ctx.lineTo(tx(xy[j + 2]), ty(xy[j + 3]));
      ctx.lineTo(tx(xy[j + 4]), ty(xy[j + 5]));
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
    }
    ctx.strokeStyle = "rgba(200, 220, 255, 0.55)";
    ctx.lineWidth = Math.max(1, 1.2 * dpr);
    ctx.beginPath();
    const walls = g.walls;
    for (let i = 0; i < walls.length; i += 4) {
      ctx.moveTo(tx(walls[i]), ty(walls[i + 1]));
      ctx.lineTo(tx(walls[i + 2]), ty(walls[i + 3]));
    }
    ctx.stroke();
    ctx.fillStyle = "rgba(120, 255, 170, 0.45)";
    for (const s of g.spawns) {
      const [sx, sy] = [tx(s.origin[0]), ty(s.origin[1])];
      ctx.beginPath();
      ctx.moveTo(sx, sy - 5 * dpr); ctx.lineTo(sx + 5 * dpr, sy); ctx.lineTo(sx, sy + 5 * dpr); ctx.lineTo(sx - 5 * dpr, sy);
      ctx.fill();
    }
    this.mapLayer = { canvas: layer, x0, y1, pad, k, dpr };
  }

  render(world) {
    this.world = world;
    const ctx = this.ctx;
    ctx.fillStyle = "#0b0f17";
    ctx.fillRect(0, 0, this.width, this.height);
    if (this.follow !== null && world.players.has(this.follow)) {
      const p = world.players.get(this.follow);
      if (p.origin) this.center = { x: p.origin.x, y: p.origin.y };
    }
    if (this.geometry) {
      if (this.needsFit) this.fit();
      if (!this.mapLayer) this._buildMapLayer();
      const m = this.mapLayer;
      const [sx, sy] = this.toScreen(m.x0, m.y1);
      const s = 1 / (m.k / this.scale);
      ctx.drawImage(m.canvas, sx - m.pad * s, sy - m.pad * s, m.canvas.width * s, m.canvas.height * s);
    }
    this._drawEntities(world);
    this._drawPlayers(world);
  }

  _drawEntities(world) {
    const ctx = this.ctx;
    const r = Math.max(3, 9 * this.scale);
    for (const e of world.entities.values()) {
      if (!e.origin) continue;
      const [x, y] = this.toScreen(e.origin.x, e.origin.y);
      if (x < -20 || y < -20 || x > this.width + 20 || y > this.height + 20) continue;
      const selected = this.selected && this.selected.kind === "entity" && this.selected.id === e.number;
      ctx.save();
      if (this.dimmed && this.dimmed.has(e.number)) ctx.globalAlpha = DIM_ALPHA; // the drawing multiplies it
      if (e.type === 3) this._drawItem(e, x, y, r, selected, ctx.globalAlpha);
      else if (e.type === 4) this._drawMissile(e, x, y);
      else if (e.type === 2) this._drawCorpse(x, y, r);
      if (selected) this._ring(x, y, r + 6, "#fff");
      ctx.restore();
    }
  }

  _drawItem(e, x, y, r, selected, alpha = 1) {
    const ctx = this.ctx;
    const color = itemColor(e);
    ctx.globalAlpha = (e.hidden ? 0.35 : 1) * alpha;
    if (e.item.includes("flag")) {
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.moveTo(x - r * 0.6, y + r); ctx.lineTo(x - r * 0.6, y - r); ctx.lineTo(x + r, y - r * 0.4); ctx.lineTo(x - r * 0.6, y + r * 0.2);
      ctx.fill();
    } else {
      ctx.fillStyle = e.hidden ? "transparent" : color;
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      const s = e.item.startsWith("weapon_") || e.item.startsWith("item_quad") ? r : r * 0.75;
      ctx.beginPath();
      ctx.roundRect(x - s / 2, y - s / 2, s, s, s / 4);
      ctx.fill();
      ctx.stroke();
    }
    ctx.globalAlpha = alpha;
  }

  _drawMissile(e, x, y) {
    const ctx = this.ctx;
    const v = e.velocity || { x: 0, y: 0 };
    const speed = Math.hypot(v.x, v.y) || 1;
    const tail = Math.min(40, 0.06 * speed * this.scale + 6);
    ctx.strokeStyle = "rgba(255, 200, 120, 0.8)";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x - (v.x / speed) * tail, y + (v.y / speed) * tail);
    ctx.stroke();
    ctx.fillStyle = "#ffe8a0";
    ctx.beginPath();
    ctx.arc(x, y, 3, 0, Math.PI * 2);
    ctx.fill();
  }

  _drawCorpse(x, y, r) {
    const ctx = this.ctx;
    ctx.strokeStyle = "rgba(160, 160, 170, 0.45)";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x - r / 2, y - r / 2); ctx.lineTo(x + r / 2, y + r / 2);
    ctx.moveTo(x + r / 2, y - r / 2); ctx.lineTo(x - r / 2, y + r / 2);
    ctx.stroke();
  }

  _ring(x, y, r, color) {
    const ctx = this.ctx;
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.arc(x, y, r, 0, Math.PI * 2);
    ctx.stroke();
    ctx.setLineDash([]);
  }

  _drawPlayers(world) {
    const ctx = this.ctx;
    const r = Math.max(6, PLAYER_RADIUS * this.scale);
    const players = [...world.players.values()].sort((a, b) => (a.alive === b.alive ? 0 : a.alive ? 1 : -1));
    for (const p of players) {
      if (!p.origin || p.team === 4) continue; // spectators have no place on the map
      const [x, y] = this.toScreen(p.origin.x, p.origin.y);
      const color = colorOf(p);
      const yaw = ((p.view_angles && p.view_angles.y) || 0) * Math.PI / 180;
      const seen = this.dimmed && this.dimmed.has(p.client) ? DIM_ALPHA : 1;
      ctx.globalAlpha = (p.alive ? 1 : 0.35) * seen;
      // facing wedge
      ctx.fillStyle = color;
      ctx.globalAlpha *= 0.35;
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.arc(x, y, r * 2.6, -yaw - 0.4, -yaw + 0.4);
      ctx.closePath();
      ctx.fill();
      ctx.globalAlpha = (p.alive ? 1 : 0.35) * seen;
      // body
      ctx.beginPath();
      ctx.arc(x, y, r, 0, Math.PI * 2);
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = p.controller === 2 ? "#ffffff" : "rgba(0,0,0,0.6)";
      if (p.controller === 2) ctx.setLineDash([3, 2]); // agents: a dashed white ring
      ctx.stroke();
      ctx.setLineDash([]);
      // heading tick
      ctx.strokeStyle = "rgba(255,255,255,0.9)";
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + Math.cos(yaw) * r * 1.5, y - Math.sin(yaw) * r * 1.5);
      ctx.stroke();
      if (p.powerups && p.powerups.some((w) => w === 7 || w === 8 || w === 9)) { // carrying a flag
        ctx.fillStyle = p.powerups.includes(7) ? "#ff4d4d" : p.powerups.includes(8) ? "#4d8dff" : "#ffffff";
        ctx.fillRect(x + r * 0.7, y - r * 1.9, r * 0.9, r * 0.6);
      }
      this._label(p, x, y, r);
      ctx.globalAlpha = 1;
      if (this.selected && this.selected.kind === "player" && this.selected.id === p.client) this._ring(x, y, r + 7, "#fff");
    }
  }

  _label(p, x, y, r) {
    const ctx = this.ctx;
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillStyle = "#e8eefc";
    ctx.strokeStyle = "rgba(5,8,14,0.85)";
    ctx.lineWidth = 3;
    const name = p.alive ? p.name : `${p.name} ✝`;
    ctx.strokeText(name, x, y - r - 16);
    ctx.fillText(name, x, y - r - 16);
    // health and armor bars
    const w = 34;
    const hx = x - w / 2;
    const hy = y - r - 12;
    ctx.fillStyle = "rgba(0,0,0,0.6)";
    ctx.fillRect(hx - 1, hy - 1, w + 2, 8);
    const health = Math.max(0, Math.min(1, (p.health || 0) / 100));
    ctx.fillStyle = health > 0.5 ? "#3ddc84" : health > 0.25 ? "#ffc940" : "#ff5a5a";
    ctx.fillRect(hx, hy, w * Math.min(1, health), 3);
    ctx.fillStyle = "#5aa9ff";
    ctx.fillRect(hx, hy + 4, w * Math.max(0, Math.min(1, (p.armor || 0) / 100)), 2);
    // weapon
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillStyle = "#9fb0cf";
    ctx.fillText(WEAPON_SHORT[p.weapon] || "", x, y + r + 12);
  }
}
