// The IRC session: capability negotiation, registration, and every message the
// server sends, turned into changes of the chat state. No DOM here.

import { parse, nickOf, line, isChannel, actionText, fold, saslPlain, MODE_PREFIXES } from "./irc.js";
import { SERVER } from "./state.js";

const WANTED_CAPS = ["server-time", "echo-message", "message-tags", "batch", "draft/chathistory", "multi-prefix"];
const HISTORY_PAGE = 50;

/** Registration errors in words, for the connect screen. */
const REFUSALS = {
  432: "That nickname is not valid: use letters, digits and - _ [ ] { } \\ | ^ (not starting with a digit or -), at most 30.",
  433: "That nickname is taken: choose another.",
  436: "That nickname is taken: choose another.",
  464: "The server needs a password.",
  465: "You are banned from this server.",
  902: "That account is locked: it cannot be logged in to now.",
  904: "Wrong password for this account (or no such account).",
  905: "That password is too long.",
};

export class Session {
  /** `ui`: status(text, kind), refused(text), registered(), notify(win, line), info(text). */
  constructor(state, ui) {
    this.state = state;
    this.ui = ui;
    this.send = () => false;
    this.reset();
  }

  reset() {
    this.caps = new Set();
    this.offered = [];
    this.registered = false;
    this.batches = new Map();
    this.names = new Map();
  }

  /** The socket is open: negotiate caps and register as `nick`. */
  start(nick, send, password = "") {
    this.reset();
    this.send = send;
    this.wantedNick = nick;
    this.password = password;
    send("CAP LS 302");
    send(line("NICK", nick));
    send(line("USER", "web", "0", "*", `${nick} (triochat web)`));
  }

  has(cap) {
    return this.caps.has(cap);
  }

  handle(text) {
    const msg = parse(text);
    const batch = msg.tags.batch;
    if (batch && this.batches.has(batch) && msg.command !== "BATCH") {
      this.batches.get(batch).messages.push(msg);
      return;
    }
    const handler = this[`on${msg.command}`];
    if (handler) handler.call(this, msg);
    else if (/^\d{3}$/.test(msg.command)) this.numeric(msg);
  }

  // --- registration

  onCAP(msg) {
    const sub = (msg.params[1] || "").toUpperCase();
    if (sub === "LS") {
      const more = msg.params[2] === "*";
      const list = msg.params[more ? 3 : 2] || "";
      this.offered.push(...list.split(" ").map((c) => c.split("=")[0]).filter(Boolean));
      if (!more) {
        const want = WANTED_CAPS.filter((c) => this.offered.includes(c));
        if (this.password && this.offered.includes("sasl")) want.push("sasl");
        else if (this.password) this.info("This server has no accounts: the password was not used.");
        if (want.length) this.send(line("CAP", "REQ", want.join(" ")));
        else this.send("CAP END");
      }
    } else if (sub === "ACK") {
      for (const c of (msg.params[2] || "").split(" ")) if (c) this.caps.add(c.replace(/^-/, ""));
      if (this.registered) return;
      if (this.password && this.caps.has("sasl")) this.send("AUTHENTICATE PLAIN");
      else this.send("CAP END");
    } else if (sub === "NAK" && !this.registered) {
      this.send("CAP END");
    }
  }

  on001(msg) {
    this.registered = true;
    this.state.nick = msg.params[0];
    this.ui.registered();
    this.serverLine(msg.params.slice(1).join(" "), msg);
  }

  onAUTHENTICATE(msg) {
    if (msg.params[0] === "+" && this.password) {
      for (const piece of saslPlain(this.wantedNick, this.password)) this.send(line("AUTHENTICATE", piece));
    }
  }

  /** Logged in (900, then 903): registration goes on. */
  on900(msg) {
    this.account = msg.params[2] || "";
    this.info(`Logged in as ${this.account}`);
  }

  on903() {
    if (!this.registered) this.send("CAP END");
  }

  onPING(msg) {
    this.send(line("PONG", ...msg.params));
  }

  onERROR(msg) {
    const text = msg.params[0] || "";
    if (/ban/i.test(text)) this.ui.refused("You are banned from this server.");
    this.serverLine(`Disconnected: ${text}`, msg, "error");
    this.ui.status(`Disconnected: ${text}`, "error");
  }

