// A client of the Foxglove WebSocket protocol (foxglove.websocket.v1), with automatic reconnect.
// `url` is the server's address, or an async function that says it at every (re)connect (a
// match's websocket is served by the worker that runs it, which can change).
//
// Events (addEventListener): "state" {state: connecting|connected|disconnected},
// "channels" (the advertised channels changed), "message" {subscription, data: Uint8Array},
// "status" {level, message}.

const SUBPROTOCOL = "foxglove.websocket.v1";
const MESSAGE_DATA = 0x01;

export class FoxgloveClient extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.state = "connecting";
    this.channels = new Map(); // id -> channel
    this.serverInfo = null;
    this.retryMs = 500;
    this.nextSubscription = 1;
    this.subscriptions = new Map(); // subscription id -> channel id
    this.connect();
  }

  async connect() {
    this._setState("connecting");
    let url = this.url;
    try {
      if (typeof url === "function") url = await url();
    } catch {
      url = null;
    }
    if (this.closed) return;
    if (!url) {
      this._retry();
      return;
    }
    const ws = new WebSocket(url, [SUBPROTOCOL]);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.retryMs = 500;
      this._setState("connected");
    };
    ws.onmessage = (event) => this._receive(event.data);
    ws.onclose = () => {
      if (this.ws !== ws || this.closed) return;
      this.channels.clear();
      this.subscriptions.clear();
      this._emit("channels");
      this._retry();
    };
    ws.onerror = () => {}; // onclose follows
    this.ws = ws;
  }

  _retry() {
    this._setState("disconnected");
    setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 4000);
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }

  _setState(state) {
    this.state = state;
    this._emit("state", { state });
  }

  _emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _receive(data) {
    if (typeof data !== "string") {
      const view = new DataView(data);
      if (view.byteLength < 13 || view.getUint8(0) !== MESSAGE_DATA) return;
      const subscription = view.getUint32(1, true);
      this._emit("message", { subscription, data: new Uint8Array(data, 13) });
      return;
    }
    const message = JSON.parse(data);
    switch (message.op) {
      case "serverInfo":
        this.serverInfo = message;
        break;
      case "advertise":
        for (const ch of message.channels) this.channels.set(ch.id, ch);
        this._emit("channels");
        break;
      case "unadvertise":
        for (const id of message.channelIds) this.channels.delete(id);
        this._emit("channels");
        break;
      case "status":
        this._emit("status", message);
        break;
      default:
        break; // ops this viewer does not use
    }
  }

  channelByTopic(topic) {
    for (const ch of this.channels.values()) if (ch.topic === topic) return ch;
    return null;
  }

  subscribe(channelId) {
    const id = this.nextSubscription++;
    this.subscriptions.set(id, channelId);
    this._send({ op: "subscribe", subscriptions: [{ id, channelId }] });
    return id;
  }

  unsubscribe(id) {
    if (!this.subscriptions.delete(id)) return;
    this._send({ op: "unsubscribe", subscriptionIds: [id] });
  }

  _send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }
}
