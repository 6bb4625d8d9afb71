// Renders model answers, which are untrusted, into DOM: Markdown (CommonMark + GFM tables, strikethrough and
// autolinks) with markdown-it, math with KaTeX, code with highlight.js, and everything through DOMPurify before
// it becomes nodes. The libraries are vendored (static/vendor/README.md); nothing is fetched at run time.
//
// - Raw HTML in an answer is shown as text (markdown-it `html: false`), and DOMPurify keeps only the tags and
//   attributes these libraries produce.
// - Links: http(s) and mailto only, opened in a new tab with rel="noopener noreferrer nofollow". Any other
//   scheme (javascript:, data:, relative paths) stays plain text.
// - Images are never loaded: `![alt](url)` becomes a link to the image, labelled with its alt text.
// - Math ($…$, \(…\) inline; $$…$$, \[…\] display) is KaTeX's MathML, which needs no inline style, so the
//   strict Content-Security-Policy holds. TeX that does not parse (often just unfinished) is shown as code.
// - It runs on every streamed chunk, so unfinished Markdown must render (markdown-it and the math rules
//   never throw on it), and it is memoised by text, so finished turns cost a clone.
// - Code blocks get a "Copy code" button, wired here so callers only append the fragment.
import MarkdownIt from "../vendor/markdown-it/markdown-it.esm.min.mjs";
import DOMPurify from "../vendor/dompurify/purify.es.mjs";
import hljs from "../vendor/highlightjs-cdn-assets/highlight.min.js";
import katex from "../vendor/katex/katex.mjs";
import { gettext, interpolate } from "./i18n.js";

const SAFE_URL = /^(?:https?:|mailto:)/i;
const COPIED_FOR_MS = 2000;
const CACHE_SIZE = 100;

const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false, highlight });
md.linkify.set({ fuzzyLink: false, fuzzyEmail: false }); // "main.py" and "git@host" stay text
md.validateLink = (url) => SAFE_URL.test(url.trim());
md.use(mathPlugin);
md.core.ruler.push("arena_blocks", shiftHeadingsAndAlignCells);
md.renderer.rules.image = imageAsLink;

const purifier = DOMPurify(window);
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A" && node.hasAttribute("href")) {
    node.setAttribute("rel", "noopener noreferrer nofollow");
    node.setAttribute("target", "_blank");
  }
});

const MATHML_TAGS = [
  "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "mfrac", "msqrt",
  "mroot", "msub", "msup", "msubsup", "munder", "mover", "munderover", "mtable", "mtr", "mtd", "mlabeledtr",
  "mpadded", "mphantom", "mstyle", "menclose",
];
const MATHML_ATTRS = [
  "display", "encoding", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "width", "height",
  "depth", "voffset", "notation", "scriptlevel", "displaystyle", "linethickness", "columnalign", "columnspacing",
  "columnlines", "rowspacing", "rowlines", "minsize", "maxsize", "accent", "accentunder", "largeop",
  "movablelimits", "symmetric", "mathcolor", "mathbackground", "mathsize",
];
const PURIFY = {
  ALLOWED_TAGS: [
    "p", "br", "hr", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li", "strong", "em", "s", "code", "pre",
    "a", "table", "thead", "tbody", "tr", "th", "td", "span", "div", ...MATHML_TAGS,
  ],
  ALLOWED_ATTR: ["href", "title", "class", "start", ...MATHML_ATTRS],
  ALLOWED_URI_REGEXP: SAFE_URL, // checked on href; the attributes below are not URLs, so they are exempt
  ADD_URI_SAFE_ATTR: ["start", ...MATHML_ATTRS],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

purifier.setConfig(PURIFY);

const cache = new Map();

export function renderMarkdown(answer) {
  const text = String(answer ?? "");
  let clean = cache.get(text);
  if (clean) {
    cache.delete(text); // most recently used goes last
  } else {
    clean = purifier.sanitize(md.render(text));
    decorate(clean);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value);
  }
  cache.set(text, clean);
  const fragment = clean.cloneNode(true);
  fragment.querySelectorAll("button.copy-code").forEach(wireCopyButton);
  return fragment;
}

