// dnsemu /ui: the estate drawn, a query form with its path over the drawing, the live queries, the changed answers.
// Talks only to this server's /v1 API (no CDN, nothing from elsewhere); writes text with textContent only.
"use strict";

(() => {
  const MAX_ROWS = 300; // rows kept in the live table
  const MAX_WAITING = 5000; // queries kept while paused
  const ZOOMS = [0.25, 0.35, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2];

  const $ = (id) => document.getElementById(id);
  const state = {
    token: sessionStorage.getItem("dnsemu-token") || "",
    paused: false,
    waiting: [], // queries received and not shown yet
    seen: 0,
    dropped: 0,
    filter: "",
    zoom: 1,
    svg: null,
    size: [0, 0],
    path: null,
    selected: null,
    rowSeq: 0,
    connected: false,
  };

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  function setStatus(text, error = false) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", error);
  }

  async function api(path, accept = "application/json") {
    const headers = { Accept: accept };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    let response;
    try {
      response = await fetch(path, { headers, cache: "no-store" });
    } catch (err) {
      throw new ApiError("the server does not answer (" + err.message + ")", 0);
    }
    if (response.status === 401) {
      $("token-form").hidden = false;
      throw new ApiError("the API wants a bearer token: enter it below", 401);
    }
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try {
        const body = await response.json();
        if (body && body.message) message = body.message;
      } catch (_) { /* not JSON: keep the status line */ }
      throw new ApiError(message, response.status);
    }
    return response;
  }

  function query(params) {
    return Object.entries(params)
      .filter(([, v]) => v !== undefined && v !== null && v !== "")
      .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v))
      .join("&");
  }

  // -- the drawing ---------------------------------------------------------------------------------

  async function draw() {
    const collapse = $("collapse").checked;
    setStatus("Drawing the estate…");
    try {
      const response = await api("/v1/graph?" + query({ format: "svg", collapse: collapse ? "true" : "" }),
        "image/svg+xml");
      // graph.css (a file, as the page's Content-Security-Policy wants) holds the drawing's <style>
      const text = (await response.text()).replace(/<style>[\s\S]*?<\/style>/, "");
      const doc = new DOMParser().parseFromString(text, "image/svg+xml");
      if (doc.getElementsByTagName("parsererror").length) throw new ApiError("the drawing does not parse", 0);
      const svg = document.importNode(doc.documentElement, true);
      state.svg = svg;
      state.size = [parseFloat(svg.getAttribute("width")), parseFloat(svg.getAttribute("height"))];
      const holder = $("drawing");
      holder.replaceChildren(svg);
      if (state.zoom === 1 && state.size[0] > holder.clientWidth) fit();
      else applyZoom();
      if (state.path) highlight(state.path);
      setStatus(state.connected ? "Connected: live queries follow." : "The estate is drawn.");
    } catch (err) {
      setStatus("Cannot draw the estate: " + err.message, true);
    }
  }

  function applyZoom() {
    if (!state.svg) return;
    state.svg.setAttribute("width", String(Math.round(state.size[0] * state.zoom)));
    state.svg.setAttribute("height", String(Math.round(state.size[1] * state.zoom)));
  }

  function fit() {
    const width = $("drawing").clientWidth - 4;
    if (state.size[0] > 0 && width > 0) state.zoom = Math.min(1, width / state.size[0]);
    applyZoom();
  }

  function zoom(direction) {
    const current = state.zoom;
    const next = direction > 0 ? ZOOMS.find((z) => z > current + 1e-6) : [...ZOOMS].reverse().find((z) => z < current - 1e-6);
    if (next !== undefined) state.zoom = next;
    applyZoom();
  }

  function clearPath() {
    state.path = null;
    if (state.svg) {
      state.svg.classList.remove("has-path");
      for (const el of state.svg.querySelectorAll(".on-path, .deciding, .step-focus, .blocked")) {
        el.classList.remove("on-path", "deciding", "step-focus", "blocked");
      }
      for (const path of state.svg.querySelectorAll('path[marker-end="url(#arrow-path)"]')) {
        path.setAttribute("marker-end", "url(#arrow)");
      }
    }
    $("clear-path").disabled = true;
  }

  function elementFor(id) {
    const svgId = state.path && state.path.svg_ids[id];
    return svgId && state.svg ? state.svg.querySelector("#" + CSS.escape(svgId)) : null;
  }

  function highlight(path) {
    clearPath();
    state.path = path;
    if (!state.svg) return;
    state.svg.classList.add("has-path");
    for (const step of path.steps) {
      for (const id of [...step.nodes, ...step.edges]) {
        const el = elementFor(id);
        if (!el) continue;
        el.classList.add("on-path");
        const line = el.querySelector("path");
        if (line && el.classList.contains("edge")) line.setAttribute("marker-end", "url(#arrow-path)");
      }
    }
    for (const id of [path.deciding_node, path.deciding_edge]) {
      const el = id ? elementFor(id) : null;
      if (el) el.classList.add("deciding");
    }
    const blocker = path.blocked ? elementFor(path.blocked) : null;  // the DNS security policy that blocked it
    if (blocker) blocker.classList.add("blocked");
    $("clear-path").disabled = false;
    const target = path.deciding_node ? elementFor(path.deciding_node) : null;
    if (target) reveal(target);
  }

  function reveal(element) {
    // scroll the drawing (not the page) so that the element is in view
    const holder = $("drawing");
    const box = element.getBoundingClientRect();
    const view = holder.getBoundingClientRect();
    if (box.left < view.left || box.right > view.right) {
      holder.scrollLeft += box.left - view.left - (view.width - box.width) / 2;
    }
    if (box.top < view.top || box.bottom > view.bottom) {
      holder.scrollTop += box.top - view.top - (view.height - box.height) / 2;
    }
  }

  function focusStep(step, on) {
    for (const id of [...step.nodes, ...step.edges]) {
      const el = elementFor(id);
      if (el) el.classList.toggle("step-focus", on);
    }
  }

  // -- asking ----------------------------------------------------------------------------------------

  function digText(data) {
    const lines = [`; ${data.question.name} ${data.question.type} asked from ${data.from}`];
    if (data.outcome === "forward") {
      lines.push(";; ->>HEADER<<- status: forwarded (outside the topology: REFUSED when no upstream is configured)");
    } else {
      lines.push(`;; ->>HEADER<<- opcode: QUERY, status: ${data.rcode}`);
      lines.push(`;; flags: qr rd ra; QUERY: 1, ANSWER: ${data.answer.length}, AUTHORITY: ${data.authority.length}, ADDITIONAL: 0`);
    }
    lines.push(`;; view: ${data.view}; answer: ${data.answer_kind}`, "", ";; QUESTION SECTION:",
      `;${data.question.name}\t\t\tIN\t${data.question.type}`, "");
    for (const [title, records] of [["ANSWER", data.answer], ["AUTHORITY", data.authority]]) {
      if (!records.length) continue;
      lines.push(`;; ${title} SECTION:`, ...records, "");
    }
    return lines.join("\n").trimEnd();
  }

  function showTrace(path) {
    const list = $("trace");
    list.replaceChildren();
    for (const step of path.steps) {
      const li = document.createElement("li");
      li.textContent = step.text;
      li.tabIndex = 0;
      if (step.step === path.deciding_step) {
        li.classList.add("deciding");
        const note = document.createElement("span");
        note.className = "note";
        note.textContent = " — the deciding step";
        li.append(note);
      }
      const s = { nodes: step.nodes, edges: step.edges };
      li.addEventListener("mouseenter", () => focusStep(s, true));
      li.addEventListener("mouseleave", () => focusStep(s, false));
      li.addEventListener("focus", () => focusStep(s, true));
      li.addEventListener("blur", () => focusStep(s, false));
      list.append(li);
    }
  }

  async function ask(event) {
    if (event) event.preventDefault();
    const name = $("q-name").value.trim();
    const type = $("q-type").value;
    const from = $("q-from").value.trim();
    if (!name || !from) return;
    const summary = $("answer-summary");
    summary.className = "";
    summary.textContent = `Asking ${name} ${type} from ${from}…`;
    try {
      const params = { name, type, from };
      const [explained, path] = await Promise.all([
        api("/v1/explain?" + query(params)).then((r) => r.json()),
        api("/v1/graph?" + query({ ...params, format: "path", collapse: $("collapse").checked ? "true" : "" }))
          .then((r) => r.json()),
      ]);
      const dig = $("dig");
      dig.textContent = digText(explained);
      dig.hidden = false;
      const values = explained.answer.map((r) => r.split(/\s+/).slice(4).join(" "));
      summary.textContent = `${explained.rcode} (${explained.answer_kind})` + (values.length ? ": " + values.join(" → ") : "");
      summary.className = explained.rcode === "NOERROR" && explained.answer.length ? "good" : "bad";
      showTrace(path);
      highlight(path);
    } catch (err) {
      summary.textContent = "Cannot ask: " + err.message;
      summary.className = "bad";
    }
  }

  async function loadSources() {
    try {
      const data = await (await api("/v1/sources")).json();
      const list = $("sources");
      list.replaceChildren();
      for (const source of data.sources) {
        const option = document.createElement("option");
        option.value = source.name;
        option.label = `${source.kind} · ${source.address}`;
        list.append(option);
      }
      return data.sources.length;
    } catch (err) {
      setStatus("Cannot list the sources: " + err.message, true);
      return 0;
    }
  }

  const LARGE = 150; // sources beyond which the drawing starts collapsed

  async function loadAndDraw() {
    if ((await loadSources()) > LARGE) $("collapse").checked = true;
    await draw();
  }

  // -- the live queries --------------------------------------------------------------------------------

  function streamStatus() {
    const parts = [`${state.seen} ${state.seen === 1 ? "query" : "queries"} seen`];
    if (state.paused) parts.push(`${state.waiting.length} waiting (paused)`);
    if (state.dropped) parts.push(`${state.dropped} dropped`);
    return parts.join(", ");
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.append(td);
  }

  function makeRow(q) {
    const row = document.createElement("tr");
    row.id = "q" + (++state.rowSeq);
    const when = new Date((q.time || Date.now() / 1000) * 1000);
    cell(row, when.toTimeString().slice(0, 8) + "." + String(when.getMilliseconds()).padStart(3, "0"));
    cell(row, q.client || "");
    cell(row, q.network && q.network !== "-" ? q.network : q.view || "");
    cell(row, q.qname || "");
    cell(row, q.qtype || "");
    cell(row, q.kind || "", "kind-" + (q.kind || ""));
    cell(row, q.rcode || "", "rcode-" + (q.rcode || ""));
    row.dataset.name = q.qname || "";
    row.dataset.type = q.qtype || "A";
    // where to explain it from: the ECS address it asked as, else its network, else its address
    const network = q.network && !["-", "internet", "unknown"].includes(q.network) ? q.network : "";
    row.dataset.from = q.ecs ? q.ecs.split("/")[0] : network || q.client || "";
    row.dataset.text = row.textContent.toLowerCase();
    row.hidden = Boolean(state.filter) && !row.dataset.text.includes(state.filter);
    return row;
  }

  // the table changes at most four times a second, whatever the rate: each change costs a layout
  const FLUSH_MS = 250;
  let frame = 0;
  let lastFlush = 0;
  function scheduleFlush() {
    if (frame) return;
    const wait = Math.max(0, lastFlush + FLUSH_MS - performance.now());
    frame = setTimeout(() => requestAnimationFrame(flush), wait);
  }

  // time the page spends on the stream, for benchmarks/ui_stream_bench.py
  const work = (window.dnsemuWork = { flushMs: 0, parseMs: 0, batches: 0 });

  function flush() {
    frame = 0;
    const started = (lastFlush = performance.now());
    if (!state.paused && state.waiting.length) {
      const batch = state.waiting.splice(0, state.waiting.length).slice(-MAX_ROWS);
      const fragment = document.createDocumentFragment();
      for (let i = batch.length - 1; i >= 0; i--) fragment.append(makeRow(batch[i])); // newest first
      const body = $("queries").tBodies[0];
      body.prepend(fragment);
      while (body.rows.length > MAX_ROWS) body.lastElementChild.remove();
    }
    $("live-count").textContent = streamStatus();
    work.flushMs += performance.now() - started;
  }

  function receive(queries) {
    state.seen += queries.length;
    state.waiting.push(...queries);
    if (state.waiting.length > MAX_WAITING) {
      state.dropped += state.waiting.length - MAX_WAITING;
      state.waiting.splice(0, state.waiting.length - MAX_WAITING);
    }
    scheduleFlush();
  }

  async function listen() {
    let delay = 1000;
    for (;;) {
      const tokenAsked = state.token;
      try {
        const response = await api("/v1/queries/stream", "text/event-stream");
        state.connected = true;
        setStatus("Connected: live queries follow.");
        delay = 1000;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const started = performance.now();
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const message = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = "message";
            const data = [];
            for (const line of message.split("\n")) {
              if (line.startsWith("event:")) event = line.slice(6).trim();
              else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
            }
            if (event === "queries" && data.length) receive(JSON.parse(data.join("\n")));
            else if (event === "dropped" && data.length) {
              state.dropped += Number(data[0]) || 0;
              scheduleFlush();
            }
          }
          work.parseMs += performance.now() - started;
          work.batches += 1;
        }
        state.connected = false;
        setStatus("The live queries stopped; reconnecting…", true);
      } catch (err) {
        state.connected = false;
        setStatus("Live queries: " + err.message + "; retrying…", true);
        if (err.status === 401) {
          if (state.token === tokenAsked) { // wait for a new token (unless one came while we asked)
            await new Promise((resolve) => document.addEventListener("dnsemu-token", resolve, { once: true }));
          }
          continue;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  function visibleRows() {
    return Array.from($("queries").tBodies[0].rows).filter((r) => !r.hidden);
  }

  // One selected row per table: `holder.selected` remembers it, the scrolling wrapper names it for
  // assistive technology (aria-activedescendant).
  function selectRow(holder, wrapId, row) {
    if (holder.selected) holder.selected.classList.remove("selected");
    holder.selected = row;
    const wrap = $(wrapId);
    if (row) {
      row.classList.add("selected");
      wrap.setAttribute("aria-activedescendant", row.id);
      row.scrollIntoView({ block: "nearest" });
    } else {
      wrap.removeAttribute("aria-activedescendant");
    }
  }

  function select(row) {
    selectRow(state, "queries-wrap", row);
  }

  function explainRow(row) {
    $("q-name").value = row.dataset.name;
    $("q-type").value = row.dataset.type;
    if ($("q-type").value !== row.dataset.type) $("q-type").value = "A";
    $("q-from").value = row.dataset.from;
    ask();
  }


  // -- the changes: answers that differ between two estates (GET /v1/diff) ---------------------------

  const DIFF_PAGE = 100; // entries asked per page
  const DIFF_POLL_MS = 3000; // how often the page looks for a new generation (GET /v1/changes)
  const diff = { against: "files", match: "", offset: 0, generation: null, loading: null, selected: null, seq: 0,
    timer: 0, asked: 0 };

  function recordLine(r) {
    return `${r.name}\t${r.ttl}\tIN\t${r.type}\t${r.data}`;
  }

  // one side of a change, as dig prints it: a status line, then the records; lines absent on the other side marked
  function answerLines(answer, other, mark) {
    const lines = [];
    const head = answer.outcome === "forward" && answer.forward
      ? `;; forwarded: ${answer.forward.name} ${answer.forward.type} goes to ${answer.forward.via}`
      : `;; status: ${answer.rcode}, ${answer.answer_kind}`;
    lines.push({ text: head, kind: "head" });
    const theirs = new Set([...other.answer, ...other.authority].map(recordLine));
    for (const [title, records, total] of [["", answer.answer, answer.answer_total],
      [";; AUTHORITY SECTION:", answer.authority, answer.authority_total]]) {
      if (!records.length) continue;
      if (title) lines.push({ text: title, kind: "head" });
      for (const r of records) {
        const text = recordLine(r);
        lines.push({ text, kind: theirs.has(text) ? "" : mark });
      }
      if (total > records.length) lines.push({ text: `;; … ${total - records.length} more`, kind: "head" });
    }
    return lines;
  }

  function answerCell(row, answer, other, mark, label) {
    const td = document.createElement("td");
    td.className = "answer " + (mark === "added" ? "after" : "before");
    td.dataset.label = label;
    for (const line of answerLines(answer, other, mark)) {
      const span = document.createElement("span");
      span.className = "line" + (line.kind ? " " + line.kind : "");
      span.textContent = line.text;
      td.append(span);
    }
    row.append(td);
  }

  function askFrom(source) {
    // the network's name where it is the same on both sides, else the address it asked from
    return source.network_before === source.network_after &&
      (source.source === source.network_after || source.source === "internet") ? source.source : source.address;
  }

  function diffRow(entry, labels) {
    const row = document.createElement("tr");
    row.id = "d" + (++diff.seq);
    const from = document.createElement("td");
    from.className = "from";
    from.dataset.label = "from";
    from.textContent = entry.sources.map((s) => s.source).join(", ");
    if (entry.sources_total > entry.sources.length) {
      const more = document.createElement("span");
      more.className = "more";
      more.textContent = ` and ${entry.sources_total - entry.sources.length} more`;
      from.append(more);
    }
    from.title = entry.sources.map((s) => `${s.source} (${s.address}; ${s.view_before} → ${s.view_after})`).join("\n");
    row.append(from);
    cell(row, entry.name, "name");
    cell(row, entry.type, "type");
    answerCell(row, entry.before, entry.after, "removed", "before: " + labels[0]);
    answerCell(row, entry.after, entry.before, "added", "after: " + labels[1]);
    if (entry.parts_at) {
      row.title = `where the resolutions part (step ${entry.parts_at.step}):\n− ${entry.parts_at.before || "(ended)"}\n+ ${entry.parts_at.after || "(ended)"}`;
    }
    row.dataset.name = entry.name;
    row.dataset.type = entry.type;
    row.dataset.from = askFrom(entry.sources[0]);
    return row;
  }

  function diffStatus(text, error = false) {
    const el = $("diff-status");
    el.textContent = text;
    el.classList.toggle("error", error);
  }

  async function loadDiff(more = false) {
    const ask = ++diff.asked;
    if (!more) diff.offset = 0;
    const params = { against: diff.against, match: diff.match, offset: diff.offset, limit: DIFF_PAGE };
    if (!more) diffStatus("Comparing…");
    let data;
    try {
      for (;;) {
        const response = await api("/v1/diff?" + query(params));
        if (ask !== diff.asked) return; // a newer request took over
        if (response.status === 202) { // a large estate: the comparison goes on, ask again
          diffStatus("Comparing… (a large estate takes a while)");
          const wait = (Number(response.headers.get("Retry-After")) || 2) * 1000;
          await new Promise((resolve) => setTimeout(resolve, wait));
          if (ask !== diff.asked) return;
          continue;
        }
        data = await response.json();
        break;
      }
    } catch (err) {
      if (ask === diff.asked) diffStatus("Cannot compare: " + err.message, true);
      return;
    }
    if (ask !== diff.asked) return;
    diff.generation = data.generation;
    const option = $("diff-against").querySelector('option[value="compare"]');
    option.hidden = option.disabled = !data.compare_available;
    const labels = [data.before.label, data.after.label];
    $("diff-before").textContent = "before: " + labels[0];
    $("diff-after").textContent = "after: " + labels[1];
    const body = $("diff-table").tBodies[0];
    if (!more) {
      body.replaceChildren();
      selectDiff(null);
    }
    const fragment = document.createDocumentFragment();
    for (const entry of data.entries) fragment.append(diffRow(entry, labels));
    body.append(fragment);
    diff.offset = data.offset + data.entries.length;
    const empty = !data.total;
    $("diff-empty").hidden = !empty;
    $("diff-empty").textContent = data.identical || !data.match ? "no answer changes"
      : `no answer changes match “${data.match}”`;
    $("diff-table").hidden = empty;
    $("diff-more").hidden = diff.offset >= data.total;
    const s = data.summary;
    const shown = body.rows.length;
    diffStatus(data.identical
      ? `No answer changes: ${labels[0]} and ${labels[1]} answer alike` +
        (s.questions ? ` (${s.questions} questions about ${s.names} names from each of ${s.sources} sources).` : ".")
      : `${s.changes} answer${s.changes === 1 ? "" : "s"} change${s.changes === 1 ? "s" : ""} for ` +
        `${s.sources_changed} of ${s.sources} sources; showing ${shown} of ${data.total}` +
        (data.match ? ` matching “${data.match}”` : "") + ". Before: " + labels[0] + "; after: " + labels[1] + ".");
  }

  function selectDiff(row) {
    selectRow(diff, "diff-wrap", row);
  }

  // a new generation (a change, a reload, a reset): compare again
  async function watchGeneration() {
    if (!document.hidden && diff.generation !== null) {
      try {
        const data = await (await api("/v1/changes")).json();
        if (data.generation !== diff.generation) await loadDiff();
      } catch (_) { /* the status line of the stream says what is wrong */ }
    }
    diff.timer = setTimeout(watchGeneration, DIFF_POLL_MS);
  }

  function wireChanges() {
    $("diff-against").addEventListener("change", () => {
      diff.against = $("diff-against").value;
      loadDiff();
    });
    let typingTimer = 0;
    $("diff-filter").addEventListener("input", () => {
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => {
        diff.match = $("diff-filter").value.trim().toLowerCase();
        loadDiff();
      }, 250);
    });
    $("diff-refresh").addEventListener("click", () => loadDiff());
    $("diff-more").addEventListener("click", () => loadDiff(true));
    const body = $("diff-table").tBodies[0];
    body.addEventListener("click", (event) => {
      const row = event.target.closest("tr");
      if (row) {
        selectDiff(row);
        explainRow(row);
      }
    });
    $("diff-wrap").addEventListener("keydown", (event) => {
      const rows = Array.from(body.rows);
      if (!rows.length) return;
      const at = rows.indexOf(diff.selected);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const next = event.key === "ArrowDown" ? Math.min(at + 1, rows.length - 1) : Math.max(at - 1, 0);
        selectDiff(rows[at < 0 ? 0 : next]);
      } else if (event.key === "Enter" && diff.selected) {
        event.preventDefault();
        explainRow(diff.selected);
      }
    });
  }

  // -- theme and keys ------------------------------------------------------------------------------------

  const THEMES = ["auto", "light", "dark"];
  function applyTheme(theme) {
    if (theme === "auto") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    $("theme").textContent = "Theme: " + (theme === "auto" ? "automatic" : theme);
    localStorage.setItem("dnsemu-theme", theme);
  }

  function typing(target) {
    return target instanceof HTMLInputElement || target instanceof HTMLSelectElement ||
      target instanceof HTMLTextAreaElement || (target && target.isContentEditable);
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      clearPath();
      return;
    }
    if (typing(event.target)) return;
    if (event.key === "/") {
      event.preventDefault();
      $("q-name").focus();
    } else if (event.key === "p") {
      togglePause();
    } else if (event.key === "c") {
      event.preventDefault();
      $("diff-filter").focus();
    } else if (event.key === "+" || event.key === "=") {
      zoom(1);
    } else if (event.key === "-") {
      zoom(-1);
    }
  }

  function togglePause() {
    state.paused = !state.paused;
    const button = $("pause");
    button.setAttribute("aria-pressed", String(state.paused));
    button.textContent = state.paused ? "Resume" : "Pause";
    scheduleFlush();
  }

  // -- wiring ----------------------------------------------------------------------------------------------

  function start() {
    applyTheme(localStorage.getItem("dnsemu-theme") || "auto");
    $("theme").addEventListener("click", () => {
      const current = document.documentElement.dataset.theme || "auto";
      applyTheme(THEMES[(THEMES.indexOf(current) + 1) % THEMES.length]);
    });
    $("query-form").addEventListener("submit", ask);
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      state.token = $("token").value.trim();
      sessionStorage.setItem("dnsemu-token", state.token);
      $("token-form").hidden = true;
      document.dispatchEvent(new Event("dnsemu-token"));
      loadAndDraw();
      loadDiff();
    });
    $("collapse").addEventListener("change", () => {
      clearPath();
      draw();
    });
    $("redraw").addEventListener("click", draw);
    $("zoom-in").addEventListener("click", () => zoom(1));
    $("zoom-out").addEventListener("click", () => zoom(-1));
    $("zoom-fit").addEventListener("click", fit);
    $("clear-path").addEventListener("click", clearPath);
    $("pause").addEventListener("click", togglePause);
    $("clear").addEventListener("click", () => {
      $("queries").tBodies[0].replaceChildren();
      state.waiting = [];
      select(null);
      scheduleFlush();
    });
    $("filter").addEventListener("input", () => {
      state.filter = $("filter").value.trim().toLowerCase();
      for (const row of $("queries").tBodies[0].rows) {
        row.hidden = Boolean(state.filter) && !row.dataset.text.includes(state.filter);
      }
    });
    const body = $("queries").tBodies[0];
    body.addEventListener("click", (event) => {
      const row = event.target.closest("tr");
      if (row) {
        select(row);
        explainRow(row);
      }
    });
    $("queries-wrap").addEventListener("keydown", (event) => {
      const rows = visibleRows();
      if (!rows.length) return;
      const at = rows.indexOf(state.selected);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const next = event.key === "ArrowDown" ? Math.min(at + 1, rows.length - 1) : Math.max(at - 1, 0);
        select(rows[at < 0 ? 0 : next]);
      } else if (event.key === "Enter" && state.selected) {
        event.preventDefault();
        explainRow(state.selected);
      }
    });
    document.addEventListener("keydown", onKey);
    $("live-count").textContent = streamStatus();
    wireChanges();
    loadAndDraw();
    listen();
    loadDiff().then(watchGeneration);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
