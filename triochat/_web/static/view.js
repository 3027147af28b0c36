// Drawing the chat state into the page. Everything that came from the network
// goes in with textContent; links are made only by safeLink(), for http(s) URLs.

import { SERVER } from "./state.js";
import { isChannel } from "./irc.js";

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+[^\s<>"'`.,;:!?)\]}]/gi;
const COLOURS = 12;

/** A link to an http or https URL, opening in a new tab without access to us; else null. */
export function safeLink(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  const a = document.createElement("a");
  a.href = url.href;
  a.textContent = text;
  a.rel = "noopener noreferrer";
  a.target = "_blank";
  return a;
}

/** Text as nodes: plain text, with http(s) URLs made links through safeLink. */
export function richText(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const link = safeLink(match[0]);
    if (!link) continue;
    if (match.index > last) fragment.append(document.createTextNode(text.slice(last, match.index)));
    fragment.append(link);
    last = match.index + match[0].length;
  }
  if (last < text.length) fragment.append(document.createTextNode(text.slice(last)));
  return fragment;
}

/** The same colour for a nick every time, everywhere. */
export function nickClass(nick) {
  let hash = 2166136261; // FNV-1a: similar nicks still spread over the colours
  for (const c of nick.toLowerCase()) hash = Math.imul(hash ^ c.codePointAt(0), 16777619) >>> 0;
  return `c${hash % COLOURS}`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(time) {
  return time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

export function lineNode(line) {
  const row = el("div", `line ${line.kind}`);
  if (line.history) row.classList.add("history");
  if (line.mention) row.classList.add("mention");
  if (line.self) row.classList.add("self");
  if (line.event) row.dataset.event = line.event;
  const stamp = el("time", "ts", clock(line.time));
  stamp.dateTime = line.time.toISOString();
  stamp.title = line.time.toLocaleString();
  row.append(stamp);
  if (line.kind === "message" || line.kind === "notice") {
    const who = el("span", `nick ${nickClass(line.nick)}`, line.action ? `* ${line.nick}` : line.nick);
    if (line.kind === "notice") who.textContent = `-${line.nick}-`;
    row.append(who);
    if (line.action) row.classList.add("action");
  }
  const text = el("span", "text");
  text.append(richText(line.text));
  row.append(text);
  return row;
}

export class View {
  constructor(state, root) {
    this.state = state;
    this.root = root;
    this.$ = (id) => root.getElementById(id);
    this.messages = this.$("messages");
    this.windowList = this.$("windows");
    this.memberList = this.$("members");
    this.topic = this.$("topic");
    this.title = this.$("title");
    this.status = this.$("status");
    this.onOlder = () => {};
    this.onSelect = () => {};
    this.messages.addEventListener("scroll", () => {
      if (this.messages.scrollTop < 40) this.onOlder(this.state.current);
    });
    state.listen((what, name) => this.changed(what, name));
  }

  isCurrent(name) {
    const win = this.state.get(name);
    return !!win && win === this.state.get(this.state.current);
  }

  changed(what, name) {
    if (what === "windows") this.drawWindows();
    else if (what === "current") this.drawAll();
    else if (what === "line" && this.isCurrent(name)) this.appendLast();
    else if ((what === "history" || what === "prepend") && this.isCurrent(name)) this.drawLines(true);
    else if (what === "members" && this.isCurrent(name)) this.drawMembers();
    else if (what === "topic" && this.isCurrent(name)) this.drawTopic();
  }

  drawAll() {
    this.drawWindows();
    this.drawLines(false);
    this.drawMembers();
    this.drawTopic();
  }

  drawWindows() {
    const items = [];
    for (const win of this.state.windows.values()) {
      const li = el("li");
      const button = el("button", "window");
      button.type = "button";
      button.dataset.window = win.name;
      button.append(el("span", "name", win.name === SERVER ? "server" : win.name));
      if (this.isCurrent(win.name)) {
        button.classList.add("current");
        button.setAttribute("aria-current", "true");
      }
      if (win.unread) {
        const badge = el("span", "unread", String(win.unread));
        badge.title = `${win.unread} unread`;
        button.append(badge);
      }
      if (win.mention) {
        button.classList.add("mentioned");
        button.append(el("span", "mark", "!"));
      }
      if (win.kind === "channel" && !win.joined) button.classList.add("parted");
      button.addEventListener("click", () => this.onSelect(win.name));
      li.append(button);
      items.push(li);
    }
    this.windowList.replaceChildren(...items);
  }

  drawLines(keepPosition) {
    const win = this.state.get(this.state.current);
    const box = this.messages;
    const fromBottom = box.scrollHeight - box.scrollTop;
    const nodes = [];
    let inHistory = false;
    for (const line of win ? win.lines : []) {
      if (line.history && !inHistory) nodes.push(el("div", "divider", "history"));
      if (!line.history && inHistory) nodes.push(el("div", "divider", "live"));
      inHistory = !!line.history;
      nodes.push(lineNode(line));
    }
    box.replaceChildren(...nodes);
    box.scrollTop = keepPosition ? box.scrollHeight - fromBottom : box.scrollHeight;
  }

  appendLast() {
    const win = this.state.get(this.state.current);
    const line = win.lines[win.lines.length - 1];
    const box = this.messages;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    const lastNode = box.lastElementChild;
    if (lastNode && lastNode.classList.contains("history") && !line.history) {
      box.append(el("div", "divider", "live"));
    }
    box.append(lineNode(line));
    while (box.childElementCount > 2100) box.firstElementChild.remove();
    if (atBottom || line.self) box.scrollTop = box.scrollHeight;
  }

  drawMembers() {
    const win = this.state.get(this.state.current);
    const items = [];
    if (win && win.kind === "channel") {
      for (const m of win.sortedMembers()) {
        const li = el("li", "member");
        li.append(el("span", "prefix", m.prefix.slice(0, 1)));
        li.append(el("span", `nick ${nickClass(m.nick)}`, m.nick));
        li.dataset.nick = m.nick;
        items.push(li);
      }
    }
    this.memberList.replaceChildren(...items);
    this.$("member-count").textContent = items.length ? `${items.length} here` : "";
  }

  drawTopic() {
    const win = this.state.get(this.state.current);
    const name = this.state.current === SERVER ? "server" : this.state.current;
    this.title.textContent = name;
    this.topic.replaceChildren(richText(win && win.topic ? win.topic : isChannel(name) ? "(no topic)" : ""));
    document.title = `${name} — triochat`;
  }

  setStatus(text, kind = "ok") {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }
}
