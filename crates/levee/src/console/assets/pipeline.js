// levee console: the Pipeline page (placeholder).
"use strict";
window.levee.pages.pipeline = {
  mount(el) {
    el.append(window.levee.el("h1", {}, "Pipeline"));
  },
  unmount() {},
};
