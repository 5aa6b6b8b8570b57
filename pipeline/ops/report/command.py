"""``newswire report`` itself: the window from the options, the lake read, the page written atomically.

The only part with side effects (the lake, the clock, the output file), so the rest stays pure.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

from pipeline.io.lake.location import LakeLocation, is_object_store_uri
from pipeline.ops.report.page import render_report
from pipeline.ops.report.queries import ReportData, collect_report


def window_start(since: Optional[datetime], hours: Optional[float], days: Optional[float],
                 now: datetime) -> Optional[datetime]:
    """The report's lower time bound (UTC) from ``--since``/``--hours``/``--days``; None means the whole lake."""
    if since is not None:
        return since.replace(tzinfo=timezone.utc) if since.tzinfo is None else since.astimezone(timezone.utc)
    if hours is not None:
        return now - timedelta(hours=hours)
    if days is not None:
        return now - timedelta(days=days)
    return None


def parse_since(text: str) -> datetime:
    """``2026-11-24``, ``2026-11-24T06:00`` or with an offset; a time without offset is UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)



def write_report(lake: LakeLocation, out: Path, since: Optional[datetime], now: Optional[datetime] = None) -> ReportData:
    """Collect, render and write the page atomically (a page being served is never half-written)."""
    data = collect_report(lake, since, now)
    page = render_report(data)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return data


class ReportArgumentError(ValueError):
    """A report option that cannot be used (shown as a usage error)."""


def report_command(lake: LakeLocation, out: Path, since: Optional[str], hours: Optional[float], days: Optional[float]) -> int:
    """``newswire report``: check the options, write the page, say what it holds."""
    if not is_object_store_uri(lake) and not Path(lake).is_dir():  # a bucket is checked when it is read
        raise ReportArgumentError(f"no lake folder at {lake}")
    try:
        since_time = parse_since(since) if since else None
    except ValueError:
        raise ReportArgumentError(f"--since {since!r} is not an ISO date or time (e.g. 2026-11-24T06:00)") from None
    now = datetime.now(timezone.utc)
    data = write_report(lake, out, window_start(since_time, hours, days, now), now)
    stories = sum(sum(s.values) for s in data.stories.series)
    print(f"wrote {out}: {stories:.0f} stories, {len(data.clusters)} clusters, "
          f"{sum(d.messages for d in data.dead_letters)} dead letters")
    return 0