  numeric(msg) {
    const code = Number(msg.command);
    if (!this.registered && code in REFUSALS) {
      this.ui.refused(REFUSALS[code]);
      return;
    }
    if (code in REFUSALS) {
      this.info(REFUSALS[code]);
      return;
    }
    const params = msg.params.slice(1);
    switch (code) {
      case 332:
        this.state.setTopic(params[0], params[1] || "");
        return;
      case 331:
        this.state.setTopic(params[0], "");
        return;
      case 333: // who set the topic, and when
        return;
      case 353: {
        const room = params[1];
        const list = this.names.get(fold(room)) || [];
        for (const item of (params[2] || "").split(" ")) {
          const match = /^([@+]*)(.+)$/.exec(item);
          if (match) list.push({ nick: nickOf(match[2]), prefix: match[1] });
        }
        this.names.set(fold(room), list);
        return;
      }
      case 366: {
        const list = this.names.get(fold(params[0]));
        if (list) this.state.setMembers(params[0], list);
        this.names.delete(fold(params[0]));
        return;
      }
      case 352: // WHO: channel user host server nick flags :hops realname
        this.info(`${params[4]} (${params[1]}@${params[2]}) ${params[5]} ${(params[6] || "").replace(/^\d+ /, "")}`);
        return;
      case 315:
        this.info(`End of /who ${params[0]}`);
        return;
      case 391:
        this.info(`Server time: ${params[params.length - 1]}`);
        return;
      case 401:
      case 403:
      case 404:
      case 442:
      case 471:
      case 473:
      case 474:
      case 475:
      case 476:
      case 482:
        this.info(`${params[0]}: ${params[params.length - 1]}`, "error");
        return;
      default:
        if (code >= 400) this.info(params.slice(-1)[0] || msg.command, "error");
        else this.serverLine(params.join(" "), msg);
    }
  }

  // --- rooms and people

  onJOIN(msg) {
    const nick = nickOf(msg.source);
    const room = msg.params[0];
    if (this.state.isMe(nick)) {
      const rejoined = !!this.state.get(room); // after a reconnect: keep the window in view
      const win = this.state.ensure(room, "channel");
      win.joined = true;
      win.historyDone = false;
      if (!rejoined) this.state.focus(room);
      this.requestHistory(room, "LATEST");
    } else {
      this.state.addMember(room, nick);
    }
    this.event(room, `${nick} joined`, msg, "join");
  }

  onPART(msg) {
    const nick = nickOf(msg.source);
    const room = msg.params[0];
    const reason = msg.params[1] ? ` (${msg.params[1]})` : "";
    if (this.state.isMe(nick)) {
      this.state.remove(room);
      this.info(`You left ${room}`);
      return;
    }
    this.state.removeMember(room, nick);
    this.event(room, `${nick} left${reason}`, msg, "part");
  }

  onKICK(msg) {
    const [room, victim, why] = msg.params;
    const by = nickOf(msg.source);
    if (this.state.isMe(victim)) {
      const win = this.state.get(room);
      if (win) {
        win.joined = false;
        win.members.clear();
        this.state.emit("members", room);
      }
      this.event(room, `You were kicked by ${by} (${why || ""})`, msg, "error");
      return;
    }
    this.state.removeMember(room, victim);
    this.event(room, `${victim} was kicked by ${by} (${why || ""})`, msg, "part");
  }

  onQUIT(msg) {
    const nick = nickOf(msg.source);
    for (const win of this.state.windowsOf(nick)) {
      this.state.removeMember(win.name, nick);
      this.event(win.name, `${nick} quit (${msg.params[0] || ""})`, msg, "part");
    }
  }

  onNICK(msg) {
    const old = nickOf(msg.source);
    const now = msg.params[0];
    const windows = this.state.windowsOf(old);
    if (this.state.isMe(old)) {
      this.state.nick = now;
      this.ui.nickChanged(now);
      this.info(`You are now known as ${now}`);
    }
    this.state.renameEverywhere(old, now);
    for (const win of windows) this.event(win.name, `${old} is now known as ${now}`, msg, "nick");
  }

  onTOPIC(msg) {
    const [room, topic] = msg.params;
    this.state.setTopic(room, topic || "");
    this.event(room, `${nickOf(msg.source)} set the topic: ${topic || "(none)"}`, msg, "topic");
  }

