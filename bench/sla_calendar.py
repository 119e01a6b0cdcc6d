"""Benchmark: time to compute SLA deadlines for 100,000 open tickets, as after a restart."""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from core.settings import Calendar, SlaPolicy
from core.sla.calendar import BusinessCalendar
from core.sla.policy import compute_clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    now = datetime(2025, 11, 3, 6, 0, tzinfo=UTC)
    priorities = ("P0", "P1", "P2", "P3")
    tickets = []
    for _ in range(args.tickets):
        created = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 60))  # up to 60 days old
        pauses = []
        if rng.random() < 0.2:  # a fifth waited on the requester once
            p_start = created + timedelta(minutes=rng.randrange(0, 600))
            p_end = None if rng.random() < 0.5 else p_start + timedelta(minutes=rng.randrange(5, 3000))
            if p_start < now and (p_end is None or p_end < now):
                pauses.append((p_start, p_end))
        tickets.append((rng.choice(priorities), created, pauses))

    policy = SlaPolicy()
    t0 = time.perf_counter()
    calendar = BusinessCalendar.from_settings(Calendar())
    due = 0
    for priority, created, pauses in tickets:
        clock = compute_clock(
            policy=policy, calendar=calendar, priority=priority, created_at=created, now=now, pauses=pauses,
        )
        due += clock.resolve.breached
    elapsed = time.perf_counter() - t0
    per = elapsed / len(tickets) * 1e6
    print(f"{len(tickets)} tickets: all SLA clocks (respond/resolve deadlines, warnings, escalations) "
          f"computed in {elapsed:.2f} s ({per:.1f} µs per ticket); {due} past resolve-by")

    t0 = time.perf_counter()
    for _, created, _ in tickets:
        calendar.add(created, timedelta(hours=75))  # 10 business days
    elapsed = time.perf_counter() - t0
    print(f"{len(tickets)} x add(10 business days): {elapsed:.2f} s")


if __name__ == "__main__":
    main()
