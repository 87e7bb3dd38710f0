// levee console: the SQL page (placeholder; helper S's page replaces it).
"use strict";
window.levee.pages.sql = {
  mount(el) {
    el.append(window.levee.el("h1", {}, "SQL"), window.levee.el("p", { class: "note" }, "Coming."));
  },
  unmount() {},
};
