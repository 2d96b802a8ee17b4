// The pysoa_like dashboard: polls api/overview and redraws; charts are inline SVG drawn here.
// Every value from the services is put in the page as text (never as markup).
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2f6fdb", "#e0792b", "#1f9d55", "#9c4dcc", "#d64545", "#0f9aa8", "#b38600", "#5b6b82"];
  const view = { selected: null, interval: 2, colors: {}, actionsFor: null, lastOk: null };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  function number(value, digits) {
    if (value === null || value === undefined) return "–";
    if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en");
    return Number(value).toFixed(digits === undefined ? (Number.isInteger(value) ? 0 : 2) : digits);
  }

  function ago(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
    seconds = Math.max(0, seconds);
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h";
    return Math.round(seconds / 86400) + " d";
  }

  function clock(unix) {
    const d = new Date(unix * 1000);
    return d.toLocaleTimeString("en-GB", { hour12: false });
  }

  function colorOf(name, names) {
    if (!(name in view.colors)) view.colors[name] = PALETTE[names.indexOf(name) % PALETTE.length];
    return view.colors[name];
  }

  // The axis top: four grid steps of 1, 2, 2.5 or 5 times a power of ten, covering the value.
  function niceMax(value) {
    if (value <= 0) return 1;
    const quarter = value / 4;
    const power = Math.pow(10, Math.floor(Math.log10(quarter)));
    for (const step of [1, 2, 2.5, 5, 10]) if (quarter <= step * power) return 4 * step * power;
    return 40 * power;
  }

  // One line per service; null values leave gaps. data-sum / data-points are for tests and tools.
  function drawChart(svg, series, key, names) {
    const width = Math.max(svg.clientWidth || 400, 200);
    const height = Math.max(svg.clientHeight || 180, 100);
    const left = 40, right = 8, top = 8, bottom = 20;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.replaceChildren();
    const count = series.count;
    let max = 0, sum = 0, points = 0;
    for (const name of names) {
      for (const value of (series.services[name] || {})[key] || []) {
        if (value === null) continue;
        max = Math.max(max, value); sum += value; points += 1;
      }
    }
    svg.dataset.sum = String(Math.round(sum * 1000) / 1000);
    svg.dataset.points = String(points);
    // Queue depths are whole requests: at least 4 on the axis, so its labels stay whole numbers.
    const top_ = niceMax(key === "queued" ? Math.max(max, 4) : max);
    const x = (i) => left + (count <= 1 ? 0 : (i * (width - left - right)) / (count - 1));
    const y = (v) => top + (height - top - bottom) * (1 - v / top_);
    for (let g = 0; g <= 4; g++) {
      const value = (top_ * g) / 4;
      svg.append(svgEl("line", { class: "grid", x1: left, x2: width - right, y1: y(value), y2: y(value) }));
      const label = svgEl("text", { class: "axis", x: left - 4, y: y(value) + 3, "text-anchor": "end" });
      label.textContent = value >= 1000 ? number(value) : String(Number(value.toFixed(2)));
      svg.append(label);
    }
    const minutes = (count * series.step) / 60;
    const ticks = [0, 0.25, 0.5, 0.75, 1];
    for (const fraction of ticks) {
      const label = svgEl("text", {
        class: "axis", x: x(Math.round(fraction * (count - 1))), y: height - 5,
        "text-anchor": fraction === 0 ? "start" : fraction === 1 ? "end" : "middle",
      });
      const back = minutes * (1 - fraction);
      label.textContent = fraction === 1 ? "now" : `-${back >= 1 ? Math.round(back) + " min" : Math.round(back * 60) + " s"}`;
      svg.append(label);
    }
    if (!points) {
      const empty = svgEl("text", { class: "empty", x: width / 2, y: height / 2, "text-anchor": "middle" });
      empty.textContent = "collecting…";
      svg.append(empty);
      return;
    }
    for (const name of names) {
      const values = (series.services[name] || {})[key] || [];
      let path = "", pen = false;
      values.forEach((value, i) => {
        if (value === null) { pen = false; return; }
        path += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(value).toFixed(1)} `;
        pen = true;
      });
      if (!path) continue;
      svg.append(svgEl("path", {
        d: path.trim(), fill: "none", stroke: colorOf(name, names), "stroke-width": 2,
        "stroke-linejoin": "round", "data-service": name,
      }));
    }
  }

  function renderLegend(names) {
    const legend = document.getElementById("legend");
    legend.replaceChildren(...names.map((name) => {
      const swatch = el("i");
      swatch.style.background = colorOf(name, names);
      return el("span", { "data-service": name }, swatch, name);
    }));
  }

  function stateClass(state, workers) {
    if (!workers) return "state-down";
    return state === "serving" ? "state-serving" : "state-other";
  }

  function serviceState(service) {
    if (!service.instances.length) return service.registered ? "no live worker" : "queue only (not in the registry)";
    const states = [...new Set(service.instances.map((i) => i.state))];
    return states.join(", ");
  }

  function renderServices(services, names) {
    const body = document.querySelector("#services tbody");
    body.replaceChildren(...services.map((service) => {
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = colorOf(service.name, names);
      const failed = service.error_ratio !== null && service.error_ratio > 0;
      const errors = service.errors_per_second === null ? "–"
        : `${number(service.errors_per_second * 60, 0)}/min` + (failed ? ` (${number(service.error_ratio * 100, 1)} %)` : "");
      const row = el("tr", {
        class: "selectable" + (service.name === view.selected ? " selected" : ""),
        "data-service": service.name,
        onclick: () => select(service.name),
      },
      el("td", {}, swatch, el("strong", { text: service.name })),
      el("td", { text: service.versions.join(", ") || "–" }),
      el("td", { class: "num", "data-field": "instances", text: service.instances.length }),
      el("td", { class: "num", "data-field": "queued", text: number(service.queue_depth) }),
      el("td", { class: "num", text: `${service.in_flight} / ${service.concurrency}` }),
      el("td", { class: "num", "data-field": "rate", text: number(service.calls_per_second) }),
      el("td", { class: "num" + (failed ? " bad" : ""), text: errors }),
      el("td", { class: stateClass(serviceState(service), service.instances.length), text: serviceState(service) }));
      return row;
    }));
    document.getElementById("no-services").hidden = services.length > 0;
  }

  function renderInstances(service, now) {
    const body = document.querySelector("#instances tbody");
    body.replaceChildren(...service.instances.map((instance) => el("tr", { "data-instance": instance.instance_id },
      el("td", { class: "code", text: instance.instance_id }),
      el("td", { text: instance.version }),
      el("td", { text: instance.host }),
      el("td", { class: "num", text: instance.pid }),
      el("td", { class: stateClass(instance.state, 1), text: instance.state }),
      el("td", { class: "num", text: `${instance.in_flight} / ${instance.concurrency}` }),
      el("td", { class: "num", text: number(instance.jobs_handled) }),
      el("td", { class: "num", text: number(instance.jobs_failed) }),
      el("td", { class: "num", text: ago(now - instance.started_at) }),
      el("td", { class: "num", text: ago(now - instance.refreshed_at) + " ago" }))));
    if (!service.instances.length) {
      body.append(el("tr", {}, el("td", { colspan: 10, class: "muted", text: "No live worker." })));
    }
  }

  function schemaText(schema) {
    return schema === null || schema === undefined ? "(none)" : JSON.stringify(schema, null, 2);
  }

  function renderActions(described) {
    const box = document.getElementById("actions");
    const versions = Object.keys(described.versions || {});
    if (!versions.length) {
      box.replaceChildren(el("p", { class: "muted",
        text: "No worker of this service published its actions (workers of pysoa_like before the dashboard, or PySOA, do not)." }));
      return;
    }
    const parts = [];
    for (const version of versions) {
      const answer = described.versions[version] || {};
      if (versions.length > 1) parts.push(el("h3", { text: `Version ${version}` }));
      if (answer.documentation) parts.push(el("p", { text: answer.documentation }));
      for (const name of answer.action_names || Object.keys(answer.actions || {})) {
        const action = (answer.actions || {})[name] || {};
        const summary = el("summary", {}, el("strong", { class: "code", text: name }));
        if (action.deprecated) summary.append(el("span", { class: "tag deprecated", text: "deprecated" }));
        if (action.private) summary.append(el("span", { class: "tag private", text: "private" }));
        const doc = (action.documentation || "").split("\n")[0];
        if (doc) summary.append(el("span", { class: "muted", text: "  " + doc }));
        parts.push(el("details", { class: "action", "data-action": name }, summary, el("div", { class: "body" },
          el("p", { text: action.documentation || "" }),
          el("h3", { text: "Request schema" }), el("pre", { text: schemaText(action.request_schema) }),
          el("h3", { text: "Response schema" }), el("pre", { text: schemaText(action.response_schema) }))));
      }
    }
    box.replaceChildren(...parts);
  }

  async function loadActions(name) {
    view.actionsFor = name;
    document.getElementById("actions").replaceChildren(el("p", { class: "muted", text: "Loading…" }));
    try {
      const response = await fetch(`api/services/${encodeURIComponent(name)}`, { cache: "no-store" });
      const described = await response.json();
      if (view.actionsFor !== name) return;
      if (!response.ok) throw new Error(described.error || response.statusText);
      renderActions(described);
    } catch (error) {
      document.getElementById("actions").replaceChildren(el("p", { class: "bad", text: `Could not read the actions: ${error.message}` }));
    }
  }

  function select(name) {
    view.selected = name;
    document.querySelectorAll("#services tbody tr").forEach((row) => row.classList.toggle("selected", row.dataset.service === name));
    document.getElementById("detail").hidden = false;
    document.getElementById("detail-name").textContent = name;
    if (view.last) {
      const service = view.last.services.find((s) => s.name === name);
      if (service) renderInstances(service, view.last.now);
    }
    loadActions(name);
  }

  function renderErrors(errors) {
    const body = document.querySelector("#errors tbody");
    body.replaceChildren(...errors.map((error) => el("tr", { "data-code": error.code, "data-service": error.service },
      el("td", { class: "num", text: clock(error.time) }),
      el("td", { text: error.service }),
      el("td", { class: "code", text: error.action || "(job)" }),
      el("td", { class: "code" + (error.is_caller_error ? "" : " bad"), text: error.code }),
      el("td", { text: error.message }),
      el("td", { class: "code", text: error.field || "" }),
      el("td", { class: "code", text: error.correlation_id || "" }))));
    document.getElementById("no-errors").hidden = errors.length > 0;
  }

  function renderTotals(services) {
    const sum = (f) => services.reduce((total, s) => total + (f(s) || 0), 0);
    document.getElementById("total-services").textContent = services.length;
    document.getElementById("total-instances").textContent = sum((s) => s.instances.length);
    document.getElementById("total-rate").textContent = number(sum((s) => s.calls_per_second));
    document.getElementById("total-errors").textContent = number(sum((s) => (s.errors_per_second || 0) * 60), 0);
    renderQueuedTotal(services);
  }

  // A depth that could not be read (null) is never counted as 0: with none known the total is "–", with some
  // unknown it is the known sum as a lower bound ("≥ 12"), its title saying how many services are unknown.
  function renderQueuedTotal(services) {
    const known = services.filter((s) => s.queue_depth !== null && s.queue_depth !== undefined);
    const unknown = services.length - known.length;
    const total = number(known.reduce((sum, s) => sum + s.queue_depth, 0));
    const card = document.getElementById("total-queued");
    card.textContent = !unknown ? total : known.length ? `≥ ${total}` : "–";
    card.title = unknown ? `queue depth unknown for ${unknown} of ${services.length} services` : "";
  }

  function setStatus(state, text) {
    const status = document.getElementById("status");
    status.dataset.state = state;
    status.textContent = text;
  }

  function render(data) {
    view.last = data;
    const names = data.services.map((s) => s.name);
    if (data.problem) setStatus("problem", "Redis unreachable");
    else if (data.polled_at === null) setStatus("loading", "reading Redis…");
    else setStatus("ok", "live");
    document.getElementById("status").title = data.problem || "";
    document.getElementById("updated").textContent = data.polled_at ? `updated ${clock(data.polled_at)}` : "";
    renderTotals(data.services);
    renderServices(data.services, names);
    renderLegend(names);
    drawChart(document.getElementById("chart-calls"), data.series, "calls", names);
    drawChart(document.getElementById("chart-errors"), data.series, "errors", names);
    drawChart(document.getElementById("chart-queued"), data.series, "queued", names);
    renderErrors(data.recent_errors);
    if (view.selected) {
      const service = data.services.find((s) => s.name === view.selected);
      if (service) renderInstances(service, data.now);
    } else if (names.length) {
      select(names[0]);
    }
  }

  async function refresh() {
    try {
      const response = await fetch("api/overview", { cache: "no-store" });
      if (!response.ok) throw new Error(response.statusText);
      const data = await response.json();
      view.interval = data.config.interval;
      render(data);
    } catch (error) {
      setStatus("problem", "dashboard unreachable");
    }
    setTimeout(refresh, view.interval * 1000);
  }

  document.addEventListener("DOMContentLoaded", refresh);
})();
