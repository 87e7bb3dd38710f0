// levee console: the Metrics page (placeholder).
"use strict";
window.levee.pages.metrics = {
  mount(el) {
    el.append(window.levee.el("h1", {}, "Metrics"));
  },
  unmount() {},
};
