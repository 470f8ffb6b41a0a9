"""Rules between parameters that JSON Schema cannot state, told to schemathesis
(loaded by scripts/schemathesis.sh through SCHEMATHESIS_HOOKS)."""

from datetime import datetime, timedelta, timezone

import schemathesis

STEPS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_POINTS = 1500


def _instant(value):
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@schemathesis.hook
def filter_query(ctx, query):
    """A usage window runs forward (`from` < `to`) and spans at most 1 500
    steps of its granularity (SPEC §14); otherwise the answer is the
    documented 422 `validation_failed` or `too_many_points`. Defaults as the
    handler has them: `to` now, `from` 24 h before `to`, `hour` steps."""
    if not query or not ({"from", "to"} & set(query)):
        return True
    try:
        to = _instant(query["to"]) if "to" in query else datetime.now(timezone.utc)
        start = _instant(query["from"]) if "from" in query else to - timedelta(hours=24)
    except (TypeError, ValueError):
        return True
    step = STEPS.get(query.get("granularity", "hour"), 3600)
    return start < to and (to - start).total_seconds() / step <= MAX_POINTS
