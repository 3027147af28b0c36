// The chat as data: windows (server, rooms, private conversations), their lines,
// members and topics, and what is unread. The view listens; no DOM here.

import { fold, isChannel } from "./irc.js";

export const SERVER = "*server*";
/** Lines kept per window; older ones are dropped from the page. */
const MAX_LINES = 2000;

export class Window {
  constructor(name, kind) {
    this.name = name;
    this.kind = kind; // "server" | "channel" | "query"
    this.lines = [];
    this.members = new Map(); // folded nick -> {nick, prefix}
    this.topic = "";
    this.unread = 0;
    this.mention = false;
    this.joined = kind !== "channel";
    this.historyDone = false; // the server has nothing older
    this.loadingOlder = false;
    this.msgids = new Set();
  }

  /** Members sorted as IRC clients show them: operators, voiced, then the rest. */
  sortedMembers() {
    const rank = (p) => (p.includes("@") ? 0 : p.includes("+") ? 1 : 2);
    return [...this.members.values()].sort(
      (a, b) => rank(a.prefix) - rank(b.prefix) || a.nick.localeCompare(b.nick),
    );
  }

  /** The oldest message shown: where "load older" continues from. */
  oldest() {
    return this.lines.find((l) => (l.kind === "message" || l.kind === "notice") && l.time) || null;
  }
}

export class ChatState {
  constructor() {
    this.nick = "";
    this.windows = new Map(); // folded name -> Window
    this.current = SERVER;
    this.listeners = [];
    /** Whether the page is in view (the app sets it from the document's visibility). */
    this.visible = () => true;
    this.ensure(SERVER, "server");
  }

  listen(fn) {
    this.listeners.push(fn);
  }

  emit(what, name) {
    for (const fn of this.listeners) fn(what, name);
  }

  get(name) {
    return this.windows.get(name === SERVER ? SERVER : fold(name));
  }

  ensure(name, kind) {
    const key = name === SERVER ? SERVER : fold(name);
    let win = this.windows.get(key);
    if (!win) {
      win = new Window(name, kind || (isChannel(name) ? "channel" : "query"));
      this.windows.set(key, win);
      this.emit("windows", name);
    }
    return win;
  }

  remove(name) {
    const key = fold(name);
    if (key === SERVER || !this.windows.delete(key)) return;
    if (fold(this.current) === key) this.current = SERVER;
    this.emit("windows", name);
    this.emit("current", this.current);
  }

  focus(name) {
    const win = this.get(name);
    if (!win) return;
    this.current = win.name;
    win.unread = 0;
    win.mention = false;
    this.emit("current", win.name);
    this.emit("windows", win.name);
  }

  isMe(nick) {
    return fold(nick) === fold(this.nick);
  }

  mentions(text) {
    if (!this.nick) return false;
    const escaped = this.nick.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`(^|[^\\w\\[\\]\\\\^{}|-])${escaped}($|[^\\w\\[\\]\\\\^{}|-])`, "i").test(text);
  }

  /**
   * Add a line to a window. `line` is {kind, time, nick, text, self, msgid, history}.
   * Counts it unread (and a mention) when it is a message in a window not in view.
   */
  add(name, line, { prepend = false } = {}) {
    const win = this.ensure(name);
    if (line.msgid) {
      if (win.msgids.has(line.msgid)) return null;
      win.msgids.add(line.msgid);
    }
    line.time = line.time || new Date();
    line.mention = line.kind === "message" && !line.self && this.mentions(line.text);
    if (prepend) win.lines.unshift(line);
    else win.lines.push(line);
    if (win.lines.length > MAX_LINES) win.lines.splice(0, win.lines.length - MAX_LINES);
    const visible = fold(this.current) === fold(win.name) && this.visible();
    if (!line.history && line.kind === "message" && !line.self && !visible) {
      win.unread += 1;
      if (line.mention || win.kind === "query") win.mention = true;
      this.emit("windows", win.name);
    }
    this.emit(prepend ? "prepend" : "line", win.name);
    return line;
  }

  /** Put a whole batch of history before what the window holds (sorted, without repeats). */
  addHistory(name, lines, { older = false } = {}) {
    const win = this.ensure(name);
    const fresh = lines.filter((l) => !l.msgid || !win.msgids.has(l.msgid));
    for (const l of fresh) {
      l.history = true;
      l.mention = l.kind === "message" && !l.self && this.mentions(l.text);
      if (l.msgid) win.msgids.add(l.msgid);
    }
    if (older && fresh.length === 0) win.historyDone = true;
    // After a reconnect, LATEST brings what was missed too: that goes after what is shown.
    const shown = win.lines.filter((l) => l.kind === "message" || l.kind === "notice");
    const newest = shown.length ? shown[shown.length - 1].time : null;
    const before = fresh.filter((l) => !newest || l.time <= newest);
    const after = fresh.filter((l) => newest && l.time > newest);
    win.lines = [...before, ...win.lines, ...after];
    win.loadingOlder = false;
    this.emit("history", win.name);
    return fresh.length;
  }

  setMembers(name, members) {
    const win = this.ensure(name);
    win.members = new Map(members.map((m) => [fold(m.nick), m]));
    this.emit("members", name);
  }

  addMember(name, nick, prefix = "") {
    const win = this.ensure(name);
    win.members.set(fold(nick), { nick, prefix });
    this.emit("members", name);
  }

  removeMember(name, nick) {
    const win = this.get(name);
    if (win && win.members.delete(fold(nick))) this.emit("members", name);
  }

  /** Rooms and conversations that a nick is part of (for QUIT and NICK lines). */
  windowsOf(nick) {
    const key = fold(nick);
    return [...this.windows.values()].filter(
      (w) => w.members.has(key) || (w.kind === "query" && fold(w.name) === key),
    );
  }

  renameEverywhere(oldNick, newNick) {
    const oldKey = fold(oldNick);
    for (const win of this.windows.values()) {
      const member = win.members.get(oldKey);
      if (member) {
        win.members.delete(oldKey);
        win.members.set(fold(newNick), { nick: newNick, prefix: member.prefix });
        this.emit("members", win.name);
      }
    }
    const query = this.windows.get(oldKey);
    if (query && query.kind === "query" && !this.windows.has(fold(newNick))) {
      this.windows.delete(oldKey);
      query.name = newNick;
      this.windows.set(fold(newNick), query);
      if (fold(this.current) === oldKey) this.current = newNick;
      this.emit("windows", newNick);
    }
  }

  setTopic(name, topic) {
    this.ensure(name).topic = topic;
    this.emit("topic", name);
  }

  /** Rooms to join again after a reconnect. */
  channels() {
    return [...this.windows.values()].filter((w) => w.kind === "channel").map((w) => w.name);
  }

  /** Completions of `prefix` among the current window's members (most recent speakers first). */
  complete(prefix) {
    const win = this.get(this.current);
    if (!win) return [];
    const lower = prefix.toLowerCase();
    const spoke = [];
    for (let i = win.lines.length - 1; i >= 0 && spoke.length < 50; i--) {
      const n = win.lines[i].nick;
      if (n && !spoke.includes(n)) spoke.push(n);
    }
    const names = [...win.members.values()].map((m) => m.nick);
    if (win.kind === "query") names.push(win.name);
    const ordered = [...spoke.filter((n) => names.includes(n)), ...names.sort()];
    return [...new Set(ordered)].filter(
      (n) => n.toLowerCase().startsWith(lower) && !this.isMe(n),
    );
  }
}
