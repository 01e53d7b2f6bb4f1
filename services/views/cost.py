"""The Cost tab's view model: every number it shows and exports.

Cached like :func:`services.views.overview.overview` (no theme in the key, numbers only); the
figures are :func:`services.views.charts.cost.cost_figures`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from services.analytics import cost, metrics
from services.analytics.filters import FilterState
from services.analytics.query import select, sharing_selections
from services.store.dataset import Dataset
from services.views.cache import VIEWS
from services.views.scope import Scope, describe, scope_of, view_key, viewer_today


@dataclass(frozen=True)
class CostView:
    key: tuple
    scope: Scope
    summary: cost.CostSummary
    by_model: pd.DataFrame
    """:func:`services.analytics.cost.cost_by_model` plus ``per_session_usd`` (cost ÷ sessions
    that used the model)."""
    by_experiment: pd.DataFrame
    over_time: pd.DataFrame
    budget: cost.Budget | None
    description: str


@sharing_selections
def cost_view(
    dataset: Dataset,
    state: FilterState,
    budget_usd: float = 0.0,
    today: date | None = None,
) -> CostView:
    today = viewer_today(state, today)  # also the budget's month: the viewer's month
    key = view_key("cost", dataset, state, today, budget_usd)
    return VIEWS.get_or_compute(key, lambda: _compute(key, dataset, state, budget_usd, today))


def _compute(
    key: tuple, dataset: Dataset, state: FilterState, budget_usd: float, today: date
) -> CostView:
    sel = select(dataset, state, today=today)
    summary = cost.cost_summary(sel)
    by_model = cost.cost_by_model(sel)
    by_model["per_session_usd"] = cost.per_session(by_model)
    return CostView(
        key=key,
        scope=scope_of(sel),
        summary=summary,
        by_model=by_model,
        by_experiment=cost.cost_by_experiment(sel),
        over_time=metrics.with_spans(cost.cost_over_time(sel), metrics.bucket_spans(sel)),
        budget=cost.monthly_budget(dataset, budget_usd, today, tz=state.tz),
        description=describe(state, dataset, sel.n),
    )
