// IRC wire format for the browser: parse one line, build lines to send.
// No DOM here; everything received stays plain data.

const TAG_UNESCAPES = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

function unescapeTag(value) {
  return value.replace(/\\(.?)/g, (_, c) => (c in TAG_UNESCAPES ? TAG_UNESCAPES[c] : c));
}

/** Parse one IRC line (no CRLF) into {tags, source, command, params}. */
export function parse(line) {
  let rest = line;
  const tags = {};
  if (rest.startsWith("@")) {
    const space = rest.indexOf(" ");
    for (const item of rest.slice(1, space < 0 ? undefined : space).split(";")) {
      if (!item) continue;
      const eq = item.indexOf("=");
      if (eq < 0) tags[item] = "";
      else tags[item.slice(0, eq)] = unescapeTag(item.slice(eq + 1));
    }
    rest = space < 0 ? "" : rest.slice(space + 1).replace(/^ +/, "");
  }
  let source = null;
  if (rest.startsWith(":")) {
    const space = rest.indexOf(" ");
    source = rest.slice(1, space < 0 ? undefined : space);
    rest = space < 0 ? "" : rest.slice(space + 1).replace(/^ +/, "");
  }
  const params = [];
  let command = "";
  while (rest) {
    if (rest.startsWith(":") && command) {
      params.push(rest.slice(1));
      break;
    }
    const space = rest.indexOf(" ");
    const word = space < 0 ? rest : rest.slice(0, space);
    if (!command) command = word.toUpperCase();
    else params.push(word);
    rest = space < 0 ? "" : rest.slice(space + 1).replace(/^ +/, "");
  }
  return { tags, source, command, params };
}

/** The nickname part of a source (nick!user@host). */
export function nickOf(source) {
  if (!source) return "";
  const bang = source.indexOf("!");
  return bang < 0 ? source : source.slice(0, bang);
}

/** Build a line from a command and parameters; the last one may contain spaces. */
export function line(command, ...params) {
  const clean = params.map((p) => String(p).replace(/[\r\n\0]/g, " "));
  if (clean.length) {
    const last = clean.length - 1;
    if (clean[last] === "" || clean[last].includes(" ") || clean[last].startsWith(":")) {
      clean[last] = ":" + clean[last];
    }
  }
  return [command, ...clean].join(" ");
}

/** IRC's rfc1459 casemapping: what the server uses to compare names. */
export function fold(name) {
  return name.toLowerCase().replace(/[[\]\\~]/g, (c) => ({ "[": "{", "]": "}", "\\": "|", "~": "^" })[c]);
}

export function isChannel(name) {
  return /^[#&]/.test(name);
}

/** A CTCP ACTION's text, or null when the message is not an action. */
export function actionText(text) {
  const match = /^\x01ACTION ?(.*?)\x01?$/.exec(text);
  return match ? match[1] : null;
}

export const MODE_PREFIXES = { o: "@", v: "+" };

/** SASL PLAIN's message (authzid, authcid, password), base64 of UTF-8, in 400-byte pieces. */
export function saslPlain(account, password) {
  const bytes = new TextEncoder().encode(`${account}\0${account}\0${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const encoded = btoa(binary);
  const pieces = [];
  for (let i = 0; i < encoded.length; i += 400) pieces.push(encoded.slice(i, i + 400));
  if (encoded.length % 400 === 0) pieces.push("+");
  return pieces;
}
