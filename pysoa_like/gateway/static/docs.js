// The gateway's docs page: reads openapi.json (served by the gateway itself) and draws every operation,
// its schemas and a form to try it. Text from the document is always set as text, never as HTML.
"use strict";

(function () {
  let doc = null;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  function resolve(schema) {
    let seen = 0;
    while (schema && typeof schema.$ref === "string" && schema.$ref.startsWith("#/") && seen < 20) {
      const target = schema.$ref.slice(2).split("/").reduce((node, part) => (node ? node[part.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined), doc);
      const rest = Object.assign({}, schema);
      delete rest.$ref;
      schema = Object.assign({}, target || {}, rest);
      seen += 1;
    }
    return schema || {};
  }

  function refName(schema) {
    return schema && typeof schema.$ref === "string" ? schema.$ref.split("/").pop() : null;
  }

  function typeText(schema) {
    const named = refName(schema);
    const s = resolve(schema);
    if (named) return named;
    if (s.enum) return "one of " + s.enum.map((v) => JSON.stringify(v)).join(", ");
    if ("const" in s) return JSON.stringify(s.const);
    if (s.anyOf) return s.anyOf.map(typeText).join(" | ");
    if (s.allOf) return s.allOf.map(typeText).join(" & ");
    if (s.type === "array") return s.prefixItems ? "[" + s.prefixItems.map(typeText).join(", ") + "]" : "array of " + typeText(s.items || {});
    if (Array.isArray(s.type)) return s.type.join(" | ");
    return s.type || "any";
  }

  function constraints(s) {
    const parts = [];
    const names = { minimum: "≥", maximum: "≤", exclusiveMinimum: ">", exclusiveMaximum: "<", minLength: "min length", maxLength: "max length", minItems: "min items", maxItems: "max items", pattern: "pattern" };
    for (const [key, label] of Object.entries(names)) if (key in s) parts.push(label + " " + s[key]);
    return parts.join(", ");
  }

  // An object with named properties (a model), not one of the encoding's tagged values ({"$date": ...}).
  function isRecord(schema) {
    const s = resolve(schema);
    return s.type === "object" && !!s.properties && !Object.keys(s.properties).some((key) => key.startsWith("$"));
  }

  function schemaView(schema, depth) {
    const s = resolve(schema);
    const box = el("div", { class: depth ? "nested" : "" });
    if (depth > 6) return box;
    if (isRecord(schema)) {
      const required = new Set(s.required || []);
      const table = el("table", { class: "schema" });
      for (const [name, property] of Object.entries(s.properties)) {
        const p = resolve(property);
        const cell = el("td", {}, [el("span", { class: "type", text: typeText(property) })]);
        const limits = constraints(p);
        if (limits) cell.appendChild(el("span", { class: "note", text: " (" + limits + ")" }));
        if (p.description) cell.appendChild(el("div", { text: p.description }));
        const inner = p.type === "array" ? p.items : property;
        if (inner && isRecord(inner)) cell.appendChild(schemaView(inner, depth + 1));
        table.appendChild(el("tr", { "data-property": name }, [
          el("td", { class: "name" }, [document.createTextNode(name), required.has(name) ? el("span", { class: "required", text: "required" }) : null]),
          cell,
        ]));
      }
      if (s.additionalProperties === false) table.appendChild(el("tr", {}, [el("td", { class: "note", text: "no other keys" }), el("td")]));
      box.appendChild(table);
    } else {
      box.appendChild(el("span", { class: "type", text: typeText(schema) }));
      const limits = constraints(s);
      if (limits) box.appendChild(el("span", { class: "note", text: " (" + limits + ")" }));
      if (s.description) box.appendChild(el("div", { class: "note", text: s.description }));
    }
    return box;
  }

  function example(schema, depth) {
    const s = resolve(schema);
    if (depth > 5) return null;
    if ("const" in s) return s.const;
    if (s.enum) return s.enum[0];
    if (s.examples) return s.examples[0];
    if (s.anyOf) return example(s.anyOf.find((o) => resolve(o).type !== "null") || s.anyOf[0], depth + 1);
    if (s.allOf) return example(s.allOf[0], depth + 1);
    if (s.type === "object") {
      const out = {};
      const required = new Set(s.required || []);
      for (const [name, property] of Object.entries(s.properties || {})) if (required.has(name)) out[name] = example(property, depth + 1);
      return out;
    }
    if (s.type === "array") return s.prefixItems ? s.prefixItems.map((p) => example(p, depth + 1)) : [example(s.items || {}, depth + 1)];
    if (s.type === "integer") return "minimum" in s ? s.minimum : 0;
    if (s.type === "number") return 0;
    if (s.type === "boolean") return false;
    if (s.type === "string") return s.format === "date" ? "2026-01-31" : "text";
    return null;
  }

  function tryForm(path, operation, content) {
    const body = el("textarea", { "aria-label": "Request body", spellcheck: "false" });
    body.value = JSON.stringify(example(content.schema || {}, 0), null, 2);
    const token = el("input", { type: "password", placeholder: "API token (Bearer)", "aria-label": "API token", size: "28" });
    const timeout = el("input", { type: "text", placeholder: "X-Timeout (s)", "aria-label": "X-Timeout", size: "10" });
    const output = el("div", { class: "result-box" });
    const form = el("form", { class: "try" }, [body, el("div", { class: "row" }, [operation.security ? token : null, timeout, el("button", { type: "submit", text: "Send" })]), output]);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const headers = { "Content-Type": "application/json" };
      if (token.value) headers.Authorization = "Bearer " + token.value;
      if (timeout.value) headers["X-Timeout"] = timeout.value;
      output.textContent = "…";
      try {
        const response = await fetch(path.slice(1), { method: "POST", headers: headers, body: body.value });
        const text = await response.text();
        let shown = text;
        try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON: shown as it came */ }
        output.textContent = "";
        output.appendChild(el("div", { class: "result-status " + (response.ok ? "ok" : "bad"), text: response.status + " " + response.statusText + "  X-Request-ID: " + (response.headers.get("X-Request-ID") || "-") }));
        output.appendChild(el("pre", { class: "result", text: shown }));
      } catch (error) {
        output.textContent = "The request failed: " + error;
      }
    });
    return form;
  }

  function operationView(path, operation) {
    const id = "op-" + operation.operationId;
    const badges = [];
    if (operation.security) badges.push(el("span", { class: "badge private", text: "token" }));
    if (operation.deprecated) badges.push(el("span", { class: "badge deprecated", text: "deprecated" }));
    const body = el("div", { class: "body", hidden: "" });
    const head = el("header", { role: "button", tabindex: "0" }, [el("span", { class: "method", text: "POST" }), el("span", { class: "path", text: path }), el("span", { class: "summary", text: operation.summary || "" })].concat(badges));
    const toggle = () => { body.hidden = !body.hidden; };
    head.addEventListener("click", toggle);
    head.addEventListener("keydown", (event) => { if (event.key === "Enter") toggle(); });
    if (operation.description) body.appendChild(el("p", { class: "description", text: operation.description }));
    const content = ((operation.requestBody || {}).content || {})["application/json"] || {};
    body.appendChild(el("h4", { text: "Request body" }));
    body.appendChild(schemaView(content.schema || {}, 0));
    const responses = el("ul", { class: "responses" });
    for (const [status, answer] of Object.entries(operation.responses || {})) {
      const r = resolve(answer);
      const item = el("li", { "data-status": status }, [el("strong", { text: status + " " }), document.createTextNode(r.description || "")]);
      const schema = ((r.content || {})["application/json"] || {}).schema;
      if (status === "200" && schema) item.appendChild(schemaView(schema, 1));
      responses.appendChild(item);
    }
    body.appendChild(el("h4", { text: "Responses" }));
    body.appendChild(responses);
    body.appendChild(el("h4", { text: "Try it" }));
    body.appendChild(tryForm(path, operation, content));
    return el("article", { class: "operation", id: id, "data-path": path }, [head, body]);
  }

  function render() {
    const info = doc.info || {};
    document.getElementById("info").textContent = "Version " + (info.version || "?") + ". " + (info.description || "");
    const main = document.getElementById("operations");
    const nav = document.getElementById("nav");
    main.textContent = "";
    const byTag = new Map();
    for (const tag of doc.tags || []) byTag.set(tag.name, { tag: tag, operations: [] });
    for (const [path, item] of Object.entries(doc.paths || {})) {
      const operation = item.post;
      if (!operation) continue;
      const name = (operation.tags || ["other"])[0];
      if (!byTag.has(name)) byTag.set(name, { tag: { name: name }, operations: [] });
      byTag.get(name).operations.push([path, operation]);
    }
    for (const { tag, operations } of byTag.values()) {
      const section = el("section", { class: "service", "data-service": tag.name }, [el("h2", { text: tag.name })]);
      if (tag.description) section.appendChild(el("p", { class: "doc", text: tag.description }));
      nav.appendChild(el("h2", { text: tag.name }));
      for (const [path, operation] of operations) {
        section.appendChild(operationView(path, operation));
        nav.appendChild(el("a", { href: "#op-" + operation.operationId, text: path }));
      }
      main.appendChild(section);
    }
    main.appendChild(el("p", { id: "status", "data-state": "ok", class: "note", text: Object.keys(doc.paths || {}).length + " paths" }));
  }

  async function load() {
    try {
      const response = await fetch("openapi.json", { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("openapi.json answered " + response.status);
      doc = await response.json();
      render();
    } catch (error) {
      const status = document.getElementById("status");
      status.dataset.state = "error";
      status.textContent = "Could not load the API description: " + error.message;
    }
  }

  document.addEventListener("DOMContentLoaded", load);
})();
