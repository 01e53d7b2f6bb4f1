"""In-memory layout of one store generation, built for fast filtering at 1M sessions.

* Rows are sorted by ``created_at``, so a date window is a contiguous slice found with
  :func:`numpy.searchsorted` (no mask over the whole table).
* Team, experiment, status, platform and participant are integer codes; a multi-select filter is
  a lookup ``allowed[codes]`` on the slice.
* Session tags are a boolean matrix ``tag_matrix[tag, row]`` (one contiguous row per tag), so
  "any"/"all" tag logic is NumPy ``any``/``all`` over a few rows — no Python loops.
* Numeric transcript columns are float64 with NaN where no transcript is known.

Nothing here knows about Dash; :mod:`services.analytics.query` and :mod:`services.analytics.metrics` read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from services.store.schema import NS_PER_DAY, version_sort_key
from services.store.tables import Tables


def _encode(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array, bool]:
    """Dictionary-encode a string column with codes in sorted label order.

    Returns (int32 codes, sorted distinct non-null values, whether nulls occur). Null rows get
    the code of ``""``: the first label when ``""`` occurs, else one past the last (the caller
    appends ``""``). Arrow sorts strings by UTF-8 bytes, which is Python's code point order.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column)
    dictionary = encoded.dictionary
    order = np.asarray(pc.array_sort_indices(dictionary).to_numpy(), dtype=np.int64)
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    labels = dictionary.take(pa.array(order))
    has_null = encoded.indices.null_count > 0
    if not has_null:
        codes = rank[np.asarray(encoded.indices.to_numpy(zero_copy_only=False))]
        return codes, labels, False
    null_code = 0 if len(labels) and labels[0].as_py() == "" else len(labels)
    if not len(labels):  # every value is null
        return np.full(len(column), null_code, dtype=np.int32), labels, True
    indices = np.asarray(pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False))
    codes = rank[indices]
    codes[np.asarray(encoded.indices.is_null().to_numpy(zero_copy_only=False))] = null_code
    return codes, labels, True


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Dictionary-encode a string column → (int32 codes, sorted category labels).

    A null value gets the label ``""`` (appended last unless ``""`` itself occurs).
    """
    codes, labels, has_null = _encode(column)
    names = labels.to_pylist()
    if has_null:
        names.append("")
    return codes, names


def _membership(
    lists: pa.ChunkedArray,
    n: int,
    order: list[str] | None = None,
    where: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str]]:
    """A list<string> column → (bool matrix [label, row], labels).

    ``where[i]`` is the matrix column of list ``i`` (default: the same position).
    """
    combined = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    flat = pc.list_flatten(combined)
    parents = np.asarray(pc.list_parent_indices(combined).to_numpy(zero_copy_only=False))
    if where is not None:
        parents = where[parents]
    labels = order if order is not None else sorted(pc.unique(flat).to_pylist())
    matrix = np.zeros((len(labels), n), dtype=bool)
    if len(flat) and labels:
        index = np.asarray(
            pc.index_in(flat, value_set=pa.array(labels, pa.string())).to_numpy(
                zero_copy_only=False
            )
        )
        matrix[index, parents] = True
    return matrix, labels


def _float(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(
        pc.cast(table[name], pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
    )


def _ns(table: pa.Table, name: str) -> np.ndarray:
    """Timestamp column → int64 ns, with ``NaT`` as the minimum int64."""
    arr = table[name].to_numpy(zero_copy_only=False)
    return np.asarray(arr).astype("datetime64[ns]").view(np.int64)


NAT = np.iinfo(np.int64).min

ROW_COLUMNS = (
    "created_at",
    "session_id",
    "team_slug",
    "team_name",
    "experiment_id",
    "experiment_name",
    "participant_identifier",
    "status",
    "platform",
    "human_messages",
    "ai_messages",
    "versions",
    "tags",
    "cost_usd",
)
"""Session columns kept as Arrow for :meth:`Dataset.rows` (the sessions table and exports)."""
DICTIONARY_COLUMNS = (
    "team_slug",
    "team_name",
    "experiment_id",
    "experiment_name",
    "status",
    "platform",
)
"""…of which these few-valued ones are held dictionary-encoded (decoded again by ``rows``)."""


def _row_table(sessions: pa.Table) -> pa.Table:
    table = sessions.select([c for c in ROW_COLUMNS if c in sessions.column_names])
    for name in DICTIONARY_COLUMNS:
        index = table.schema.get_field_index(name)
        if index >= 0 and pa.types.is_string(table.schema.field(index).type):
            encoded = pc.dictionary_encode(table[name])
            table = table.set_column(
                index, table.schema.field(index).with_type(encoded.type), encoded
            )
    return table


def take_rows(table: pa.Table, positions: np.ndarray) -> pa.Table:
    """``table.take(positions)`` without joining the table's chunks first.

    Arrow's take on a multi-chunk table concatenates every chunk (O(rows of the table): ~30 ms
    for a 1M-session table in 8 record batches, as read from a mapped IPC file); this takes
    from each batch only its own positions (O(positions)) and restores their order.
    """
    positions = np.asarray(positions, dtype=np.int64)
    batches = table.to_batches()
    if len(batches) <= 1 or len(positions) == 0:
        return table.take(pa.array(positions))
    starts = np.cumsum([0] + [batch.num_rows for batch in batches])
    which = np.searchsorted(starts, positions, side="right") - 1
    order = np.argsort(which, kind="stable")
    pieces = [
        batches[b].take(pa.array(positions[which == b] - starts[b]))
        for b in np.flatnonzero(np.bincount(which))  # (not np.unique: a hash set, slow)
    ]
    gathered = pa.Table.from_batches(pieces, schema=table.schema).combine_chunks()
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return gathered.take(pa.array(inverse))


def _decoded(table: pa.Table) -> pa.Table:
    for index, column_field in enumerate(table.schema):
        if pa.types.is_dictionary(column_field.type):
            value_type = column_field.type.value_type
            table = table.set_column(
                index, column_field.with_type(value_type), table[index].cast(value_type)
            )
    return table


@dataclass(frozen=True)
class CostRows:
    """The ``session_costs`` rows (one per session and model) in dataset order: sorted by the
    time-sorted row position of their session, rows of sessions not in the store dropped."""

    position: np.ndarray  # int64, ascending
    model_codes: np.ndarray  # int32 into ``models`` (codes in order of first appearance)
    models: list[str]
    cost_usd: np.ndarray  # float64, NaN when unknown
    tokens: np.ndarray  # int64, 0 when unknown

    ARRAYS = ("position", "model_codes", "cost_usd", "tokens")


def _cost_rows(costs: pa.Table, sessions: pa.Table, where: np.ndarray) -> CostRows:
    if costs.num_rows == 0 or sessions.num_rows == 0:
        empty = np.array([], dtype=np.int64)
        return CostRows(empty, np.array([], np.int32), [], np.array([], float), empty)
    stored = pc.index_in(costs["session_id"], value_set=sessions["session_id"].combine_chunks())
    if isinstance(stored, pa.ChunkedArray):
        stored = stored.combine_chunks()
    found = np.asarray(stored.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.asarray(pc.fill_null(stored, 0).to_numpy(zero_copy_only=False))[found]
    position = where[rows]
    order = np.argsort(position, kind="stable")
    model = pc.fill_null(costs["model"], "(unknown)").filter(pa.array(found))
    encoded = pc.dictionary_encode(model.combine_chunks())
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int32)
    cost = np.asarray(
        pc.cast(costs["cost_usd"], pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
    )
    tokens = np.asarray(
        pc.cast(pc.fill_null(costs["tokens"], 0), pa.int64()).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    return CostRows(
        position=position[order].astype(np.int64),
        model_codes=codes[order],
        models=[str(m) for m in encoded.dictionary.to_pylist()],
        cost_usd=cost[found][order],
        tokens=tokens[found][order],
    )


@dataclass
class Dataset:
    generation: int
    meta: dict
    n: int
    session_id: np.ndarray
    created_ns: np.ndarray
    day: np.ndarray
    team_codes: np.ndarray
    teams: list[str]
    team_names: dict[str, str]
    experiment_codes: np.ndarray
    experiments: list[str]
    experiment_names: dict[str, str]
    experiment_team: dict[str, str]
    status_codes: np.ndarray
    statuses: list[str]
    platform_codes: np.ndarray
    platforms: list[str]
    participant_codes: np.ndarray
    n_participants: int
    tag_matrix: np.ndarray
    tag_names: list[str]
    tag_index: dict[str, int]
    untagged: np.ndarray
    version_matrix: np.ndarray
    version_names: list[str]
    has_transcript: np.ndarray
    human_messages: np.ndarray
    ai_messages: np.ndarray
    user_words: np.ndarray
    ai_words: np.ndarray
    duration_s: np.ndarray
    thumbs_up: np.ndarray
    thumbs_down: np.ndarray
    cost_usd: np.ndarray
    appreciation_hits: np.ndarray
    """Participant messages with an appreciation word (float, NaN: not counted)."""
    dissatisfaction_hits: np.ndarray
    first_version: np.ndarray
    last_version: np.ndarray
    experiments_table: pd.DataFrame
    versions_table: pd.DataFrame
    costs_table: pd.DataFrame
    _sessions: pa.Table = field(repr=False, default=None)
    cost_rows: CostRows | None = field(repr=False, default=None)
    """``costs_table`` indexed by row position (built once per generation; see CostRows)."""
    _row_order: np.ndarray | None = field(repr=False, default=None)
    """``_sessions`` row of each time-sorted position (None: the same position)."""
    _derived: dict = field(repr=False, default_factory=dict, compare=False)
    """Lazily computed per-dataset structures (e.g. annotation patterns), see metrics."""

    @classmethod
    def from_tables(cls, tables: Tables, generation: int) -> Dataset:
        # The rows stay where the store put them; ``order`` lists them by time and every
        # per-row NumPy array is built in that order (a NumPy gather is far cheaper than an
        # Arrow ``take`` of the whole table). Row access maps positions through ``order``.
        sessions = tables.sessions
        n = sessions.num_rows
        order = np.asarray(
            pc.sort_indices(
                sessions, sort_keys=[("created_at", "ascending"), ("session_id", "ascending")]
            ).to_numpy(),
            dtype=np.int64,
        )
        where = np.empty(n, dtype=np.int64)  # stored row → time-sorted position
        where[order] = np.arange(n, dtype=np.int64)

        def codes_of(name_or_column) -> tuple[np.ndarray, list[str]]:
            column = sessions[name_or_column] if isinstance(name_or_column, str) else name_or_column
            codes, labels = _codes(column)
            return codes[order], labels

        created = _ns(sessions, "created_at")[order]
        team_codes, teams = codes_of("team_slug")
        exp_codes, experiments = codes_of("experiment_id")
        status_codes, statuses = codes_of("status")
        platform_codes, platforms = codes_of("platform")
        participant_key = pc.binary_join_element_wise(
            sessions["team_slug"], sessions["participant_identifier"], "\x1f"
        )
        participant_codes, participant_labels, participant_null = _encode(participant_key)
        participant_codes = participant_codes[order]
        n_participants = len(participant_labels) + int(participant_null)
        del participant_key

        def take(values: str, positions: np.ndarray) -> list:
            """Values of a column at time-sorted positions."""
            return sessions[values].take(pa.array(order[positions])).to_pylist()

        def first_label(codes: np.ndarray, labels: list[str], values: str) -> dict[str, str]:
            mapping: dict[str, str] = {}
            if n:
                _, first = np.unique(codes, return_index=True)
                column = take(values, first)
                for pos, value in zip(first, column, strict=True):
                    mapping[labels[codes[pos]]] = value
            return mapping

        team_names = first_label(team_codes, teams, "team_name")
        exp_team = first_label(exp_codes, experiments, "team_slug")
        # The newest session carries the newest experiment name.
        exp_names: dict[str, str] = {}
        if n:
            rev = np.arange(n - 1, -1, -1)
            _, last = np.unique(exp_codes[rev], return_index=True)
            idx = rev[last]
            names = take("experiment_name", idx)
            for pos, name in zip(idx, names, strict=True):
                exp_names[experiments[exp_codes[pos]]] = name
        experiments_table = tables.experiments.to_pandas()
        for row in experiments_table.itertuples():
            if row.experiment_id in exp_names or row.experiment_id not in experiments:
                exp_names.setdefault(row.experiment_id, row.name)
            # The experiments list is authoritative for current names.
            if row.experiment_id in experiments:
                exp_names[row.experiment_id] = row.name
                exp_team.setdefault(row.experiment_id, row.team_slug)

        tag_matrix, tag_names = _membership(sessions["tags"], n, where=where)
        versions_lists = sessions["versions"].combine_chunks()
        version_labels = sorted(
            set(pc.unique(pc.list_flatten(versions_lists)).to_pylist()),
            key=version_sort_key,
        )
        version_matrix, version_names = _membership(versions_lists, n, version_labels, where)
        first_version = np.full(n, -1, dtype=np.int32)
        last_version = np.full(n, -1, dtype=np.int32)
        if version_names:
            first = pc.list_element(
                pc.if_else(
                    pc.greater(pc.list_value_length(versions_lists), 0), versions_lists, None
                ),
                0,
            )
            lengths = pc.list_value_length(versions_lists)
            flat = pc.list_flatten(versions_lists)
            offsets = np.asarray(versions_lists.offsets.to_numpy())
            lens = np.asarray(pc.fill_null(lengths, 0).to_numpy(zero_copy_only=False))
            value_set = pa.array(version_names, pa.string())
            has = lens > 0
            first_idx = np.asarray(
                pc.fill_null(pc.index_in(first, value_set=value_set), -1).to_numpy(
                    zero_copy_only=False
                )
            )
            first_version[:] = first_idx[order]
            flat_idx = np.asarray(
                pc.index_in(flat, value_set=value_set).to_numpy(zero_copy_only=False)
            )
            last_pos = offsets[1:] - 1
            stored_last = np.full(n, -1, dtype=np.int32)
            stored_last[has] = flat_idx[last_pos[has] - offsets[0]]
            last_version[:] = stored_last[order]
        del versions_lists

        first_msg = _ns(sessions, "first_message_at")
        last_msg = _ns(sessions, "last_message_at")
        duration = np.where(
            (first_msg == NAT) | (last_msg == NAT), np.nan, (last_msg - first_msg) / 1e9
        )[order]
        del first_msg, last_msg
        return cls(
            generation=generation,
            meta=dict(tables.meta),
            n=n,
            session_id=np.asarray(sessions["session_id"].to_numpy(zero_copy_only=False))[order],
            created_ns=created,
            day=(created // NS_PER_DAY).astype(np.int32),
            team_codes=team_codes,
            teams=teams,
            team_names=team_names,
            experiment_codes=exp_codes,
            experiments=experiments,
            experiment_names=exp_names,
            experiment_team=exp_team,
            status_codes=status_codes,
            statuses=statuses,
            platform_codes=platform_codes,
            platforms=platforms,
            participant_codes=participant_codes,
            n_participants=n_participants,
            tag_matrix=tag_matrix,
            tag_names=tag_names,
            tag_index={name: i for i, name in enumerate(tag_names)},
            untagged=~tag_matrix.any(axis=0) if tag_names else np.ones(n, dtype=bool),
            version_matrix=version_matrix,
            version_names=version_names,
            has_transcript=np.asarray(
                sessions["has_transcript"].to_numpy(zero_copy_only=False), dtype=bool
            )[order],
            human_messages=_float(sessions, "human_messages")[order],
            ai_messages=_float(sessions, "ai_messages")[order],
            user_words=_float(sessions, "user_words")[order],
            ai_words=_float(sessions, "ai_words")[order],
            duration_s=duration,
            thumbs_up=_float(sessions, "thumbs_up")[order],
            thumbs_down=_float(sessions, "thumbs_down")[order],
            cost_usd=_float(sessions, "cost_usd")[order],
            appreciation_hits=_float(sessions, "appreciation_hits")[order],
            dissatisfaction_hits=_float(sessions, "dissatisfaction_hits")[order],
            first_version=first_version,
            last_version=last_version,
            experiments_table=experiments_table,
            versions_table=tables.experiment_versions.to_pandas(),
            costs_table=tables.session_costs.to_pandas(),
            _sessions=_row_table(sessions),
            cost_rows=_cost_rows(tables.session_costs, sessions, where),
            _row_order=order,
        )

    # ---- row access for tables and exports -------------------------------------------------

    def rows(self, positions: np.ndarray, columns: list[str] | None = None) -> pd.DataFrame:
        """Materialise the given row positions (already filtered/sorted) as a DataFrame.

        Only the columns in :data:`ROW_COLUMNS` are kept in memory.
        """
        table = self._sessions.select(columns) if columns else self._sessions
        positions = np.asarray(positions, dtype=np.int64)
        if self._row_order is not None:
            positions = self._row_order[positions]
        return _decoded(take_rows(table, positions)).to_pandas()

    @property
    def data_start_ns(self) -> int | None:
        return int(self.created_ns[0]) if self.n else None

    @property
    def data_end_ns(self) -> int | None:
        return int(self.created_ns[-1]) if self.n else None
