"""Drive a running app over HTTP exactly as the Dash renderer does, and measure it.

* :func:`page_load` opens the page once in headless Chromium (playwright) to learn which URLs a
  first visit fetches (HTML, ``_dash-layout``, ``_dash-dependencies``, every script and style,
  the lazily loaded chunks such as plotly.js), then re-fetches each with
  ``Accept-Encoding: gzip`` to count the bytes on the wire.
* :class:`DashClient` replays UI interactions as ``POST /_dash-update-component`` requests with
  the renderer's payload shape (captured from Chromium: ``output``, ``outputs``, ``inputs``,
  ``changedPropIds``, ``parsedChangedPropsIds``, ``state``): first the filter callback
  (``sync_filters``), then the two callbacks its new ``filter-state`` triggers
  (``update_overview`` and ``update_count``). Each request's server time comes from the
  ``Server-Timing`` header (services/timing.py), its wall time from the client on loopback.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from dataclasses import dataclass

import requests

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
STATIC_PREFIXES = ("/_dash-component-suites/", "/assets/", "/_favicon")


@dataclass
class Timed:
    server_ms: float
    wall_ms: float
    wire_bytes: int
    raw_bytes: int
    body: dict
    outputs: tuple = ()
    """Component ids of the callback's outputs (set by :meth:`DashClient.change`)."""


def id_key(component) -> str:
    """A component id as the renderer names it: strings as they are, dict ids (pattern
    matching) as JSON with sorted keys and no spaces."""
    if isinstance(component, dict):
        return json.dumps(component, sort_keys=True, separators=(",", ":"))
    return component


def _pattern(key: str):
    """A dependency's id: a dict for pattern-matching ids (given as JSON), else None."""
    if isinstance(key, str) and key.startswith("{"):
        return json.loads(key)
    return None


def _wildcard_match(pattern: dict, key: str) -> bool:
    """Whether the concrete component id ``key`` matches an ALL/MATCH/ALLSMALLER pattern."""
    concrete = _pattern(key)
    if concrete is None or set(concrete) != set(pattern):
        return False
    return all(isinstance(v, list) or concrete[k] == v for k, v in pattern.items())


def _server_ms(response: requests.Response) -> float:
    header = response.headers.get("Server-Timing", "")
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name == "app" and params.startswith("dur="):
            return float(params[4:])
    return float("nan")