// ---- markdown-it configuration ----------------------------------------------------------------------

function highlight(code, lang) {
  if (!lang || !hljs.getLanguage(lang)) return ""; // markdown-it escapes it; no guessing on every chunk
  try {
    return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
  } catch {
    return "";
  }
}

// The page's own headings are h1 (the page) and h2 (each pane), so an answer's # starts at h3.
function shiftHeadingsAndAlignCells(state) {
  for (const token of state.tokens) {
    if (token.type === "heading_open" || token.type === "heading_close") {
      token.tag = `h${Math.min(Number(token.tag.slice(1)) + 2, 6)}`;
    } else if (token.type === "th_open" || token.type === "td_open") {
      // markdown-it aligns cells with a style attribute, which the CSP refuses: use a class instead.
      const align = (token.attrGet("style") || "").match(/text-align:(left|center|right)/);
      if (token.attrs) token.attrs = token.attrs.filter(([name]) => name !== "style");
      if (align) token.attrJoin("class", `align-${align[1]}`);
    }
  }
}

function imageAsLink(tokens, idx, options, env, self) {
  const token = tokens[idx];
  const alt = self.renderInlineAsText(token.children || [], options, env).trim();
  const label = md.utils.escapeHtml(alt ? interpolate(gettext("Image: %(alt)s"), { alt }) : gettext("Image"));
  const insideLink = tokens.slice(0, idx).reduce((depth, t) => depth + (t.type === "link_open") - (t.type === "link_close"), 0) > 0;
  const src = token.attrGet("src") || "";
  if (insideLink || !SAFE_URL.test(src)) return label;
  const title = token.attrGet("title");
  const titleAttr = title ? ` title="${md.utils.escapeHtml(title)}"` : "";
  return `<a class="image-link" href="${md.utils.escapeHtml(src)}"${titleAttr}>${label}</a>`;
}

// ---- math: $…$ and \(…\) inline, $$…$$ and \[…\] display -----------------------------------------------

const DISPLAY = [["$$", "$$"], ["\\[", "\\]"]];

function mathPlugin(markdown) {
  markdown.inline.ruler.before("escape", "math_inline", mathInline);
  markdown.block.ruler.before("fence", "math_block", mathBlock, { alt: ["paragraph", "reference", "blockquote", "list"] });
  markdown.renderer.rules.math_inline = (tokens, idx) => renderTex(tokens[idx], tokens[idx].markup === "$$" || tokens[idx].markup === "\\[");
  markdown.renderer.rules.math_block = (tokens, idx) => `<div class="math-block">${renderTex(tokens[idx], true)}</div>\n`;
}

function mathInline(state, silent) {
  const src = state.src;
  const start = state.pos;
  let open;
  let close;
  if (src.startsWith("$$", start)) [open, close] = ["$$", "$$"];
  else if (src.startsWith("\\[", start)) [open, close] = ["\\[", "\\]"];
  else if (src.startsWith("\\(", start)) [open, close] = ["\\(", "\\)"];
  else if (src[start] === "$") [open, close] = ["$", "$"];
  else return false;
  const from = start + open.length;
  let end;
  if (open === "$") {
    // Pandoc's rule, so prices stay text: "$5 and $10" is no math; "$x$" is.
    if (/\s/.test(src[from] || " ")) return false;
    end = from;
    for (;;) {
      end = src.indexOf("$", end);
      if (end < 0) return false; // unclosed (maybe still streaming): text
      if (src[end - 1] !== "\\") break;
      end += 1;
    }
    if (end === from || /\s/.test(src[end - 1]) || /\d/.test(src[end + 1] || "")) return false;
  } else {
    end = src.indexOf(close, from);
    if (end < 0 || !src.slice(from, end).trim()) return false;
  }
  if (!silent) {
    const token = state.push("math_inline", "math", 0);
    token.markup = open;
    token.info = close;
    token.content = src.slice(from, end);
  }
  state.pos = end + close.length;
  return true;
}

