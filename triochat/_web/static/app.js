// The web client's entry point: the connect screen, the input line, and the
// glue between the connection, the IRC session, the state and the view.

import { ChatState, SERVER } from "./state.js";
import { Session } from "./session.js";
import { Connection } from "./connection.js";
import { View } from "./view.js";
import { interpret, HELP } from "./commands.js";
import { line, isChannel } from "./irc.js";

const NICK_KEY = "triochat.nick";
const NICK_PATTERN = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,29}$/;
const $ = (id) => document.getElementById(id);

const state = new ChatState();
state.visible = () => !document.hidden;
const view = new View(state, document);
let everRegistered = false;
let nick = "";
let password = ""; // kept in memory for reconnecting, never stored
const typed = [];
let typedIndex = 0;
let completion = null;

const ui = {
  status: (text, kind) => view.setStatus(text, kind),
  registered() {
    everRegistered = true;
    connection.registered();
    nick = state.nick;
    localStorage.setItem(NICK_KEY, nick);
    showChat();
    view.setStatus(`Connected as ${state.nick}`, "ok");
    $("me").textContent = state.nick;
    const rooms = state.channels();
    if (rooms.length) rooms.forEach((room) => session.send(line("JOIN", room)));
    else session.send(line("JOIN", defaultRoom()));
  },
  refused(text) {
    if (everRegistered && /taken/.test(text)) {
      session.send(line("NICK", `${nick}_`)); // our old self may not have timed out yet
      return;
    }
    if (everRegistered && !session.registered) {
      view.setStatus(text, "error");
      return;
    }
    connection.close();
    showConnect(text);
  },
  nickChanged(now) {
    nick = now;
    localStorage.setItem(NICK_KEY, now);
    $("me").textContent = now;
  },
  notify(room, msg) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (!document.hidden && state.get(room) === state.get(state.current)) return;
    const note = new Notification(`${msg.nick} in ${room}`, { body: msg.text, tag: room });
    note.addEventListener("click", () => {
      window.focus();
      select(room);
    });
  },
};

const session = new Session(state, ui);
const connection = new Connection(socketUrl(), {
  onOpen() {
    view.setStatus("Connected: signing in…", "pending");
    session.start(nick, (text) => connection.send(text), password);
  },
  onLine: (text) => session.handle(text),
  onClose({ wasOpen }) {
    for (const win of state.windows.values()) if (win.kind === "channel") win.joined = false;
    state.emit("windows", SERVER);
    if (!everRegistered && !wasOpen) showConnect("Cannot reach the server. Is it running?");
  },
  onWaiting(ms) {
    const seconds = Math.round(ms / 1000);
    view.setStatus(`Disconnected: connecting again in ${seconds} s…`, "error");
    if (!everRegistered) $("connect-error").textContent = `Cannot reach the server; trying again in ${seconds} s…`;
  },
});

function socketUrl() {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/irc`;
}

function defaultRoom() {
  const hash = decodeURIComponent(location.hash.slice(1));
  return /^[#&][^\s,]{1,49}$/.test(hash) ? hash : "#lobby";
}

function showConnect(error) {
  $("connect").hidden = false;
  $("chat").hidden = true;
  $("connect-error").textContent = error || "";
  $("connect-button").disabled = false;
  $("nick-input").focus();
}

function showChat() {
  $("connect").hidden = true;
  $("chat").hidden = false;
  $("input").focus();
}

function select(name) {
  state.focus(name);
  document.body.classList.remove("show-windows", "show-members");
  $("input").focus();
}

$("connect-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const wanted = $("nick-input").value.trim();
  if (!NICK_PATTERN.test(wanted)) {
    $("connect-error").textContent =
      "A nickname is 1 to 30 letters, digits or - _ [ ] { } \\ | ^ ` and cannot start with a digit or -.";
    return;
  }
  nick = wanted;
  password = $("password-input").value;
  localStorage.setItem(NICK_KEY, nick);
  $("connect-error").textContent = "";
  $("connect-button").disabled = true;
  view.setStatus("Connecting…", "pending");
  connection.open();
});

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("input");
  const text = input.value;
  input.value = "";
  if (!text.trim()) return;
  typed.push(text);
  typedIndex = typed.length;
  run(text);
});

