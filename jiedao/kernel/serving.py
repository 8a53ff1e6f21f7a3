"""Process set-up for the WSGI and ASGI servers."""

import gc
import os


def tune_gc(setting: str | None = None) -> None:
    """Keep the cyclic garbage collector off the request path (docs/decisions/0010-intake-round-trips.md).

    A request's garbage is almost all freed by reference counting, but with Python's default threshold (700 new
    container objects) the collector ran every few hundred allocations and re-scanned the young objects of the
    request each time; the objects loaded at start-up (Django, the app, the URLconf) are frozen so the rarer full
    collections skip them. ``JIEDAO_GC_THRESHOLD``: "gen0,gen1,gen2", or "default" for Python's own.
    Measured: 10–15 % less Python time per case intake (docs/performance.md).
    """
    setting = setting if setting is not None else os.environ.get("JIEDAO_GC_THRESHOLD", "50000,20,100")
    if setting == "default":
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*(int(x) for x in setting.split(",")))

