// Replaying a recorded match: the daemon's recorded updates (/api/matches/<id>/updates), fetched
// in chunks and played at a chosen speed of game time. A seek starts from the state at that
// frame (the chunk's keyframe); the next chunk is fetched before the current one runs out.

import { World } from "./world.js";

const CHUNK_FRAMES = 2000;
const PREFETCH_FRAMES = 400;

export class Replay {
  /** decode(bytes) -> WorldUpdate; url(path) -> the path with the viewer's token. */
  constructor(matchId, decode, url, framesPerSecond = 20) {
    this.matchId = matchId;
    this.decode = decode;
    this.url = url;
    this.fps = framesPerSecond; // frames per second of game time at 1x
    this.world = new World();
    this.queue = []; // decoded deltas not applied yet, in frame order
    this.playing = false;
    this.speed = 1;
    this.clock = 0; // the frame playback has reached (fractional)
    this.end = false; // the recording has no frame after the queue's last
    this.loading = null;
    this.generation = 0; // bumps on every seek: a chunk fetched for an earlier seek is dropped
  }

  async seek(frame) {
    const generation = ++this.generation;
    const updates = await this._fetch(frame);
    if (generation !== this.generation) return;
    this.world = new World();
    this.queue = [];
    this.end = false;
    this._take(updates);
    this.clock = this.world.frame;
  }

  /** Advances playback by dt seconds of wall time. */
  tick(dt) {
    if (this.playing && this.world.hasState) this.clock += dt * this.fps * this.speed;
    while (this.queue.length && frameOf(this.queue[0]) <= this.clock) this.world.apply(this.queue.shift());
    if (!this.queue.length && this.end) this.playing = false;
    const last = this.queue.length ? frameOf(this.queue[this.queue.length - 1]) : this.world.frame;
    if (!this.end && !this.loading && last - this.clock < PREFETCH_FRAMES) this._more(last);
  }

  /** The deltas after `frame` (the chunk's keyframe, of `frame`, repeats what the queue holds). */
  _more(frame) {
    const generation = this.generation;
    this.loading = this._fetch(frame).then((updates) => {
      if (generation === this.generation) this._take(updates);
    }).catch(() => { this.end = true; }).finally(() => { this.loading = null; });
  }

  _take(updates) {
    const deltas = [];
    for (const u of updates) {
      if (!this.world.hasState) this.world.apply(u);
      else if (u.delta) deltas.push(u);
    }
    this.queue.push(...deltas);
    this.end = deltas.length < CHUNK_FRAMES; // a short chunk: the recording ends there
  }

  async _fetch(frame) {
    const response = await fetch(this.url(`/api/matches/${this.matchId}/updates?from_frame=${frame}&frames=${CHUNK_FRAMES}`));
    if (response.status === 422) return []; // past the recording's end
    if (!response.ok) throw new Error(await response.text());
    return splitUpdates(new Uint8Array(await response.arrayBuffer()), this.decode);
  }
}

function frameOf(update) {
  return Number((update.delta || update.keyframe).frame);
}

/** [u32 little-endian length][WorldUpdate bytes]... -> decoded updates. */
export function splitUpdates(bytes, decode) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = [];
  for (let pos = 0; pos + 4 <= bytes.length;) {
    const n = view.getUint32(pos, true);
    out.push(decode(bytes.subarray(pos + 4, pos + 4 + n)));
    pos += 4 + n;
  }
  return out;
}
