// What the user typed, turned into IRC lines and local actions (no DOM).

import { line, isChannel } from "./irc.js";

export const HELP = [
  ["/join #room", "enter a room"],
  ["/part [#room] [reason]", "leave a room (the current one by default)"],
  ["/msg NICK TEXT", "a private message"],
  ["/query NICK", "open a private conversation"],
  ["/me TEXT", "an action (* you wave)"],
  ["/nick NEW", "change your nickname"],
  ["/topic [TEXT]", "show or set the room's topic"],
  ["/time", "the server's time"],
  ["/who", "who is in this room"],
  ["/close", "close this window (leaving its room)"],
  ["/quit [reason]", "leave the chat"],
  ["/help", "this list"],
  ["//text", "say a line that starts with /"],
];

/**
 * Interpret one typed line in the window `target` (a room, a nick, or null for the
 * server window). Returns {send: [lines], local: {...} | null, error: string | null}.
 */
export function interpret(text, target) {
  const result = { send: [], local: null, error: null };
  if (!text.trim()) return result;
  if (!text.startsWith("/") || text.startsWith("//")) {
    const body = text.startsWith("//") ? text.slice(1) : text;
    if (!target) result.error = "This window is for the server: /join a room or /query someone.";
    else result.send.push(line("PRIVMSG", target, body));
    return result;
  }
  const space = text.indexOf(" ");
  const name = (space < 0 ? text.slice(1) : text.slice(1, space)).toLowerCase();
  const args = space < 0 ? "" : text.slice(space + 1).trim();
  const words = args ? args.split(/\s+/) : [];
  const rest = (n) => args.split(/\s+/).slice(n).join(" ");
  const need = (what) => {
    result.error = `Usage: ${what}`;
    return result;
  };
  switch (name) {
    case "join":
      if (!words[0]) return need("/join #room");
      result.send.push(line("JOIN", isChannel(words[0]) ? words[0] : "#" + words[0]));
      break;
    case "part": {
      let room = target;
      let reason = args;
      if (words[0] && isChannel(words[0])) {
        room = words[0];
        reason = rest(1);
      }
      if (!room || !isChannel(room)) return need("/part #room");
      result.send.push(reason ? line("PART", room, reason) : line("PART", room));
      break;
    }
    case "msg":
      if (words.length < 2) return need("/msg NICK TEXT");
      result.send.push(line("PRIVMSG", words[0], args.slice(args.indexOf(" ") + 1)));
      if (!isChannel(words[0])) result.local = { open: words[0], focus: false };
      break;
    case "query":
      if (!words[0]) return need("/query NICK");
      result.local = { open: words[0], focus: true };
      if (words.length > 1) result.send.push(line("PRIVMSG", words[0], rest(1)));
      break;
    case "me":
      if (!target) return need("/me TEXT, in a room or private window");
      result.send.push(line("PRIVMSG", target, `\x01ACTION ${args}\x01`));
      break;
    case "nick":
      if (!words[0]) return need("/nick NEW");
      result.send.push(line("NICK", words[0]));
      break;
    case "topic":
      if (!target || !isChannel(target)) return need("/topic TEXT, in a room");
      result.send.push(args ? line("TOPIC", target, args) : line("TOPIC", target));
      break;
    case "time":
      result.send.push("TIME");
      break;
    case "who":
      if (!target || !isChannel(target)) {
        if (!words[0]) return need("/who #room, or /who in a room");
      }
      result.send.push(line("WHO", words[0] || target));
      break;
    case "close":
      result.local = { close: true };
      break;
    case "quit":
      result.local = { quit: args || "Leaving" };
      break;
    case "help":
      result.local = { help: true };
      break;
    case "raw":
    case "quote":
      if (!args) return need("/raw LINE");
      result.send.push(args);
      break;
    default:
      result.error = `Unknown command /${name}: try /help`;
  }
  return result;
}
