/* Failed page updates are shown, never silent (issue #17).
 *
 * Every Dash callback request (POST /_dash-update-component) passes through this wrapper of
 * window.fetch. When the server answers with an error (5xx, 4xx) or does not answer at all, an
 * alert says which part of the page could not be updated and why, the tab contents are dimmed
 * (the numbers on screen are not those of the controls any more), and "Retry" sends the failed
 * requests again and applies their answers (dash_clientside.set_props), so everything that
 * depends on them updates too. A later success of the same update clears its entry; the alert
 * goes away when nothing is left.
 */
(function () {
  "use strict";
  var realFetch = window.fetch.bind(window);
  var failed = {}; // output spec -> {url, init, area, reason}

  var AREAS = [
    [/(^|\.\.)(f-|filter-state|url\.)/, "the filters"],
    [/(^|\.\.)(sv-)/, "saved views"],
    [/(^|\.\.)(q-|fig-compare|fig-quality|fig-cooccurrence)/, "the Quality & versions tab"],
    [/(^|\.\.)(eng-|fig-eng)/, "the Engagement tab"],
    [/(^|\.\.)(cost-|fig-cost)/, "the Cost tab"],
    [/(^|\.\.)(sessions-|table-state|download)/, "the Sessions table"],
    [/(^|\.\.)(kpi-|fig-|annotation|time-subtitle)/, "the Overview numbers and charts"],
    [/(^|\.\.)(data-generation|data-freshness|sync-|refresh)/, "the data status"],
    [/(^|\.\.)(alerts-)/, "the Alerts panel"],
    [/(^|\.\.)(view-download|export)/, "the export"],
  ];

  function area(output) {
    for (var i = 0; i < AREAS.length; i++) if (AREAS[i][0].test(output)) return AREAS[i][1];
    return "part of the page";
  }

  function isCallback(url) {
    return typeof url === "string" && url.indexOf("_dash-update-component") >= 0
      && url.indexOf("cacheKey=") < 0 && url.indexOf("job=") < 0; // not a background job's polls
  }

  function reasonOf(response) {
    if (response.status === 401) return "you are signed out; reload the page to sign in again";
    if (response.status >= 500) return "the server answered with an error (" + response.status + ")";
    return "the server refused it (" + response.status + ")";
  }

  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : (input && input.url) || "";
    if (!isCallback(url) || !init || typeof init.body !== "string") return realFetch(input, init);
    var output = "";
    try { output = JSON.parse(init.body).output || ""; } catch (e) { output = ""; }
    return realFetch(input, init).then(function (response) {
      if (response.status >= 400) record(output, url, init, reasonOf(response));
      else forget(output);
      return response;
    }, function (error) {
      record(output, url, init, "the server did not answer");
      throw error;
    });
  };

  function record(output, url, init, reason) {
    failed[output] = { url: url, init: init, area: area(output), reason: reason };
    render();
  }

  function forget(output) {
    if (failed[output]) { delete failed[output]; render(); }
  }

  function parseId(key) {
    if (key.charAt(0) === "{") { try { return JSON.parse(key); } catch (e) { return key; } }
    return key;
  }

  function apply(output, data) {
    var response = data && data.response;
    if (!response || !window.dash_clientside || !window.dash_clientside.set_props) return;
    if (!data.multi) {
      var spec = output.split("@")[0];
      var id = spec.slice(0, spec.lastIndexOf("."));
      response = {}; response[id] = data.response.props || {};
    }
    Object.keys(response).forEach(function (key) {
      var props = {};
      Object.keys(response[key]).forEach(function (prop) { props[prop.split("@")[0]] = response[key][prop]; });
      window.dash_clientside.set_props(parseId(key.split("@")[0]), props);
    });
  }

  function retry() {
    var entries = Object.keys(failed).map(function (output) { return [output, failed[output]]; });
    var button = document.querySelector(".update-failed button.update-retry");
    if (button) { button.disabled = true; button.textContent = "Retrying"; }
    // the filters first: their answer re-triggers every view on its own
    entries.sort(function (a, b) { return (b[1].area === "the filters") - (a[1].area === "the filters"); });
    var chain = Promise.resolve();
    entries.forEach(function (entry) {
      chain = chain.then(function () {
        return realFetch(entry[1].url, entry[1].init).then(function (response) {
          if (response.status === 204) { forget(entry[0]); return null; }
          if (response.status >= 400) { entry[1].reason = reasonOf(response); return null; }
          return response.json().then(function (data) { apply(entry[0], data); forget(entry[0]); });
        }, function () { entry[1].reason = "the server did not answer"; });
      });
    });
    chain.then(render, render);
  }

  var box = null;
  function render() {
    var outputs = Object.keys(failed);
    document.body.classList.toggle("updates-failed", outputs.length > 0);
    if (!outputs.length) { if (box) { box.remove(); box = null; } return; }
    var areas = [];
    outputs.forEach(function (o) { if (areas.indexOf(failed[o].area) < 0) areas.push(failed[o].area); });
    var reason = failed[outputs[outputs.length - 1]].reason;
    if (!box) {
      box = document.createElement("div");
      box.className = "alert alert-danger update-failed";
      box.setAttribute("role", "alert");
      box.id = "update-failed";
      var text = document.createElement("div");
      text.className = "update-failed-text";
      var retryButton = document.createElement("button");
      retryButton.type = "button";
      retryButton.className = "btn btn-danger btn-sm update-retry";
      retryButton.addEventListener("click", retry);
      box.appendChild(text);
      box.appendChild(retryButton);
      document.body.appendChild(box);
    }
    box.querySelector(".update-failed-text").textContent =
      "Could not update " + areas.join(", ") + ": " + reason + ". "
      + "The numbers shown may not match the filters.";
    var button = box.querySelector("button.update-retry");
    button.disabled = false;
    button.textContent = "Retry";
  }
})();
