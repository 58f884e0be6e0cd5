// A match's world kept current from WorldUpdates (keyframe, then deltas), plus what a
// viewer remembers of it: recent kills, an event log, and the server's frame rate.

const MAX_LOG = 300;

export class World {
  constructor() {
    this.reset();
  }

  reset() {
    this.frame = 0;
    this.levelTimeMs = 0;
    this.match = null;
    this.players = new Map();
    this.entities = new Map();
    this.events = [];
    this.log = []; // {frame, timeMs, event}
    this.kills = []; // {wallTime, kill}
    this.hasState = false;
  }

  apply(update) {
    if (update.keyframe) this._keyframe(update.keyframe);
    else if (update.delta) this._delta(update.delta);
  }

  _keyframe(s) {
    this.frame = Number(s.frame);
    this.levelTimeMs = s.level_time_ms;
    this.match = s.match;
    this.players = new Map(s.players.map((p) => [p.client, p]));
    this.entities = new Map(s.entities.map((e) => [e.number, e]));
    this.events = s.events;
    this.hasState = true;
    this._remember(s.events);
  }

  _delta(d) {
    if (!this.hasState) return; // wait for a keyframe
    const base = Number(d.base_frame) || Number(d.frame) - 1;
    if (base !== this.frame) {
      this.hasState = false; // out of step: the server resyncs us with a keyframe
      return;
    }
    this.frame = Number(d.frame);
    this.levelTimeMs = d.level_time_ms;
    if (d.match) this.match = d.match;
    for (const c of d.removed_players) this.players.delete(c);
    for (const n of d.removed_entities) this.entities.delete(n);
    for (const p of d.players) this.players.set(p.client, p);
    for (const e of d.entities) this.entities.set(e.number, e);
    this.events = d.events;
    this._remember(d.events);
  }

  _remember(events) {
    const now = performance.now();
    for (const event of events) {
      this.log.push({ frame: this.frame, timeMs: this.levelTimeMs, event });
      if (event.kill) this.kills.push({ wallTime: now, kill: event.kill });
    }
    if (this.log.length > MAX_LOG) this.log.splice(0, this.log.length - MAX_LOG);
    if (this.kills.length > 20) this.kills.splice(0, this.kills.length - 20);
  }

  /** A frozen view for a paused display (records are replaced, never changed, by updates). */
  snapshot() {
    const copy = Object.create(World.prototype);
    Object.assign(copy, this, { players: new Map(this.players), entities: new Map(this.entities),
                                log: this.log.slice(), kills: this.kills.slice() });
    return copy;
  }
}
