// The page of `gjobs serve`. No framework and no build step: the DOM, fetch and EventSource.
//
// What the page holds is only a view: every job, turn and event comes from the server (the store
// and the event journal); a reload or a second tab rebuilds the same view from there. Model text is
// only ever placed with textContent or the DOM-building Markdown renderer (markdown.js).
(function () {
  "use strict";

  const TERMINAL = new Set(["completed", "failed", "cancelled", "incomplete", "budget_exceeded", "expired"]);
  const TOKEN = document.querySelector('meta[name="jobs-token"]').content;
  const $ = (id) => document.getElementById(id);

  const state = {
    config: { default_model: "", research_agent: "" },
    turns: new Map(), // job id -> turn (from /conversation, updated by job and journal events)
    order: [], // job ids of the conversation, oldest first
    live: new Map(), // job id -> what its journal events said (status, steps, usage, error)
    seen: new Set(), // journal seqs already shown: a replayed event is never shown twice
    lastSeq: 0,
    jobs: new Map(), // the jobs panel
    stream: null,
    streamJobs: "",
    outbox: [], // messages typed but not yet recorded by the server, in order
    sending: false,
    skew: 0, // the server's clock minus this device's, in ms
    dirty: new Set(),
    frame: 0,
  };
  window.jobsPage = state; // for the browser tests and the curious

  // -- helpers ------------------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function api(path, options) {
    const init = Object.assign({ headers: {} }, options || {});
    if (init.body !== undefined) {
      init.method = init.method || "POST";
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(init.body);
    }
    if (init.method && init.method !== "GET") init.headers["x-jobs-token"] = TOKEN;
    const response = await fetch(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error((data && data.error) || response.status + " " + response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function tokens(n) {
    if (n === null || n === undefined) return "";
    return n >= 10000 ? (n / 1000).toFixed(n >= 100000 ? 0 : 1) + "k" : n.toLocaleString("en");
  }

  function age(iso) {
    if (!iso) return "";
    // Ages on the store's clock (the server says what time it is), not this device's.
    const s = Math.max(0, (Date.now() + state.skew - Date.parse(iso)) / 1000);
    if (s < 60) return Math.round(s) + "s";
    if (s < 3600) return Math.round(s / 60) + "m";
    if (s < 86400) return Math.round(s / 3600) + "h";
    return Math.round(s / 86400) + "d";
  }

  function clock(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toISOString().slice(11, 23);
  }

  function statusLabel(status) {
    return (status || "").replace(/_/g, " ");
  }

  // -- the conversation ---------------------------------------------------------------------------

  function conversationId() {
    return state.order.length ? state.order[0] : null;
  }

  function rememberConversation() {
    const id = conversationId();
    if (id) {
      localStorage.setItem("jobs.conversation", id);
      if (location.hash !== "#c=" + id) history.replaceState(null, "", "#c=" + id);
    } else {
      localStorage.removeItem("jobs.conversation");
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  async function openConversation(jobId) {
    const data = await api("/api/jobs/" + encodeURIComponent(jobId) + "/conversation");
    const ids = data.turns.map((t) => t.id);
    const same = ids.length && state.order.length && ids[0] === state.order[0];
    if (!same) resetConversation();
    data.turns.forEach((turn) => state.turns.set(turn.id, turn));
    state.order = ids;
    rememberConversation();
    renderConversation();
    openStream();
  }

  function resetConversation() {
    state.turns.clear();
    state.order = [];
    state.live.clear();
    state.seen.clear();
    state.lastSeq = 0;
    $("event-list").textContent = "";
    $("turns").querySelectorAll(".turn").forEach((n) => n.remove());
    updateEventCount();
  }

  function newConversation() {
    resetConversation();
    rememberConversation();
    renderConversation();
    openStream();
    $("message").focus();
  }

  function liveOf(jobId) {
    let live = state.live.get(jobId);
    if (!live) {
      live = { status: null, steps: [], usage: null, error: null, events: 0 };
      state.live.set(jobId, live);
    }
    return live;
  }

  // What one journal event adds to the readable turn. Unknown types change nothing here (the
  // inspector still shows them).
  function applyEvent(ev) {
    const live = liveOf(ev.job_id);
    const p = ev.payload || {};
    live.events++;
    switch (ev.type) {
      case "interaction.created":
        if (p.interaction && p.interaction.status) live.status = p.interaction.status;
        break;
      case "interaction.status_update":
        if (p.status) live.status = p.status;
        if (p.usage) live.usage = p.usage;
        break;
      case "step.start": {
        const step = p.step || {};
        live.steps[p.index] = { type: step.type, text: "", thought: "", step: step };
        break;
      }
      case "step.delta": {
        const d = p.delta || {};
        const step = live.steps[p.index] || (live.steps[p.index] = { type: null, text: "", thought: "", step: {} });
        if (d.type === "text" && typeof d.text === "string") {
          step.type = step.type || "model_output";
          step.text += d.text;
        } else if (d.type === "thought_summary") {
          step.type = step.type || "thought";
          const content = Array.isArray(d.content) ? d.content : [d.content];
          content.forEach((c) => {
            if (c && typeof c.text === "string") step.thought += c.text;
          });
        } else if (d.type === "google_search_call" && d.arguments && typeof d.arguments === "object") {
          // A call's arguments may come as a delta after its step.start (the SDK's delta types).
          step.step.arguments = Object.assign({}, step.step.arguments || {}, d.arguments);
        }
        break;
      }
      case "interaction.completed":
        if (p.interaction) {
          if (p.interaction.status) live.status = p.interaction.status;
          if (p.interaction.usage) live.usage = p.interaction.usage;
        }
        break;
      case "error":
        live.error = (p.error && (p.error.message || p.error.code)) || "error";
        break;
      default:
        break;
    }
  }

  function turnStatus(turn) {
    const live = state.live.get(turn.id);
    // The store's status is the truth once it is terminal; before that, the journal is fresher.
    if (TERMINAL.has(turn.status) || !live || !live.status) return turn.status;
    return live.status;
  }

  function answerText(turn) {
    if (typeof turn.output_text === "string" && turn.output_text) return turn.output_text;
    const live = state.live.get(turn.id);
    if (!live) return "";
    return live.steps.filter((s) => s && s.type === "model_output").map((s) => s.text).join("");
  }

  function thoughtTexts(turn) {
    const live = state.live.get(turn.id);
    const fromEvents = live ? live.steps.filter((s) => s && s.type === "thought" && s.thought).map((s) => s.thought) : [];
    if (fromEvents.length) return fromEvents;
    return Array.isArray(turn.thoughts) ? turn.thoughts : [];
  }

  function searches(turn) {
    const live = state.live.get(turn.id);
    if (!live) return [];
    const out = [];
    live.steps.forEach((s) => {
      if (s && s.type === "google_search_call" && s.step.arguments && Array.isArray(s.step.arguments.queries)) {
        out.push(...s.step.arguments.queries);
      }
    });
    return out;
  }

  function usageLine(turn) {
    const u = turn.usage || {};
    if (u.total_tokens !== null && u.total_tokens !== undefined) {
      return [
        ["in", u.input_tokens],
        ["out", u.output_tokens],
        ["thought", u.thought_tokens],
        ["cached", u.cached_tokens],
        ["tools", u.tool_use_tokens],
        ["total", u.total_tokens],
      ];
    }
    const live = state.live.get(turn.id);
    const w = live && live.usage;
    if (!w) return null;
    return [
      ["in", w.total_input_tokens],
      ["out", w.total_output_tokens],
      ["thought", w.total_thought_tokens],
      ["cached", w.total_cached_tokens],
      ["tools", w.total_tool_use_tokens],
      ["total", w.total_tokens],
    ];
  }

  function statusText(turn, status) {
    if (status === "pending" && turn.parent_job_id) {
      const parent = state.turns.get(turn.parent_job_id);
      if (parent && !TERMINAL.has(parent.status)) return "waiting for " + turn.parent_job_id + " to finish";
      return "sending";
    }
    return statusLabel(status);
  }

  function buildTurn(turn) {
    const article = el("article", "turn");
    article.dataset.job = turn.id;
    const user = el("div", "msg user");
    const bubble = el("div", "bubble");
    bubble.textContent = turn.message || turn.prompt || "";
    user.appendChild(bubble);
    const meta = el("div", "meta");
    user.appendChild(meta);
    article.appendChild(user);

    const model = el("div", "msg model");
    const head = el("div", "turn-head");
    head.appendChild(el("span", "badge status"));
    head.appendChild(el("span", "target muted"));
    const cancel = el("button", "button small danger cancel", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => cancelJob(turn.id, cancel));
    head.appendChild(cancel);
    model.appendChild(head);
    const thoughts = el("details", "thoughts");
    const summary = el("summary", null, "Thought summaries");
    summary.addEventListener("click", () => (thoughts.dataset.touched = "1"));
    thoughts.appendChild(summary);
    thoughts.appendChild(el("div", "thought-list"));
    model.appendChild(thoughts);
    model.appendChild(el("div", "searches muted"));
    model.appendChild(el("div", "answer markdown"));
    model.appendChild(el("div", "turn-error"));
    model.appendChild(el("div", "usage muted"));
    article.appendChild(model);
    return article;
  }

  function renderTurn(turn) {
    const container = $("turns");
    let article = container.querySelector('.turn[data-job="' + CSS.escape(turn.id) + '"]');
    if (!article) {
      article = buildTurn(turn);
      container.appendChild(article);
    }
    const status = turnStatus(turn);
    article.dataset.status = status;
    const meta = [turn.id];
    if (turn.system) meta.push("system: " + turn.system);
    article.querySelector(".meta").textContent = meta.join(" · ");
    const badge = article.querySelector(".badge.status");
    badge.textContent = statusText(turn, status);
    badge.dataset.status = status;
    article.querySelector(".target").textContent = turn.agent || turn.model || "";
    article.querySelector(".cancel").hidden = TERMINAL.has(turn.status);

    const thoughts = thoughtTexts(turn);
    const details = article.querySelector(".thoughts");
    details.hidden = thoughts.length === 0;
    // Open while the turn thinks (that is what there is to see), closed once it has answered;
    // a reader who opens or closes it decides from then on.
    if (!details.dataset.touched) details.open = !TERMINAL.has(status) && !answerText(turn);
    details.querySelector("summary").textContent = "Thought summaries (" + thoughts.length + ")";
    const list = details.querySelector(".thought-list");
    if (list.dataset.n !== String(thoughts.length) || list.dataset.len !== String(thoughts.join("").length)) {
      list.textContent = "";
      thoughts.forEach((t) => {
        const item = el("div", "thought markdown");
        item.appendChild(window.JobsMarkdown.render(t));
        list.appendChild(item);
      });
      list.dataset.n = String(thoughts.length);
      list.dataset.len = String(thoughts.join("").length);
    }
    const queries = searches(turn);
    const distinct = Array.from(new Set(queries));
    article.querySelector(".searches").textContent = queries.length
      ? "Searched " + queries.length + (queries.length === 1 ? " time: " : " times: ") + distinct.join(" · ")
      : "";

    const text = answerText(turn);
    const answer = article.querySelector(".answer");
    if (answer.dataset.len !== String(text.length)) {
      answer.textContent = "";
      answer.appendChild(window.JobsMarkdown.render(text));
      answer.dataset.len = String(text.length);
    }
    answer.classList.toggle("growing", !TERMINAL.has(turn.status) && text.length > 0);

    const live = state.live.get(turn.id);
    const error = (turn.error && turn.error.message) || (live && live.error) || "";
    article.querySelector(".turn-error").textContent = TERMINAL.has(turn.status) && turn.status !== "completed" || (live && live.error) ? error : "";
    const usage = article.querySelector(".usage");
    usage.textContent = "";
    const figures = usageLine(turn);
    if (figures && TERMINAL.has(status)) {
      figures.forEach(([name, value]) => {
        if (value === null || value === undefined) return;
        const span = el("span", "figure");
        span.appendChild(el("b", null, tokens(value)));
        span.appendChild(document.createTextNode(" " + name));
        usage.appendChild(span);
      });
      usage.appendChild(el("span", "figure", "tokens"));
    }
  }

  function renderOutbox() {
    const container = $("turns");
    container.querySelectorAll(".turn.outbox").forEach((n) => n.remove());
    state.outbox.forEach((item) => {
      const article = el("article", "turn outbox");
      const user = el("div", "msg user");
      user.appendChild(el("div", "bubble", item.prompt));
      user.appendChild(el("div", "meta", "sending…"));
      article.appendChild(user);
      container.appendChild(article);
    });
  }

  function renderConversation() {
    $("empty-hint").hidden = state.order.length > 0 || state.outbox.length > 0;
    const first = state.order.length ? state.turns.get(state.order[0]) : null;
    $("conv-title").textContent = first ? "Conversation " + first.id : "New conversation";
    const container = $("turns");
    container.querySelectorAll(".turn:not(.outbox)").forEach((n) => {
      if (!state.turns.has(n.dataset.job) || !state.order.includes(n.dataset.job)) n.remove();
    });
    state.order.forEach((id) => renderTurn(state.turns.get(id)));
    // keep DOM order = conversation order, the outbox last
    state.order.forEach((id) => {
      const n = container.querySelector('.turn[data-job="' + CSS.escape(id) + '"]');
      if (n) container.appendChild(n);
    });
    renderOutbox();
    scrollTurns();
  }

  function scrollTurns() {
    const box = $("turns");
    if (box.scrollHeight - box.scrollTop - box.clientHeight < 160 || state.stickBottom) {
      box.scrollTop = box.scrollHeight;
    }
  }

  function scheduleRender(jobId) {
    state.dirty.add(jobId);
    if (state.frame) return;
    state.frame = requestAnimationFrame(() => {
      state.frame = 0;
      const ids = Array.from(state.dirty);
      state.dirty.clear();
      ids.forEach((id) => {
        const turn = state.turns.get(id);
        if (turn) renderTurn(turn);
      });
      scrollTurns();
    });
  }

  // -- sending ------------------------------------------------------------------------------------

  function target() {
    const kind = $("target-kind").value;
    const name = $("target-name").value.trim();
    if (kind === "agent") return { agent: name || state.config.research_agent };
    return { model: name || state.config.default_model };
  }

  function queueMessage() {
    const box = $("message");
    const prompt = box.value;
    if (!prompt.trim()) return;
    box.value = "";
    $("composer-error").textContent = "";
    const system = $("system").value.trim();
    state.outbox.push(Object.assign({ prompt: prompt, system: system || null }, target()));
    state.stickBottom = true;
    renderConversation();
    state.stickBottom = false;
    drainOutbox();
  }

  // One POST at a time, in the order typed: each message continues the one before it, and a
  // message whose predecessor still runs is recorded as waiting (pending) by the server.
  async function drainOutbox() {
    if (state.sending) return;
    state.sending = true;
    try {
      while (state.outbox.length) {
        const item = state.outbox[0];
        const after = state.order.length ? state.order[state.order.length - 1] : null;
        try {
          const data = await api("/api/messages", {
            body: { prompt: item.prompt, after: after, model: item.model, agent: item.agent, system: item.system },
          });
          state.outbox.shift();
          const turn = data.turn;
          state.turns.set(turn.id, turn);
          if (!state.order.includes(turn.id)) state.order.push(turn.id);
          rememberConversation();
          renderConversation();
          openStream();
        } catch (error) {
          state.outbox.shift();
          renderConversation();
          const box = $("message");
          if (!box.value) box.value = item.prompt; // nothing is lost: the text comes back
          $("composer-error").textContent = error.message;
          break;
        }
      }
    } finally {
      state.sending = false;
    }
  }

  async function cancelJob(jobId, button) {
    if (button) button.disabled = true;
    try {
      const data = await api("/api/jobs/" + encodeURIComponent(jobId) + "/cancel", { method: "POST" });
      updateJob(data.job);
    } catch (error) {
      $("composer-error").textContent = error.message;
    } finally {
      if (button) button.disabled = false;
    }
  }

  // -- the live stream ----------------------------------------------------------------------------

  function setConn(stateName, text) {
    const conn = $("conn");
    conn.dataset.state = stateName;
    conn.textContent = text;
  }

  function openStream() {
    const jobs = state.order.join(",");
    if (state.stream && state.streamJobs === jobs) return;
    if (state.stream) state.stream.close();
    state.streamJobs = jobs;
    // A new set of jobs replays from the start; events already shown are skipped by seq.
    const url = "/api/stream?after=0" + (jobs ? "&jobs=" + encodeURIComponent(jobs) : "");
    const stream = new EventSource(url);
    state.stream = stream;
    stream.addEventListener("hello", () => {
      setConn("live", "live");
      refreshJobs();
      if (state.order.length) refreshTurns();
    });
    stream.addEventListener("journal", (message) => {
      const ev = JSON.parse(message.data);
      addEvent(ev);
    });
    stream.addEventListener("job", (message) => updateJob(JSON.parse(message.data)));
    stream.addEventListener("jobs_changed", () => refreshJobs());
    stream.onerror = () => {
      if (state.stream === stream) setConn("down", "reconnecting…");
    };
  }

  function addEvent(ev) {
    if (state.seen.has(ev.seq)) {
      state.duplicatesSkipped = (state.duplicatesSkipped || 0) + 1;
      return;
    }
    state.seen.add(ev.seq);
    state.lastSeq = Math.max(state.lastSeq, ev.seq);
    const before = state.live.has(ev.job_id) ? state.live.get(ev.job_id).status : null;
    applyEvent(ev);
    appendInspector(ev);
    scheduleRender(ev.job_id);
    const job = state.jobs.get(ev.job_id);
    if (job && state.live.get(ev.job_id).status !== before) renderJobRow(job);
  }

  function preview(payload) {
    const copy = Object.assign({}, payload);
    delete copy.event_type;
    delete copy.event_id;
    const text = JSON.stringify(copy);
    return text.length > 160 ? text.slice(0, 159) + "…" : text;
  }

  function appendInspector(ev) {
    const list = $("event-list");
    const item = el("li", "event");
    item.dataset.seq = String(ev.seq);
    item.dataset.type = ev.type;
    const head = el("button", "event-head");
    head.type = "button";
    head.setAttribute("aria-expanded", "false");
    head.appendChild(el("span", "seq", "#" + ev.seq));
    head.appendChild(el("span", "etype", ev.type));
    head.appendChild(el("span", "ejob", ev.job_id));
    head.appendChild(el("span", "etime", clock(ev.received_at)));
    item.appendChild(head);
    item.appendChild(el("code", "epreview", preview(ev.payload || {})));
    const full = el("pre", "epayload");
    full.hidden = true;
    item.appendChild(full);
    head.addEventListener("click", () => {
      const open = full.hidden;
      if (open && !full.textContent) full.textContent = JSON.stringify(ev.payload, null, 2);
      full.hidden = !open;
      item.classList.toggle("open", open);
      head.setAttribute("aria-expanded", String(open));
    });
    // Keep journal order even if a replay brings an older seq after a newer one.
    let before = null;
    for (let n = list.lastElementChild; n; n = n.previousElementSibling) {
      if (Number(n.dataset.seq) < ev.seq) break;
      before = n;
    }
    list.insertBefore(item, before);
    updateEventCount();
    if ($("autoscroll").checked) {
      const pane = $("event-list");
      pane.scrollTop = pane.scrollHeight;
    }
  }

  function updateEventCount() {
    const n = state.seen.size;
    $("event-count").textContent = n ? n + (n === 1 ? " event" : " events") : "";
    $("tab-event-count").textContent = n ? String(n) : "";
  }

  // A job changed somewhere (this page, the CLI, a batch, the worker).
  function updateJob(job) {
    state.jobs.set(job.id, Object.assign(state.jobs.get(job.id) || {}, job));
    renderJobRow(job);
    const turn = state.turns.get(job.id);
    if (turn) {
      const ended = TERMINAL.has(job.status) && !TERMINAL.has(turn.status);
      Object.assign(turn, job);
      turn.terminal = TERMINAL.has(job.status);
      scheduleRender(job.id);
      if (ended) refreshTurns(); // the final answer, thoughts and error, as recorded
      // a turn waiting on this one changes its label too
      state.order.forEach((id) => {
        const t = state.turns.get(id);
        if (t && t.parent_job_id === job.id) scheduleRender(id);
      });
    } else if (job.parent_job_id && state.order.includes(job.parent_job_id)) {
      // a new turn of this conversation (another tab, or the CLI's --continue)
      openConversation(job.id).catch(() => {});
    }
  }

  let refreshing = null;
  let refreshAgain = false;
  function refreshTurns() {
    if (!state.order.length) return;
    if (refreshing) {
      refreshAgain = true; // what changed meanwhile may not be in the answer on its way
      return;
    }
    refreshing = api("/api/jobs/" + encodeURIComponent(state.order[state.order.length - 1]) + "/conversation")
      .then((data) => {
        data.turns.forEach((t) => {
          const known = state.turns.get(t.id);
          state.turns.set(t.id, known ? Object.assign(known, t) : t);
          if (!state.order.includes(t.id)) state.order.push(t.id);
        });
        renderConversation();
        openStream();
      })
      .catch(() => {})
      .finally(() => {
        refreshing = null;
        if (refreshAgain) {
          refreshAgain = false;
          refreshTurns();
        }
      });
  }

  // -- the jobs panel -----------------------------------------------------------------------------

  let jobsTimer = 0;
  function refreshJobsSoon() {
    clearTimeout(jobsTimer);
    jobsTimer = setTimeout(refreshJobs, 200);
  }

  async function refreshJobs() {
    const q = $("job-filter").value.trim();
    const status = $("status-filter").value;
    const params = new URLSearchParams({ limit: "200" });
    if (q) params.set("q", q);
    if (status) params.set("status", status);
    try {
      const data = await api("/api/jobs?" + params.toString());
      if (data.now) state.skew = Date.parse(data.now) - Date.now();
      const list = $("job-list");
      list.textContent = "";
      state.jobs.clear();
      data.jobs.forEach((job) => {
        state.jobs.set(job.id, job);
        list.appendChild(jobRow(job));
      });
      const total = Object.values(data.counts || {}).reduce((a, b) => a + b, 0);
      $("jobs-count").textContent = data.jobs.length + (total > data.jobs.length ? " of " + total : "");
      markCurrent();
    } catch (error) {
      $("jobs-count").textContent = error.message;
    }
  }

  function matchesFilter(job) {
    const q = $("job-filter").value.trim().toLowerCase();
    const status = $("status-filter").value;
    if (q && !(job.prompt || "").toLowerCase().includes(q)) return false;
    if (status && !status.split(",").includes(job.status)) return false;
    return true;
  }

  function jobRow(job) {
    const li = el("li", "job-row");
    li.dataset.job = job.id;
    fillJobRow(li, job);
    return li;
  }

  // The store's status, or for a job of the open conversation what its stream said since.
  function shownStatus(job) {
    const live = state.live.get(job.id);
    if (!TERMINAL.has(job.status) && live && live.status) return live.status;
    return job.status;
  }

  function fillJobRow(li, job) {
    li.textContent = "";
    const status = shownStatus(job);
    li.dataset.status = status;
    const open = el("button", "job-open");
    open.type = "button";
    const top = el("span", "job-top");
    const waiting = status === "pending" && job.parent_job_id;
    const badge = el("span", "badge status", waiting ? "waiting" : statusLabel(status));
    badge.dataset.status = status;
    if (waiting) badge.title = "waits for " + job.parent_job_id + " to finish";
    top.appendChild(badge);
    top.appendChild(el("span", "job-id", job.id));
    top.appendChild(el("span", "job-age muted", age(job.created_at)));
    open.appendChild(top);
    open.appendChild(el("span", "job-prompt", job.prompt || ""));
    const bottom = el("span", "job-bottom muted");
    bottom.appendChild(el("span", "job-target", job.agent || job.model || ""));
    const total = job.usage && job.usage.total_tokens;
    bottom.appendChild(el("span", "job-tokens", total !== null && total !== undefined ? tokens(total) + " tokens" : ""));
    open.appendChild(bottom);
    open.addEventListener("click", () => {
      openConversation(job.id).catch((e) => ($("composer-error").textContent = e.message));
      showPane("chat");
    });
    li.appendChild(open);
    if (!TERMINAL.has(job.status)) {
      const cancel = el("button", "button small danger job-cancel", "Cancel");
      cancel.type = "button";
      cancel.setAttribute("aria-label", "Cancel job " + job.id);
      cancel.addEventListener("click", () => cancelJob(job.id, cancel));
      li.appendChild(cancel);
    }
    li.classList.toggle("current", state.order.includes(job.id));
  }

  function renderJobRow(job) {
    const list = $("job-list");
    const row = list.querySelector('.job-row[data-job="' + CSS.escape(job.id) + '"]');
    if (!matchesFilter(job)) {
      if (row) row.remove();
      return;
    }
    if (row) fillJobRow(row, job);
    else list.insertBefore(jobRow(job), list.firstChild);
  }

  function markCurrent() {
    $("job-list").querySelectorAll(".job-row").forEach((row) => {
      row.classList.toggle("current", state.order.includes(row.dataset.job));
    });
  }

  // -- layout -------------------------------------------------------------------------------------

  function showPane(name) {
    $("layout").dataset.pane = name;
    document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.dataset.pane === name));
  }

  function setupComposer() {
    const kind = $("target-kind");
    const name = $("target-name");
    const saved = JSON.parse(localStorage.getItem("jobs.target") || "{}");
    kind.value = saved.kind === "agent" ? "agent" : "model";
    const syncName = (keep) => {
      const fallback = kind.value === "agent" ? state.config.research_agent : state.config.default_model;
      name.placeholder = fallback;
      name.setAttribute("aria-label", kind.value === "agent" ? "Agent name" : "Model name");
      if (!keep) name.value = "";
    };
    name.value = saved.name || "";
    syncName(true);
    const save = () => localStorage.setItem("jobs.target", JSON.stringify({ kind: kind.value, name: name.value }));
    kind.addEventListener("change", () => {
      syncName(false);
      save();
    });
    name.addEventListener("change", save);

    const system = $("system");
    system.value = localStorage.getItem("jobs.system") || "";
    const toggle = $("system-toggle");
    const showSystem = (show) => {
      system.hidden = !show;
      toggle.setAttribute("aria-expanded", String(show));
      toggle.classList.toggle("active", show || !!system.value.trim());
    };
    showSystem(!!system.value.trim());
    toggle.addEventListener("click", () => {
      showSystem(system.hidden);
      if (!system.hidden) system.focus();
    });
    system.addEventListener("input", () => localStorage.setItem("jobs.system", system.value));

    const box = $("message");
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        queueMessage();
      }
    });
    box.addEventListener("input", () => {
      box.style.height = "auto";
      box.style.height = Math.min(box.scrollHeight, 220) + "px";
    });
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      queueMessage();
    });
    $("new-conv").addEventListener("click", newConversation);
  }

  async function start() {
    document.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", () => showPane(t.dataset.pane)));
    $("job-filter").addEventListener("input", refreshJobsSoon);
    $("status-filter").addEventListener("change", refreshJobs);
    try {
      state.config = await api("/api/config");
    } catch (error) {
      $("composer-error").textContent = error.message;
    }
    setupComposer();
    const fromHash = (location.hash.match(/^#c=([\w-]+)$/) || [])[1];
    const current = fromHash || localStorage.getItem("jobs.conversation");
    if (current) {
      try {
        await openConversation(current);
      } catch (error) {
        localStorage.removeItem("jobs.conversation");
        newConversation();
      }
    } else {
      newConversation();
    }
    setInterval(() => {
      document.querySelectorAll(".job-age").forEach((n) => {
        const job = state.jobs.get(n.closest(".job-row").dataset.job);
        if (job) n.textContent = age(job.created_at);
      });
    }, 5000);
    $("message").focus();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
