// One WebSocket to the server, speaking the IRCv3 WebSocket binding
// (text.ircv3.net: one IRC line per message, no CRLF), and reconnecting with backoff.

const BACKOFF_START = 1000;
const BACKOFF_MAX = 60000;

export class Connection {
  /**
   * `handlers`: onOpen(), onLine(text), onClose({wasOpen, code}), onWaiting(ms).
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.socket = null;
    this.delay = BACKOFF_START;
    this.timer = null;
    this.wanted = false;
  }

  open() {
    this.wanted = true;
    clearTimeout(this.timer);
    this.timer = null;
    let socket;
    try {
      socket = new WebSocket(this.url, ["text.ircv3.net"]);
    } catch (error) {
      this.handlers.onClose({ wasOpen: false, code: 0, reason: String(error) });
      this.retry();
      return;
    }
    this.socket = socket;
    let wasOpen = false;
    socket.addEventListener("open", () => {
      wasOpen = true;
      this.handlers.onOpen();
    });
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return;
      for (const text of event.data.split(/\r?\n/)) if (text) this.handlers.onLine(text);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.handlers.onClose({ wasOpen, code: event.code, reason: event.reason });
      if (this.wanted) this.retry();
    });
  }

  /** Registered: the next drop starts the backoff from the beginning again. */
  registered() {
    this.delay = BACKOFF_START;
  }

  retry() {
    if (!this.wanted || this.timer) return;
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, BACKOFF_MAX);
    this.handlers.onWaiting(wait);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.wanted) this.open();
    }, wait);
  }

  /** Connect again now, not at the end of the wait. */
  now() {
    if (this.timer) this.open();
  }

  send(text) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(text);
      return true;
    }
    return false;
  }

  get connected() {
    return !!this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  /** Close for good (no reconnecting). */
  close() {
    this.wanted = false;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.socket) this.socket.close(1000);
  }
}
