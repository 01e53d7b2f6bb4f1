"""What the first page load fetches (issue #5, "first page ≤ 1 MB"), over real HTTP.

* The page loads the vendored plotly.js cartesian bundle from /assets/ as a plain (blocking)
  script before Dash's renderer, so ``window.Plotly`` exists when dcc.Graph renders and Dash's
  full ``plotly.min.js`` is never requested (the browser side is in tests/browser/test_browser.py).
* Every JS and CSS file the page references, our /assets/ included, goes out gzip-compressed to
  a gzip-only client, and a compressed asset revalidates with 304.
"""

from __future__ import annotations

import gzip
import re

import pytest
import requests

from tests.support.browser_support import start_app, stop

BUNDLE = "/assets/01-plotly-cartesian-4.1.1.min.js"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    process, url = start_app(tmp_path_factory.mktemp("assets-data"))
    yield url
    stop(process)


@pytest.fixture(scope="module")
def html(base) -> str:
    response = requests.get(base + "/", timeout=30)
    assert response.status_code == 200
    return response.text


def script_tags(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*\bsrc=\"[^\"]+\"[^>]*>", html)


def src(tag: str) -> str:
    return re.search(r'src="([^"]+)"', tag).group(1)


def test_page_loads_the_vendored_plotly_bundle_and_not_plotly_min_js(html):
    tags = script_tags(html)
    sources = [src(t).split("?")[0] for t in tags]
    assert BUNDLE in sources
    bundle_tag = tags[sources.index(BUNDLE)]
    assert " async" not in bundle_tag and " defer" not in bundle_tag  # defined before render
    renderer = next(i for i, s in enumerate(sources) if "dash_renderer" in s)
    assert sources.index(BUNDLE) < renderer
    assert not [s for s in sources if "plotly.min.js" in s or "cdn.plot.ly" in s]
    assert "ag-grid" not in html.lower() and "ag_grid" not in html.lower()


def test_every_script_and_stylesheet_is_gzipped_for_a_gzip_only_client(base, html):
    paths = [src(t) for t in script_tags(html)]
    paths += re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    paths.append("/_dash-component-suites/dash/dcc/async-graph.js")  # loaded by dcc.Graph
    assert any(p.startswith("/assets/") for p in paths)
    assert any(p.startswith("/_dash-component-suites/") for p in paths)
    for path in paths:
        response = requests.get(
            base + path, headers={"Accept-Encoding": "gzip"}, stream=True, timeout=30
        )
        assert response.status_code == 200, path
        wire = response.raw.read(decode_content=False)
        if len(wire) < 500 and response.headers.get("Content-Encoding") is None:
            continue  # below flask-compress's minimum size
        assert response.headers.get("Content-Encoding") == "gzip", path
        assert len(gzip.decompress(wire)) > len(wire), path


def test_a_compressed_asset_revalidates_with_304(base):
    url = base + "/assets/00-bootstrap-5.3.8.min.css"
    first = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30)
    etag = first.headers["ETag"]
    assert etag.endswith(':gzip"')
    again = requests.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag}, timeout=30
    )
    assert again.status_code == 304
    assert again.content == b""
