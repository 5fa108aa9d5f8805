// A small Markdown renderer that builds DOM nodes directly.
//
// Model text is never parsed as HTML: every piece of it reaches the page through
// document.createTextNode / textContent, and the only elements created are the fixed set below.
// So a model (or a prompt it quotes) cannot inject markup or script, whatever it writes; raw HTML
// in the Markdown shows as text. Links keep only http(s) and mailto URLs. Part of `jobs`
// (Apache-2.0); no third-party code.
(function () {
  "use strict";

  const SAFE_URL = /^(https?:\/\/|mailto:)/i;

  function el(tag, className) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    return node;
  }

  // Inline: `code`, **bold**, __bold__, *em*, _em_, ~~strike~~, [text](url), <https://autolink>.
  const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([\s\S]+?)\*\*|__([\s\S]+?)__|\*([^\s*][\s\S]*?)\*|\b_([^\s_][\s\S]*?)_\b|~~([\s\S]+?)~~|\[([^\]\n]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)|<(https?:\/\/[^>\s]+)>/g;

  function inline(parent, text) {
    // A regex of its own per call: the recursion below must not move the caller's lastIndex.
    const pattern = new RegExp(INLINE.source, "g");
    let last = 0;
    let m;
    while ((m = pattern.exec(text)) !== null) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[2] !== undefined) {
        const code = el("code");
        code.textContent = m[2].replace(/^ (.*) $/, "$1");
        parent.appendChild(code);
      } else if (m[3] !== undefined || m[4] !== undefined) {
        const strong = el("strong");
        inline(strong, m[3] !== undefined ? m[3] : m[4]);
        parent.appendChild(strong);
      } else if (m[5] !== undefined || m[6] !== undefined) {
        const em = el("em");
        inline(em, m[5] !== undefined ? m[5] : m[6]);
        parent.appendChild(em);
      } else if (m[7] !== undefined) {
        const del = el("del");
        inline(del, m[7]);
        parent.appendChild(del);
      } else if (m[8] !== undefined) {
        link(parent, m[8], m[9], m[0]);
      } else if (m[10] !== undefined) {
        link(parent, m[10], m[10], m[0]);
      }
      last = pattern.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function link(parent, label, url, original) {
    if (!SAFE_URL.test(url)) {
      parent.appendChild(document.createTextNode(original));
      return;
    }
    const a = el("a");
    a.href = url;
    a.rel = "noopener noreferrer nofollow";
    a.target = "_blank";
    inline(a, label);
    parent.appendChild(a);
  }

  function inlineLines(parent, lines) {
    lines.forEach((line, i) => {
      if (i > 0) parent.appendChild(el("br"));
      inline(parent, line.replace(/\s+$/, ""));
    });
  }

  const RE = {
    fence: /^\s{0,3}(```+|~~~+)\s*([\w+-]*)\s*$/,
    heading: /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/,
    rule: /^\s{0,3}([-*_])(\s*\1){2,}\s*$/,
    quote: /^\s{0,3}>\s?(.*)$/,
    bullet: /^(\s*)([-*+])\s+(.*)$/,
    ordered: /^(\s*)(\d{1,9})[.)]\s+(.*)$/,
    tableRow: /^\s*\|.*\|\s*$/,
    tableSep: /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/,
    blank: /^\s*$/,
  };

  function cells(row) {
    return row.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
  }

  function blocks(parent, lines) {
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if (RE.blank.test(line)) {
        i++;
      } else if ((m = RE.fence.exec(line))) {
        const fence = m[1];
        const body = [];
        i++;
        while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
        i++; // the closing fence (or the end: a fence still being written)
        const pre = el("pre");
        const code = el("code");
        if (m[2]) code.dataset.lang = m[2];
        code.textContent = body.join("\n");
        pre.appendChild(code);
        parent.appendChild(pre);
      } else if ((m = RE.heading.exec(line))) {
        const h = el("h" + m[1].length);
        inline(h, m[2]);
        parent.appendChild(h);
        i++;
      } else if (RE.rule.test(line)) {
        parent.appendChild(el("hr"));
        i++;
      } else if (RE.quote.test(line)) {
        const body = [];
        while (i < lines.length && (m = RE.quote.exec(lines[i]))) {
          body.push(m[1]);
          i++;
        }
        const quote = el("blockquote");
        blocks(quote, body);
        parent.appendChild(quote);
      } else if (RE.bullet.test(line) || RE.ordered.test(line)) {
        i = list(parent, lines, i);
      } else if (RE.tableRow.test(line) && i + 1 < lines.length && RE.tableSep.test(lines[i + 1])) {
        const table = el("table");
        const head = el("thead");
        const tr = el("tr");
        cells(line).forEach((c) => {
          const th = el("th");
          inline(th, c);
          tr.appendChild(th);
        });
        head.appendChild(tr);
        table.appendChild(head);
        const body = el("tbody");
        i += 2;
        while (i < lines.length && RE.tableRow.test(lines[i])) {
          const row = el("tr");
          cells(lines[i]).forEach((c) => {
            const td = el("td");
            inline(td, c);
            row.appendChild(td);
          });
          body.appendChild(row);
          i++;
        }
        table.appendChild(body);
        const wrap = el("div", "table-wrap");
        wrap.appendChild(table);
        parent.appendChild(wrap);
      } else {
        const para = [];
        while (
          i < lines.length &&
          !RE.blank.test(lines[i]) &&
          !RE.fence.test(lines[i]) &&
          !RE.heading.test(lines[i]) &&
          !RE.quote.test(lines[i]) &&
          !(para.length && (RE.bullet.test(lines[i]) || RE.ordered.test(lines[i])))
        ) {
          para.push(lines[i]);
          i++;
        }
        const p = el("p");
        inlineLines(p, para);
        parent.appendChild(p);
      }
    }
  }

  function list(parent, lines, i) {
    const first = RE.bullet.exec(lines[i]) || RE.ordered.exec(lines[i]);
    const ordered = !RE.bullet.test(lines[i]);
    const indent = first[1].length;
    const node = el(ordered ? "ol" : "ul");
    if (ordered && first[2] !== "1") node.start = parseInt(first[2], 10);
    let item = null;
    let body = [];
    const flush = () => {
      if (item) {
        if (body.length > 1 || body.some((l) => RE.bullet.test(l) || RE.ordered.test(l))) {
          blocks(item, body);
        } else {
          inlineLines(item, body);
        }
      }
    };
    while (i < lines.length) {
      const line = lines[i];
      const m = (ordered ? RE.ordered : RE.bullet).exec(line);
      if (m && m[1].length === indent) {
        flush();
        item = el("li");
        node.appendChild(item);
        body = [m[3]];
        i++;
      } else if (RE.blank.test(line)) {
        const next = lines[i + 1];
        if (next !== undefined && /^\s+\S/.test(next) && next.search(/\S/) > indent) {
          body.push("");
          i++;
        } else break;
      } else if (line.search(/\S/) > indent) {
        body.push(line.slice(Math.min(line.search(/\S/), indent + 4)));
        i++;
      } else break;
    }
    flush();
    parent.appendChild(node);
    return i;
  }

  function render(text) {
    const fragment = document.createDocumentFragment();
    blocks(fragment, String(text || "").replace(/\r\n?/g, "\n").split("\n"));
    return fragment;
  }

  window.JobsMarkdown = { render };
})();