function run(text) {
  const target = state.current === SERVER ? null : state.current;
  const result = interpret(text, target);
  if (result.error) {
    session.info(result.error, "error");
    return;
  }
  if (result.local) {
    const local = result.local;
    if (local.open) {
      state.ensure(local.open, "query");
      if (local.focus) select(local.open);
    } else if (local.help) {
      session.info("Commands:");
      for (const [command, what] of HELP) session.info(`${command} — ${what}`);
    } else if (local.close) {
      const win = state.get(state.current);
      if (win && win.kind === "channel" && win.joined) session.send(line("PART", win.name));
      if (win && win.kind !== "server") state.remove(win.name);
    } else if (local.quit) {
      session.send(line("QUIT", local.quit));
      connection.close();
      everRegistered = false;
      showConnect("You left the chat.");
    }
  }
  for (const out of result.send) {
    if (!connection.send(out)) {
      session.info("Not connected: your message was not sent.", "error");
      return;
    }
    if (!session.has("echo-message") && /^PRIVMSG /.test(out)) {
      session.handle(`:${state.nick}!web@local ${out}`); // show our own line at once
    }
  }
}

// --- keys: Tab completion, typed-line history, switching windows

$("input").addEventListener("keydown", (event) => {
  const input = event.target;
  if (event.key === "Tab" && !event.shiftKey) {
    event.preventDefault();
    complete(input);
    return;
  }
  completion = null;
  if (event.key === "ArrowUp" && !event.altKey && !event.ctrlKey && typedIndex > 0) {
    event.preventDefault();
    input.value = typed[--typedIndex];
  } else if (event.key === "ArrowDown" && !event.altKey && !event.ctrlKey) {
    event.preventDefault();
    typedIndex = Math.min(typed.length, typedIndex + 1);
    input.value = typed[typedIndex] || "";
  }
});

function complete(input) {
  if (!completion) {
    const caret = input.selectionStart;
    const before = input.value.slice(0, caret);
    const start = before.search(/\S*$/);
    const prefix = before.slice(start);
    if (!prefix) return;
    completion = { start, end: caret, matches: state.complete(prefix), index: 0, after: input.value.slice(caret) };
    if (!completion.matches.length) {
      completion = null;
      return;
    }
  } else {
    completion.index = (completion.index + 1) % completion.matches.length;
  }
  const word = completion.matches[completion.index] + (completion.start === 0 ? ": " : " ");
  input.value = input.value.slice(0, completion.start) + word + completion.after;
  const caret = completion.start + word.length;
  input.setSelectionRange(caret, caret);
}

function cycle(step, onlyActive = false) {
  const names = [...state.windows.values()].map((w) => w);
  let index = names.indexOf(state.get(state.current));
  for (let i = 0; i < names.length; i++) {
    index = (index + step + names.length) % names.length;
    if (!onlyActive || names[index].unread || names[index].mention) {
      select(names[index].name);
      return;
    }
  }
}

document.addEventListener("keydown", (event) => {
  if ($("chat").hidden) return;
  if ((event.altKey || event.ctrlKey) && (event.key === "ArrowDown" || event.key === "PageDown")) {
    event.preventDefault();
    cycle(1);
  } else if ((event.altKey || event.ctrlKey) && (event.key === "ArrowUp" || event.key === "PageUp")) {
    event.preventDefault();
    cycle(-1);
  } else if (event.altKey && event.key.toLowerCase() === "a") {
    event.preventDefault();
    cycle(1, true);
  } else if (event.key === "Escape") {
    document.body.classList.remove("show-windows", "show-members");
    $("input").focus();
  }
});

// --- the rest of the page

view.onSelect = select;
view.onOlder = (name) => session.requestHistory(name, "BEFORE");
$("toggle-windows").addEventListener("click", () => document.body.classList.toggle("show-windows"));
$("toggle-members").addEventListener("click", () => document.body.classList.toggle("show-members"));
$("scrim").addEventListener("click", () => document.body.classList.remove("show-windows", "show-members"));
$("reconnect-now").addEventListener("click", () => connection.now());
if ("Notification" in window && Notification.permission === "default") {
  $("notify-button").hidden = false;
  $("notify-button").addEventListener("click", async () => {
    await Notification.requestPermission();
    $("notify-button").hidden = true;
  });
}
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) state.focus(state.current);
});

view.drawAll();
$("nick-input").value = localStorage.getItem(NICK_KEY) || "";
showConnect("");
