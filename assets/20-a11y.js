/* Keyboard and screen-reader fixes for third-party components (issue #17), applied to the DOM
 * whenever the page changes:
 *
 * - dbc.Tabs renders every tab link with the same id ("...-tab-null"), aria-controls pointing
 *   nowhere and tabindex -1, so no tab is reachable with Tab. Each link gets the id its panel's
 *   aria-labelledby names, aria-controls/aria-selected, and a roving tabindex (the active tab is
 *   the Tab stop; Left/Right/Home/End move between tabs and open them; Enter/Space open one).
 * - dcc.Dropdown (Dash 4) puts the Tab stop on a hidden, aria-hidden input that forwards focus to
 *   its button: the button itself becomes the Tab stop instead (same keys, no hidden focus).
 * - dcc.DatePickerRange's wrapper carries aria-expanded/aria-haspopup without a role and its
 *   clear link an aria-label without a role.
 * - Plotly's toolbar buttons leave the Tab order (each chart's CSV button is the keyboard path).
 */
(function () {
  "use strict";

  function fixTabs() {
    document.querySelectorAll('[role="tablist"]').forEach(function (list) {
      var links = list.querySelectorAll('[role="tab"]');
      var content = list.nextElementSibling;
      var panes = content ? content.querySelectorAll(':scope > [role="tabpanel"]') : [];
      links.forEach(function (link, i) {
        var pane = panes[i];
        if (pane && pane.id) {
          var id = pane.getAttribute("aria-labelledby") || pane.id.replace("-tabpane-", "-tab-");
          if (link.id !== id) link.id = id;
          if (link.getAttribute("aria-controls") !== pane.id) link.setAttribute("aria-controls", pane.id);
        }
        var active = link.classList.contains("active");
        link.setAttribute("aria-selected", active ? "true" : "false");
        link.setAttribute("tabindex", active ? "0" : "-1");
      });
      if (!list.dataset.a11y) {
        list.dataset.a11y = "1";
        list.addEventListener("keydown", onTabKey);
        new MutationObserver(schedule).observe(list, {
          subtree: true, attributes: true, attributeFilter: ["class"],
        });
      }
    });
  }

  function onTabKey(event) {
    var links = Array.prototype.slice.call(event.currentTarget.querySelectorAll('[role="tab"]'));
    var index = links.indexOf(document.activeElement);
    if (index < 0) return;
    var next = null;
    if (event.key === "ArrowRight") next = links[(index + 1) % links.length];
    else if (event.key === "ArrowLeft") next = links[(index - 1 + links.length) % links.length];
    else if (event.key === "Home") next = links[0];
    else if (event.key === "End") next = links[links.length - 1];
    else if (event.key === " " || event.key === "Enter") next = links[index];
    if (!next) return;
    event.preventDefault();
    next.focus();
    next.click();
  }

  function fixDropdowns() {
    document.querySelectorAll(".dash-dropdown-focus-target").forEach(function (input) {
      if (input.getAttribute("tabindex") !== "-1") input.setAttribute("tabindex", "-1");
      var button = input.nextElementSibling;
      if (button && button.tagName === "BUTTON" && !button.disabled && button.getAttribute("tabindex") !== "0") {
        button.setAttribute("tabindex", "0");
      }
    });
  }

  function fixDatePickers() {
    document.querySelectorAll(".dash-datepicker-input-wrapper").forEach(function (wrapper) {
      ["aria-expanded", "aria-haspopup", "type"].forEach(function (name) {
        if (wrapper.hasAttribute(name)) wrapper.removeAttribute(name);
      });
      var labelled = wrapper.getAttribute("aria-labelledby");
      if (labelled && labelled.indexOf("undefined") >= 0) {
        wrapper.setAttribute("aria-labelledby", labelled.replace(/\s*undefined/g, "").trim());
      }
    });
    document.querySelectorAll(".dash-datepicker-clear").forEach(function (clear) {
      if (clear.getAttribute("role") !== "button") clear.setAttribute("role", "button");
      if (!clear.hasAttribute("tabindex")) clear.setAttribute("tabindex", "0");
    });
  }

  function fixModebars() {
    document.querySelectorAll(".modebar-btn:not([tabindex='-1'])").forEach(function (button) {
      button.setAttribute("tabindex", "-1");
    });
  }

  function fixAll() {
    pending = false;
    fixTabs();
    fixDropdowns();
    fixDatePickers();
    fixModebars();
  }

  var pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(fixAll);
  }

  // the dropdown re-enables its hidden input's Tab stop whenever its button loses focus
  document.addEventListener("focusout", function () { window.setTimeout(fixDropdowns, 0); });
  // Enter/Space on the date picker's clear link (made a button above)
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && target.classList && target.classList.contains("dash-datepicker-clear")
        && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      target.click();
    }
  });
  function start() {
    new MutationObserver(schedule).observe(document.body, { childList: true, subtree: true });
    schedule();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
