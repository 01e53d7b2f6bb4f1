"""Presentation numbers: one view model per tab, and (in :mod:`services.views.charts`) the
figures drawn from them.

* :mod:`~services.views.overview` — KPIs, sessions over time, by experiment / team,
  annotation quality (also ``/api/v1/summary`` and the Overview CSV/JSON/XLSX);
* :mod:`~services.views.quality` — version or period comparison, quality over time, coverage,
  co-occurrence;
* :mod:`~services.views.engagement` — depth, drop-off, ratings, lexicon, participants,
  retention (with the week-1 card);
* :mod:`~services.views.cost` — spend summary, by model / experiment / time, monthly budget;
* :mod:`~services.views.sessions` — the Sessions table's count, pages, CSV rows and the
  ``/api/v1/sessions`` pages.

A view model holds numbers only (a :class:`~services.views.scope.Scope` instead of the
selection); views and figures are cached in :mod:`services.views.cache` (bounded in bytes,
views keyed without the theme).
"""
