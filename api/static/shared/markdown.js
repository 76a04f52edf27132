// A small Markdown reader for the model cards and evaluations that bundles carry (models/<task>/<version>/*.md):
// headings, paragraphs, lists, tables, fenced code, `code`, **bold**, *emphasis*, links and images. It builds DOM
// nodes and sets only textContent, never innerHTML, so a card cannot inject markup or script. No build step.
"use strict";

const cwMarkdown = (() => {
  const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(!\[[^\]]*\]\([^)\s]+\))|(\[[^\]]+\]\([^)\s]+\))|(\*[^*\s][^*]*\*)/g;

  // text with inline marks -> nodes appended to `parent`; image(src, alt) makes an <img> (or null: the alt text)
  function inline(parent, text, image) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) parent.append(text.slice(last, m.index));
      const s = m[0];
      if (m[1]) { const c = document.createElement("code"); c.textContent = s.slice(1, -1); parent.append(c); }
      else if (m[2]) { const b = document.createElement("strong"); inline(b, s.slice(2, -2), image); parent.append(b); }
      else if (m[3]) {
        const [, alt, src] = s.match(/^!\[([^\]]*)\]\(([^)\s]+)\)$/);
        const img = image ? image(src, alt) : null;
        parent.append(img || alt);
      } else if (m[4]) {
        const [, label, href] = s.match(/^\[([^\]]+)\]\(([^)\s]+)\)$/);
        if (/^https?:\/\//.test(href)) {
          const a = document.createElement("a"); a.href = href; a.rel = "noopener noreferrer"; a.target = "_blank";
          inline(a, label, image); parent.append(a);
        } else inline(parent, label, image);  // a file beside the card: its name, the page lists the files
      } else { const e = document.createElement("em"); e.textContent = s.slice(1, -1); parent.append(e); }
      last = m.index + s.length;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  const cells = (line) => line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
  const isRule = (line) => /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(line);
  const ITEM = /^(\s*)([-*+]|\d+[.)])\s+(.*)$/;

  // Markdown text -> DocumentFragment. Headings start at <h3> (the page's own titles are h1, h2).
  function render(text, image = null) {
    const out = document.createDocumentFragment();
    const lines = text.replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) { i++; continue; }
      if (/^\s*```/.test(line)) {
        const pre = document.createElement("pre"), body = [];
        for (i++; i < lines.length && !/^\s*```/.test(lines[i]); i++) body.push(lines[i]);
        pre.textContent = body.join("\n"); out.append(pre); i++; continue;
      }
      const h = line.match(/^(#{1,6})\s+(.*?)\s*#*\s*$/);
      if (h) {
        const el = document.createElement(`h${Math.min(6, h[1].length + 2)}`); inline(el, h[2], image); out.append(el);
        i++; continue;
      }
      if (/^\s*\|/.test(line) && i + 1 < lines.length && isRule(lines[i + 1])) {
        const table = document.createElement("table"), head = table.createTHead(), body = table.createTBody();
        const hr = head.insertRow();
        for (const c of cells(line)) { const th = document.createElement("th"); inline(th, c, image); hr.append(th); }
        for (i += 2; i < lines.length && /^\s*\|/.test(lines[i]); i++) {
          const tr = body.insertRow();
          for (const c of cells(lines[i])) inline(tr.insertCell(), c, image);
        }
        const wrap = document.createElement("div"); wrap.className = "md-table"; wrap.append(table); out.append(wrap);
        continue;
      }
      if (ITEM.test(line)) {
        const ordered = /\d/.test(line.match(ITEM)[2]);
        const list = document.createElement(ordered ? "ol" : "ul"), items = [];
        while (i < lines.length && lines[i].trim()) {
          const m = lines[i].match(ITEM);
          if (m) items.push(m[3]);
          else if (items.length) items[items.length - 1] += ` ${lines[i].trim()}`;  // a continued item
          i++;
        }
        for (const it of items) { const li = document.createElement("li"); inline(li, it, image); list.append(li); }
        out.append(list); continue;
      }
      const para = [line.trim()];  // at least this line, whatever it starts with (no endless loop on a lone "|")
      for (i++; i < lines.length && lines[i].trim() && !/^(#{1,6}\s|\s*```|\s*\|)/.test(lines[i]) && !ITEM.test(lines[i]); i++) {
        para.push(lines[i].trim());
      }
      const p = document.createElement("p"); inline(p, para.join(" "), image); out.append(p);
    }
    return out;
  }

  return { render };
})();