function mathBlock(state, startLine, endLine, silent) {
  if (state.sCount[startLine] - state.blkIndent >= 4) return false; // an indented code block
  const lineText = (n) => state.src.slice(state.bMarks[n] + state.tShift[n], state.eMarks[n]);
  const first = lineText(startLine);
  const pair = DISPLAY.find(([open]) => first.startsWith(open));
  if (!pair) return false;
  const [open, close] = pair;
  const rest = first.slice(open.length);
  const body = [];
  let last = startLine;
  const closing = rest.indexOf(close);
  if (closing >= 0) {
    if (rest.slice(closing + close.length).trim() || !rest.slice(0, closing).trim()) return false; // inline's business
    body.push(rest.slice(0, closing));
  } else {
    body.push(rest);
    for (last = startLine + 1; ; last += 1) {
      // Unclosed, or a blank line (TeX allows none in display math): not math, at least not yet.
      if (last >= endLine || state.isEmpty(last) || state.sCount[last] < state.blkIndent) return false;
      const line = lineText(last);
      const at = line.indexOf(close);
      if (at >= 0) {
        if (line.slice(at + close.length).trim()) return false;
        body.push(line.slice(0, at));
        break;
      }
      body.push(line);
    }
  }
  if (silent) return true;
  const token = state.push("math_block", "math", 0);
  token.block = true;
  token.markup = open;
  token.info = close;
  token.content = body.join("\n").trim();
  token.map = [startLine, last + 1];
  state.line = last + 1;
  return true;
}

function renderTex(token, displayMode) {
  try {
    return katex.renderToString(token.content, {
      displayMode,
      output: "mathml", // no inline styles, unlike KaTeX's HTML output
      throwOnError: true,
      trust: false, // \href, \url, \includegraphics, \htmlData… render as unsupported commands
      strict: "ignore",
      maxSize: 50,
      maxExpand: 500,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const source = token.markup + token.content + token.info;
    return `<code class="math-error" title="${md.utils.escapeHtml(message)}">${md.utils.escapeHtml(source)}</code>`;
  }
}

// ---- tables and code blocks ------------------------------------------------------------------------------------

function decorate(root) {
  for (const table of root.querySelectorAll("table")) {
    const scroll = document.createElement("div");
    scroll.className = "table-scroll"; // a wide table scrolls inside the pane instead of widening it
    table.replaceWith(scroll);
    scroll.append(table);
  }
  for (const pre of root.querySelectorAll("pre")) {
    const code = pre.querySelector("code");
    if (!code) continue;
    if (code.querySelector("[class^='hljs-']")) code.classList.add("hljs");
    const lang = [...code.classList].find((name) => /^language-[\w+#.-]+$/.test(name)); // labels only plausible names
    const block = document.createElement("div");
    block.className = "code-block";
    const bar = document.createElement("div");
    bar.className = "code-bar";
    if (lang) {
      const label = document.createElement("span");
      label.className = "code-lang";
      label.textContent = lang.slice("language-".length);
      bar.append(label);
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-code";
    button.textContent = gettext("Copy code");
    button.setAttribute("aria-live", "polite");
    bar.append(button);
    pre.replaceWith(block);
    block.append(bar, pre);
  }
}

function wireCopyButton(button) {
  wireCopy(button, () => {
    const code = button.closest(".code-block")?.querySelector("pre > code");
    return (code?.textContent || "").replace(/\n$/, "");
  });
}

// A button that copies getText() and says "Copied" (or "Copy failed") for a moment, then its label again.
export function wireCopy(button, getText) {
  const label = button.textContent;
  let timer = 0;
  button.addEventListener("click", async () => {
    let said = gettext("Copied");
    try {
      await navigator.clipboard.writeText(getText());
    } catch {
      said = gettext("Copy failed");
    }
    button.textContent = said;
    clearTimeout(timer);
    timer = setTimeout(() => {
      button.textContent = label;
    }, COPIED_FOR_MS);
  });
}
