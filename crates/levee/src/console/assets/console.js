// levee console: the shell every page shares.
//
// Pages register `levee.pages.NAME = { mount(el), unmount() }`; the hash
// (`#/pipeline`, `#/metrics`, `#/sql`) says which one is shown in
// <main id="page">. `levee.api(path, init)` fetches from the console's API
// with the token (asked once, kept in sessionStorage for the tab) and
// answers the parsed JSON, or throws an Error carrying the server's
// `{"error": ...}` message and `status`. With `init.raw` it answers the
// Response itself (for downloads).
"use strict";
(function () {
  const TOKEN_KEY = "levee.token";
  const levee = (window.levee = { pages: {} });
  let current = null;
  let asking = null;

  levee.token = () => sessionStorage.getItem(TOKEN_KEY);

  // Asks for the token in the page's dialog; concurrent callers share one ask.
  function askToken(wrong) {
    if (asking) return asking;
    const dialog = document.getElementById("token");
    const form = dialog.querySelector("form");
    const message = dialog.querySelector(".error");
    message.hidden = !wrong;
    message.textContent = wrong ? "That token was refused." : "";
    asking = new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => {
          const token = dialog.returnValue === "ok" ? form.elements.token.value.trim() : "";
          dialog.returnValue = "";
          form.reset();
          asking = null;
          if (token) sessionStorage.setItem(TOKEN_KEY, token);
          resolve(token || null);
        },
        { once: true }
      );
      dialog.showModal();
    });
    return asking;
  }

  async function send(path, init) {
    const headers = new Headers(init.headers || {});
    const token = levee.token();
    if (token) headers.set("Authorization", "Bearer " + token);
    const options = Object.assign({}, init, { headers });
    delete options.raw;
    return fetch(path, options);
  }

  levee.api = async function (path, init) {
    init = init || {};
    let response = await send(path, init);
    // Asked again while refused, until the user gives up (an empty answer).
    while (response.status === 401) {
      const token = await askToken(levee.token() !== null);
      if (!token) break;
      response = await send(path, init);
    }
    const type = response.headers.get("content-type") || "";
    if (!response.ok) {
      let body = null;
      if (type.startsWith("application/json")) {
        try {
          body = await response.json();
        } catch (_) {
          body = null;
        }
      }
      const error = new Error(
        body && body.error ? body.error : response.status + " " + response.statusText
      );
      error.status = response.status;
      error.body = body;
      throw error;
    }
    if (init.raw) return response;
    return type.startsWith("application/json") ? response.json() : response.text();
  };

  // A DOM element: el("td", {class: "num"}, "12"); attributes starting with
  // "on" are listeners; children are nodes or text (never parsed as HTML).
  levee.el = function (tag, attrs, ...children) {
    const svg = levee.svgTags.has(tag);
    const node = svg
      ? document.createElementNS("http://www.w3.org/2000/svg", tag)
      : document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  };
  levee.svgTags = new Set([
    "svg", "g", "path", "line", "polyline", "polygon", "rect", "circle", "text", "title", "tspan",
  ]);

  // 1234567 -> "1.23M"; small numbers keep up to 2 decimals.
  levee.num = function (value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const abs = Math.abs(value);
    for (const [size, unit] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
      if (abs >= size) return (value / size).toPrecision(3).replace(/\.?0+$/, "") + unit;
    }
    if (abs >= 100 || Number.isInteger(value)) return String(Math.round(value));
    return value.toFixed(abs >= 10 ? 1 : 2).replace(/\.?0+$/, "");
  };
  levee.bytes = function (value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(value) >= 1024 && i < units.length - 1) {
      value /= 1024;
      i++;
    }
    return (i === 0 ? String(Math.round(value)) : value.toFixed(1)) + " " + units[i];
  };

  // The line under the nav: what the page last did, or what failed.
  levee.status = function (text, bad) {
    const status = document.getElementById("status");
    status.textContent = text || "";
    status.classList.toggle("bad", !!bad);
  };

  function route() {
    const name = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || "pipeline";
    const page = levee.pages[name];
    if (current && current.page.unmount) current.page.unmount();
    current = null;
    const main = document.getElementById("page");
    main.replaceChildren();
    levee.status("");
    for (const link of document.querySelectorAll("nav a")) {
      if (link.dataset.page === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (!page) {
      main.append(levee.el("p", { class: "error" }, "No page " + name + "."));
      return;
    }
    document.title = "levee · " + name;
    current = { name, page };
    page.mount(main);
  }

  window.addEventListener("hashchange", route);
  document.addEventListener("DOMContentLoaded", route);
})();
