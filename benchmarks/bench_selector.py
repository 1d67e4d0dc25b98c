"""
Selector cost: building an ``AccountSelector`` from many ids and judging one health answer.

Both run on the triggerer's event loop (a trigger rebuilds its selector from kwargs, and every
poll evaluates the bulk health answer), so they must stay linear in the number of ids. The
security review measured the quadratic versions at ~3.5 s to build 20,000 ids and 0.2-0.65 s
per evaluation of 5,000 ids.

Usage: ``python benchmarks/bench_selector.py`` (prints the median of 5 runs of each case;
standalone, not part of ``run.py``'s summary).
"""

from __future__ import annotations

import statistics
import time

from airflow_provider_smartlyq.core.selector import AccountSelector
from airflow_provider_smartlyq.waits.health_gate import evaluate


def timed(function, repeats: int = 5) -> float:
    """Return the median wall time of ``function()`` in seconds."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    ids_20k = [str(i) for i in range(1, 20_001)]  # rendered templates give strings
    build = timed(lambda: AccountSelector.build(account_ids=ids_20k))

    ids_5k = list(range(1, 5_001))
    selector = AccountSelector.build(account_ids=ids_5k)
    answer = {
        "accounts": [
            {
                "id": i,
                "platform": "facebook",
                "account_name": f"Brand {i}",
                "status": "connected",
                "token_expired": False,
                "validity_days": 30,
                "is_active": True,
                "paused": False,
            }
            for i in ids_5k
        ]
    }
    evaluation = timed(lambda: evaluate(answer, selector))

    print("| case | median |")
    print("| --- | --- |")
    print(f"| build a selector of 20,000 ids | {build * 1000:.1f} ms |")
    print(f"| evaluate one health answer, 5,000 selected ids | {evaluation * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
