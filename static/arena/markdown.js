// A small Markdown renderer for model answers. It builds DOM nodes and sets only
// textContent and vetted attributes, so nothing a model writes is ever parsed as HTML.

const SAFE_URL = /^(https?:|mailto:)/i;

export function renderMarkdown(text) {
  const root = document.createDocumentFragment();
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/);
    if (fence) {
      i = codeBlock(root, lines, i, fence[1], fence[2]);
    } else if (/^\s*$/.test(line)) {
      i += 1;
    } else if (/^#{1,6}\s/.test(line)) {
      const level = line.match(/^#+/)[0].length;
      root.append(inlineInto(el(`h${Math.min(level + 2, 6)}`), line.replace(/^#+\s*/, "").replace(/\s#+\s*$/, "")));
      i += 1;
    } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      root.append(el("hr"));
      i += 1;
    } else if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s*>\s?/, ""));
      const quote = el("blockquote");
      quote.append(renderMarkdown(quoted.join("\n")));
      root.append(quote);
    } else if (listMarker(line)) {
      i = list(root, lines, i);
    } else {
      i = paragraph(root, lines, i);
    }
  }
  return root;
}

function el(tag, cls) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  return node;
}

function codeBlock(root, lines, start, marker, lang) {
  const body = [];
  let i = start + 1;
  while (i < lines.length && !lines[i].trim().startsWith(marker)) body.push(lines[i++]);
  const pre = el("pre");
  const code = el("code");
  if (lang) {
    code.dataset.lang = lang;
    pre.dataset.lang = lang;
  }
  code.textContent = body.join("\n");
  pre.append(code);
  root.append(pre);
  return i + 1; // skips the closing fence, or runs past the end while the block is still streaming
}

function listMarker(line) {
  const m = line.match(/^(\s*)([-*+]|\d{1,9}[.)])\s+/);
  return m ? { indent: m[1].length, ordered: /\d/.test(m[2]), width: m[0].length } : null;
}

function list(root, lines, start) {
  const first = listMarker(lines[start]);
  const node = el(first.ordered ? "ol" : "ul");
  if (first.ordered) {
    const n = parseInt(lines[start].trim(), 10);
    if (n !== 1) node.start = n;
  }
  let i = start;
  while (i < lines.length) {
    const marker = listMarker(lines[i]);
    if (!marker || marker.indent !== first.indent || marker.ordered !== first.ordered) break;
    const item = [lines[i].slice(marker.width)];
    i += 1;
    while (i < lines.length && lines[i].trim() !== "" && !listMarker(lines[i]) && /^\s+/.test(lines[i])) {
      item.push(lines[i++].trim());
    }
    while (i < lines.length && listMarker(lines[i]) && listMarker(lines[i]).indent > first.indent) {
      const nested = [];
      while (i < lines.length && lines[i].trim() !== "" && (!listMarker(lines[i]) || listMarker(lines[i]).indent > first.indent)) {
        nested.push(lines[i++].slice(first.indent + 2));
      }
      item.push("\n" + nested.join("\n"));
    }
    const li = el("li");
    const [head, ...rest] = item.join("\n").split("\n\n");
    inlineInto(li, head.split("\n")[0]);
    const tail = [head.split("\n").slice(1).join("\n"), ...rest].join("\n\n").trim();
    if (tail) li.append(renderMarkdown(tail));
    node.append(li);
    if (i < lines.length && lines[i].trim() === "" && listMarker(lines[i + 1] || "")) i += 1;
  }
  root.append(node);
  return i;
}

function paragraph(root, lines, start) {
  const text = [];
  let i = start;
  while (i < lines.length && lines[i].trim() !== "" && !/^(\s*(`{3,}|~{3,})|#{1,6}\s|\s*>)/.test(lines[i]) && !(text.length && listMarker(lines[i]))) {
    text.push(lines[i++].trim());
  }
  const p = el("p");
  text.forEach((part, index) => {
    if (index) p.append(document.createElement("br"));
    inlineInto(p, part);
  });
  root.append(p);
  return i;
}

// Inline spans: `code`, **bold**, *italic* / _italic_, ~~strike~~, [text](url), bare URLs.
const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__|\*(?=\S)([^*]*?\S)\*|(?<![\w])_(?=\S)([^_]*?\S)_(?![\w])|~~(?=\S)([\s\S]*?\S)~~|\[([^\]]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/;

export function inlineInto(parent, text) {
  let rest = text;
  while (rest) {
    const m = rest.match(INLINE);
    if (!m) {
      parent.append(document.createTextNode(rest));
      break;
    }
    if (m.index) parent.append(document.createTextNode(rest.slice(0, m.index)));
    parent.append(inlineNode(m));
    rest = rest.slice(m.index + m[0].length);
  }
  return parent;
}

function inlineNode(m) {
  if (m[1]) {
    const code = el("code");
    code.textContent = m[2].replace(/^ (.*) $/, "$1");
    return code;
  }
  if (m[3] || m[4]) return inlineInto(el("strong"), m[3] || m[4]);
  if (m[5] || m[6]) return inlineInto(el("em"), m[5] || m[6]);
  if (m[7]) return inlineInto(el("del"), m[7]);
  const href = m[9] || m[10];
  if (!SAFE_URL.test(href)) return document.createTextNode(m[0]);
  const a = el("a");
  a.href = href;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  return m[8] ? inlineInto(a, m[8]) : Object.assign(a, { textContent: href });
}