  onMODE(msg) {
    const [target, modes, ...args] = msg.params;
    if (!isChannel(target) || !modes) return;
    const win = this.state.get(target);
    let adding = true;
    let index = 0;
    for (const c of modes) {
      if (c === "+" || c === "-") {
        adding = c === "+";
        continue;
      }
      if (c in MODE_PREFIXES) {
        const nick = args[index++];
        const member = win && nick && win.members.get(fold(nick));
        if (member) {
          const p = MODE_PREFIXES[c];
          member.prefix = adding ? (member.prefix.includes(p) ? member.prefix : p + member.prefix).replace(/^\+@/, "@+") : member.prefix.replace(p, "");
        }
      } else if ("kl".includes(c) && adding) {
        index++;
      }
    }
    this.state.emit("members", target);
    this.event(target, `${nickOf(msg.source)} set mode ${msg.params.slice(1).join(" ")}`, msg, "mode");
  }

  // --- messages

  onPRIVMSG(msg) {
    this.message(msg, "message");
  }

  onNOTICE(msg) {
    if (!this.registered || !msg.source || !msg.source.includes("!")) {
      this.serverLine(msg.params[1] || "", msg, "notice");
      return;
    }
    this.message(msg, "notice");
  }

  /** A PRIVMSG or NOTICE as a line of the right window; null when it is not one. */
  toLine(msg, kind) {
    const nick = nickOf(msg.source);
    const [target, text = ""] = msg.params;
    if (text.startsWith("\x01") && actionText(text) === null) return null; // other CTCP
    const self = this.state.isMe(nick);
    const room = isChannel(target) ? target : self ? target : nick;
    const action = actionText(text);
    return {
      room,
      line: {
        kind: kind === "notice" ? "notice" : "message",
        action: action !== null,
        nick,
        self,
        text: action !== null ? action : text,
        time: msg.tags.time ? new Date(msg.tags.time) : new Date(),
        msgid: msg.tags.msgid || null,
      },
    };
  }

  message(msg, kind) {
    const found = this.toLine(msg, kind);
    if (!found) return;
    const added = this.state.add(found.room, found.line);
    if (added && added.mention) this.ui.notify(found.room, added);
    else if (added && !added.self && !isChannel(found.room) && kind !== "notice") this.ui.notify(found.room, added);
  }

  // --- history (draft/chathistory), in batches

  onBATCH(msg) {
    const ref = msg.params[0] || "";
    if (ref.startsWith("+")) {
      this.batches.set(ref.slice(1), { type: msg.params[1], target: msg.params[2], messages: [] });
      return;
    }
    const batch = this.batches.get(ref.slice(1));
    this.batches.delete(ref.slice(1));
    if (!batch || batch.type !== "chathistory") return;
    const lines = [];
    for (const inner of batch.messages) {
      if (inner.command !== "PRIVMSG" && inner.command !== "NOTICE") continue;
      const found = this.toLine(inner, inner.command === "NOTICE" ? "notice" : "message");
      if (found) lines.push(found.line);
    }
    const win = this.state.get(batch.target);
    const older = !!win && win.loadingOlder;
    this.state.addHistory(batch.target, lines, { older });
  }

  requestHistory(target, how) {
    if (!this.has("draft/chathistory")) return false;
    const win = this.state.get(target);
    if (how === "LATEST") {
      this.send(line("CHATHISTORY", "LATEST", target, "*", String(HISTORY_PAGE)));
      return true;
    }
    if (!win || win.historyDone || win.loadingOlder) return false;
    const oldest = win.oldest();
    if (!oldest) return false;
    win.loadingOlder = true;
    // A msgid is exact; many messages can share one millisecond.
    const ref = oldest.msgid ? `msgid=${oldest.msgid}` : `timestamp=${oldest.time.toISOString()}`;
    this.send(line("CHATHISTORY", "BEFORE", target, ref, String(HISTORY_PAGE)));
    return true;
  }

  onFAIL(msg) {
    if (msg.params[0] === "CHATHISTORY") {
      for (const win of this.state.windows.values()) win.loadingOlder = false;
    }
    this.info(msg.params.slice(-1)[0] || "FAIL", "error");
  }

  // --- helpers

  event(room, text, msg, kind) {
    const time = msg.tags.time ? new Date(msg.tags.time) : new Date();
    this.state.add(room, { kind: "event", event: kind, text, time });
  }

  serverLine(text, msg, kind = "server") {
    const time = msg && msg.tags.time ? new Date(msg.tags.time) : new Date();
    this.state.add(SERVER, { kind: kind === "error" ? "error" : "event", event: kind, text, time });
  }

  /** A line for the user in the window they look at. */
  info(text, kind = "info") {
    this.state.add(this.state.current, { kind: kind === "error" ? "error" : "event", event: kind, text, time: new Date() });
  }
}
