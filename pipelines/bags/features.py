"""Features of a decoded bag: windowed statistics and anomaly scores per topic and numeric field.

Reads a topic's table one field at a time (the time column and that field), so memory follows the
longest single column, never the bag. Writes ``{output}/features/{topic}.parquet`` with one row per
window and field, and returns per-field summaries for the index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from fleetray.features.windows import STATISTICS, summary_statistics, window_statistics
from pipelines.bags.decode import output_filesystem, topic_slug

TIME_COLUMNS = {"t_ns", "stamp_ns"}
MAX_SUMMARY_FIELDS = 64  # the index keeps summaries of a topic's first fields only


def topic_features(output: str, topic: str, window_s: float = 10.0) -> dict[str, dict[str, float]]:
    """Compute and write the features of one decoded topic; its per-field summaries."""
    filesystem, root = output_filesystem(output)
    directory = f"{root}/topics/{topic_slug(topic)}"
    try:
        dataset = pads.dataset(directory, filesystem=filesystem, format="parquet")
    except (FileNotFoundError, pa.ArrowInvalid):
        return {}
    numeric = [
        f.name
        for f in dataset.schema
        if f.name not in TIME_COLUMNS
        and not f.name.endswith("_ns")  # timestamps are not signals
        and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_boolean(f.type))
    ]
    if not numeric:
        return {}
    times = dataset.to_table(columns=["t_ns"])["t_ns"]
    order = pc.sort_indices(times)
    t_s = times.take(order).to_numpy() / 1e9
    summaries: dict[str, dict[str, float]] = {}
    tables = []
    for name in numeric:
        column = dataset.to_table(columns=[name])[name].take(order)
        values = column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        if len(summaries) < MAX_SUMMARY_FIELDS:
            summaries[name] = summary_statistics(values)
        windows = window_statistics(t_s, values, window_s)
        if not len(windows["window_start_s"]):
            continue
        tables.append(
            pa.table(
                {
                    "field": [name] * len(windows["window_start_s"]),
                    **{key: windows[key] for key in ("window_start_s", *STATISTICS)},
                }
            )
        )
    if tables:
        filesystem.create_dir(f"{root}/features", recursive=True)
        pq.write_table(pa.concat_tables(tables), f"{root}/features/{topic_slug(topic)}.parquet", filesystem=filesystem)
    return summaries


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not np.isfinite(value) else value


def json_safe(summaries: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Summaries with NaN and infinities as null (PostgreSQL's JSON takes neither)."""
    return {field: {k: _finite(v) for k, v in stats.items()} for field, stats in summaries.items()}