def _split_output(output: str) -> list[tuple[str, str]]:
    """Dash's output string (``..a.x...b.y..`` or ``a.x``) → [(id, prop)]."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [tuple(part.rsplit(".", 1)) for part in parts]


def _walk(node, props: dict) -> None:
    """Collect initial ``(id, prop) → value`` from a ``_dash-layout`` tree."""
    if isinstance(node, list):
        for child in node:
            _walk(child, props)
        return
    if not isinstance(node, dict) or "props" not in node:
        return
    values = node["props"]
    component = values.get("id")
    for key, value in values.items():
        if isinstance(component, str | dict):
            props[(id_key(component), key)] = value
        if isinstance(value, dict | list):
            _walk(value, props)


class DashClient:
    """A minimal Dash renderer over HTTP, built from the app's own ``_dash-dependencies``.

    A UI event sets props; every server callback with a changed input in the layout fires (in
    dependency order), its response props count as changed and fire their dependants in turn —
    the chain the browser runs. Clientside callbacks are left out (none computes the view);
    pattern-matching inputs with ``ALL`` (the sessions table's sort headers) are sent as the
    list of matching components the client has seen, as the renderer does.
    """

    def __init__(self, base: str, http: requests.Session | None = None):
        self.base = base
        self.http = http if http is not None else requests.Session()
        self.http.headers.update({"Accept-Encoding": "gzip", "Content-Type": "application/json"})
        layout = self.http.get(base + "/_dash-layout").json()
        self.props: dict[tuple[str, str], object] = {}
        _walk(layout, self.props)
        present = {component for component, _ in self.props}
        self.deps = []
        for dep in self.http.get(base + "/_dash-dependencies").json():
            if dep.get("clientside_function") or "{" in dep["output"]:
                continue
            if any(
                isinstance(value, list) and value != ["ALL"]
                for item in dep["inputs"] + dep.get("state", [])
                for value in (_pattern(item["id"]) or {}).values()
            ):
                continue  # MATCH / ALLSMALLER: not used by the view callbacks
            outputs = _split_output(dep["output"])
            if not any(component in present for component, _ in outputs):
                continue
            dep["_outputs"] = outputs
            dep["_inputs"] = [(item["id"], item["property"]) for item in dep["inputs"]]
            self.deps.append(dep)
        self.last: dict[str, dict] = {}

    def post(self, payload: dict) -> Timed:
        started = time.perf_counter()
        response = self.http.post(
            self.base + "/_dash-update-component", data=json.dumps(payload), stream=True
        )
        wire = response.raw.read(decode_content=False)
        wall = (time.perf_counter() - started) * 1000
        if response.status_code == 204:
            return Timed(_server_ms(response), wall, len(wire), 0, {})
        response.raise_for_status()
        raw = gzip.decompress(wire) if response.headers.get("Content-Encoding") == "gzip" else wire
        body = json.loads(raw) if raw else {}
        return Timed(_server_ms(response), wall, len(wire), len(raw), body)

    def _item(self, item: dict):
        pattern = _pattern(item["id"])
        if pattern is not None:  # ALL: every matching component seen so far
            return [
                self._item({"id": json.loads(key), "property": prop})
                for key, prop in list(self.props)
                if prop == item["property"] and _wildcard_match(pattern, key)
            ]
        out = {"id": item["id"], "property": item["property"]}
        value = self.props.get((id_key(item["id"]), item["property"]))
        if value is not None:  # the renderer leaves out "value" for undefined props
            out["value"] = value
        return out

    def _fires(self, dep: dict, changed: set) -> list[str]:
        """The changed ``id.prop`` names among ``dep``'s inputs (wildcards matched)."""
        fired = []
        for component, prop in dep["_inputs"]:
            pattern = _pattern(component)
            for key, changed_prop in changed:
                if changed_prop != prop:
                    continue
                if key == component or (pattern is not None and _wildcard_match(pattern, key)):
                    fired.append(f"{key}.{prop}")
        return fired

    def _call(self, dep: dict, changed: set) -> Timed:
        ids = self._fires(dep, changed)
        outputs = [{"id": i, "property": p} for i, p in dep["_outputs"]]
        payload = {
            "output": dep["output"],
            "outputs": outputs if dep["output"].startswith("..") else outputs[0],
            "inputs": [self._item(item) for item in dep["inputs"]],
            "changedPropIds": ids,
            "parsedChangedPropsIds": ids,
        }
        if dep.get("state"):
            payload["state"] = [self._item(item) for item in dep["state"]]
        timed = self.post(payload)
        timed.outputs = tuple(component for component, _ in dep["_outputs"])
        self.last[dep["_outputs"][0][0]] = payload
        return timed

    def replay(self, output_id: str) -> Timed:
        """POST the last request of the callback whose first output is ``output_id`` again
        (the same filters: a repeated view, as a second viewer or a reload sends it)."""
        timed = self.post(self.last[output_id])
        timed.outputs = (output_id,)
        return timed

    def find(self, prop: str, **fields) -> str | None:
        """The id key of a seen pattern-matching component whose id has these fields."""
        for key, seen_prop in self.props:
            pattern = _pattern(key)
            if (
                seen_prop == prop
                and pattern
                and all(pattern.get(k) == v for k, v in fields.items())
            ):
                return key
        return None

    def change(self, changes: dict) -> list[tuple[str, Timed]]:
        """One UI event: ``changes`` maps (id, prop) → new value (None = one more click)."""
        for key, value in changes.items():
            if value is None:
                value = int(self.props.get(key) or 0) + 1
            self.props[key] = value
        return self._run(set(changes))

    def open_link(self, search: str) -> list[tuple[str, Timed]]:
        """Open the page with ``search`` as the query, as the renderer does on a page load:
        every callback without ``prevent_initial_call`` whose inputs are in the layout fires
        once (the URL → filters callback among them), then whatever their outputs trigger."""
        self.props[("url", "search")] = search
        present = {component for component, _ in self.props}
        initial = [
            dep
            for dep in self.deps
            if not dep.get("prevent_initial_call")
            and all(_pattern(c) is not None or c in present for c, _ in dep["_inputs"])
        ]
        return self._run(set(), initial)

    def _next(self, queue: list) -> int:
        """Index of the first queued callback none of whose inputs another queued callback
        still has to produce (the renderer waits for those), else the first."""
        for k, (dep, _) in enumerate(queue):
            pending = {out for other, _ in queue if other is not dep for out in other["_outputs"]}
            if not any(item in pending for item in dep["_inputs"]):
                return k
        return 0

    def _run(self, changed: set, initial: list | None = None) -> list[tuple[str, Timed]]:
        chain = []
        if initial is None:
            queue = [(dep, changed) for dep in self.deps if self._fires(dep, changed)]
        else:
            queue = [(dep, set()) for dep in initial]
        while queue:
            dep, trigger = queue.pop(self._next(queue))
            timed = self._call(dep, trigger)
            chain.append((dep["_outputs"][0][0], timed))
            new = set()
            for component, values in (timed.body.get("response") or {}).items():
                for prop, value in values.items():
                    self.props[(component, prop)] = value
                    new.add((component, prop))
                    if isinstance(value, dict | list):
                        _walk(value, self.props)  # new components (e.g. sort headers)
            waiting = {id(d) for d, _ in queue}
            for other in self.deps:
                if other is not dep and id(other) not in waiting and self._fires(other, new):
                    queue.append((other, new))
        return chain

    @property
    def filter_state(self):
        return self.props.get(("filter-state", "data"))


def page_load(base: str, search: str) -> dict:
    """First-visit bytes: what Chromium fetched, re-fetched with gzip; plus Chromium's own view."""
    from playwright.sync_api import sync_playwright

    seen: list = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("requestfinished", lambda request: seen.append(request))
            started = time.perf_counter()
            page.goto(base + "/" + search)
            page.wait_for_selector("#fig-time .main-svg", timeout=120_000)
            rendered_s = time.perf_counter() - started
            page.wait_for_load_state("networkidle")
            browser_rows = []
            for request in seen:
                response = request.response()
                browser_rows.append(
                    {
                        "method": request.method,
                        "path": request.url[len(base) :].split("?")[0],
                        "encoded": request.sizes()["responseBodySize"],
                        "encoding": response.headers.get("content-encoding") if response else None,
                    }
                )
        finally:
            browser.close()
    http = requests.Session()
    rows = []
    for request in seen:
        if request.method != "GET":
            continue
        response = http.get(request.url, headers={"Accept-Encoding": "gzip"}, stream=True)
        wire = response.raw.read(decode_content=False)
        raw = gzip.decompress(wire) if response.headers.get("Content-Encoding") == "gzip" else wire
        path = request.url[len(base) :].split("?")[0]
        rows.append(
            {
                "path": path,
                "static": path.startswith(STATIC_PREFIXES),
                "gzip": len(wire),
                "raw": len(raw),
            }
        )
    updates = [r for r in browser_rows if r["method"] == "POST"]
    return {
        "rows": rows,
        "browser_rows": browser_rows,
        "rendered_s": rendered_s,
        "total_gzip": sum(r["gzip"] for r in rows),
        "total_raw": sum(r["raw"] for r in rows),
        "dynamic_gzip": sum(r["gzip"] for r in rows if not r["static"]),
        "static_gzip": sum(r["gzip"] for r in rows if r["static"]),
        "browser_total": sum(max(r["encoded"], 0) for r in browser_rows),
        "browser_updates": sum(max(r["encoded"], 0) for r in updates),
        "update_requests": len(updates),
    }
