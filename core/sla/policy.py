"""SLA clocks of a ticket: respond-by / resolve-by, warning and escalation moments, breach and time left."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Literal

from core.sla.calendar import AROUND_THE_CLOCK, AroundTheClock, BusinessCalendar, from_us, to_us
from core.sla.durations import SlaDuration, parse_duration

if TYPE_CHECKING:
    from core.settings import SlaPolicy

TimerName = Literal["respond", "resolve"]
TimerState = Literal["running", "warning", "breached", "paused", "met", "missed"]
Pause = tuple[datetime, datetime | None]
PauseSpan = tuple[int, int, bool]  # start µs, end µs (now when still open), still open


class PolicyError(ValueError):
    """A policy that cannot be applied (unknown priority, bad target, bad warn fraction)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Escalation:
    level: int  # 1-based, in config order
    at: datetime
    notify: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaTimer:
    """One SLA target of a ticket (first response or resolution) at the moment `SlaClock.now`.

    Seconds are on the timer's clock: working seconds when `business` is true, else real seconds.
    """

    name: TimerName
    target: SlaDuration
    business: bool
    target_seconds: float
    due_at: datetime
    warn_at: datetime | None  # None when the policy has no warning point
    stopped_at: datetime | None  # first response / resolution, when it happened
    breached: bool  # open and past due, or stopped after due_at
    left_seconds: float  # negative: overdue by that much
    paused_seconds: float  # clock time spent waiting on the requester (not counted)
    paused: bool  # waiting on the requester right now (due_at and warn_at move until resumed)
    warned: bool  # open and past the warning point (the "due soon" alert is due)
    escalations: tuple[Escalation, ...]

    @property
    def met(self) -> bool:
        return self.stopped_at is not None and not self.breached

    @property
    def state(self) -> TimerState:
        if self.stopped_at is not None:
            return "missed" if self.breached else "met"
        if self.breached:
            return "breached"
        if self.paused:
            return "paused"
        return "warning" if self.warned else "running"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaClock:
    """Both SLA timers of a ticket, computed at `now` (a pure value: recompute after any change)."""

    priority: str
    now: datetime
    respond: SlaTimer
    resolve: SlaTimer
    paused: bool
    paused_since: datetime | None
    pause_when_waiting: bool

    @property
    def timers(self) -> tuple[SlaTimer, SlaTimer]:
        return (self.respond, self.resolve)

    def moments(self) -> list[tuple[str, datetime]]:
        """Alert moments of the open timers in time order, as (kind, at).

        Kinds: "respond_warn", "respond_breach", "respond_escalate_N", the same for "resolve_",
        matching the once-only alert keys. While the ticket is paused the moments are provisional:
        do not fire them; recompute when the pause ends.
        """
        out: list[tuple[str, datetime]] = []
        for timer in self.timers:
            if timer.stopped_at is not None:
                continue
            if timer.warn_at is not None:
                out.append((f"{timer.name}_warn", timer.warn_at))
            out.append((f"{timer.name}_breach", timer.due_at))
            out.extend((f"{timer.name}_escalate_{e.level}", e.at) for e in timer.escalations)
        out.sort(key=lambda m: m[1])
        return out

    def next_moment(self) -> datetime | None:
        """The earliest alert moment after `now` (None when paused or nothing is left to fire)."""
        if self.paused:
            return None
        future = [at for _, at in self.moments() if at > self.now]
        return min(future) if future else None


def compute_clock(
    *,
    policy: SlaPolicy,
    calendar: BusinessCalendar,
    priority: str,
    created_at: datetime,
    now: datetime,
    pauses: Iterable[Pause] = (),
    first_response_at: datetime | None = None,
    resolved_at: datetime | None = None,
) -> SlaClock:
    """The SLA clock of a ticket at `now`, from its times alone (no wall clock, no database).

    - Deadlines run from `created_at` with the target of the current `priority`; after a priority
      change call again with the new priority (targets are never carried over).
    - `pauses` are the intervals spent waiting on the requester ([start, end) with end None while
      still waiting). When the policy pauses on waiting, a pause that begins before a deadline
      pushes that deadline (and its warning point) back by the clock time paused; a pause after
      a breach does not undo it.
    - A resolution without a recorded first response also stops the respond timer.
    """
    respond_rule, resolve_rule = timer_rules(policy, calendar, priority)
    now_us = to_us(now)
    created_us = to_us(created_at)
    pause_list: list[PauseSpan] = []
    paused_since: datetime | None = None
    if policy.pause_when_waiting:
        for start, end in pauses:
            if end is None:
                paused_since = start if paused_since is None else min(paused_since, start)
            pause_list.append((to_us(start), now_us if end is None else to_us(end), end is None))
    responded = first_response_at
    if resolved_at is not None and (responded is None or resolved_at < responded):
        responded = resolved_at
    respond = _timer(respond_rule, created_us, now_us, pause_list, responded)
    resolve = _timer(resolve_rule, created_us, now_us, pause_list, resolved_at)
    return SlaClock(
        priority=priority, now=now, respond=respond, resolve=resolve,
        paused=paused_since is not None and resolved_at is None, paused_since=paused_since,
        pause_when_waiting=policy.pause_when_waiting,
    )


def opening_moments(policy: SlaPolicy, calendar: BusinessCalendar, priority: str,
                    created_at: datetime) -> tuple[datetime, datetime, list[datetime]]:
    """respond-by, resolve-by and every alert moment of a ticket opened at `created_at`: what
    `compute_clock` gives for it (no pause, no response, nothing stopped) without building the clock.
    tests/sla/test_policy.py holds the two to the same answers."""
    created_us = to_us(created_at)
    dues: list[int] = []
    moments: list[int] = []
    for rule in timer_rules(policy, calendar, priority):
        origin = rule.clock.axis(created_us)
        due = rule.due_us(origin)
        warn = rule.warn_us(origin)
        dues.append(due)
        if warn is not None:
            moments.append(warn)
        moments.append(due)
        moments.extend(escalations_us(rule, due))
    return from_us(dues[0]), from_us(dues[1]), [from_us(m) for m in moments]


@dataclass(frozen=True, slots=True)
class TimerRule:
    """One target of a priority, resolved against a calendar: its clock and lengths in microseconds.

    Built once per (policy, calendar, priority) by `timer_rules`; `placed` puts a ticket's timer on its
    clock's axis, `due_us` and `warn_us` read its moments.
    """

    name: TimerName
    target: SlaDuration
    business: bool
    clock: BusinessCalendar | AroundTheClock
    length: int
    warn_length: int | None  # None: the policy has no warning point
    # per escalation level: its clock and length after the breach, or None when it is at the breach
    escalations: tuple[tuple[BusinessCalendar | AroundTheClock, int] | None, ...]
    notify: tuple[tuple[str, ...], ...]  # per escalation level
    # once-only alert keys: "<name>_warn", "<name>_breach", "<name>_escalate_<level>"
    warn_kind: str
    breach_kind: str
    escalate_kinds: tuple[str, ...]

    def due_us(self, origin: int, spans: Sequence[tuple[int, int]] = ()) -> int:
        """The breach moment (µs) of a timer placed at `origin` with pauses `spans` (see `placed`)."""
        return self.clock.moment(_shift(origin + self.length, spans) if spans else origin + self.length)

    def warn_us(self, origin: int, spans: Sequence[tuple[int, int]] = ()) -> int | None:
        """The warning moment (µs) of such a timer; None when the policy has no warning point."""
        if self.warn_length is None:
            return None
        return self.clock.moment(_shift(origin + self.warn_length, spans) if spans else origin + self.warn_length)


def timer_rules(policy: SlaPolicy, calendar: BusinessCalendar, priority: str) -> tuple[TimerRule, TimerRule]:
    """The respond and resolve rules of `priority` under `policy` on `calendar` (PolicyError when unusable)."""
    target = policy.targets.get(priority)
    if target is None:
        raise PolicyError(f"no SLA target for priority {priority!r}; known: {sorted(policy.targets)}")
    warn = _warn_at(policy, priority)
    # keyed on the settings' values, not the (mutable) settings objects
    levels = tuple((level.after, tuple(level.notify)) for level in policy.escalations)
    return _rules(calendar, priority, target.respond, target.resolve, target.business_hours, warn, levels)


@lru_cache(maxsize=512)
def _rules(calendar: BusinessCalendar, priority: str, respond: str, resolve: str, business_hours: bool, warn: float,
           levels: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[TimerRule, TimerRule]:
    parsed = _escalation_levels([after for after, _ in levels])
    notify = tuple(n for _, n in levels)
    return (
        _rule("respond", _target(priority, "respond", respond), business_hours, calendar, warn, parsed, notify),
        _rule("resolve", _target(priority, "resolve", resolve), business_hours, calendar, warn, parsed, notify),
    )


def deadline_us(rule: TimerRule, created_us: int, stop_us: int,
                pauses: Sequence[PauseSpan]) -> tuple[int, int | None, int, Sequence[tuple[int, int]]]:
    """Due and warning moments (µs) of one timer started at `created_us`, its start on the rule's
    axis, and its pauses on that axis (see `placed`)."""
    origin, spans = placed(rule, created_us, stop_us, pauses)
    return rule.due_us(origin, spans), rule.warn_us(origin, spans), origin, spans


def placed(rule: TimerRule, created_us: int, stop_us: int,
           pauses: Sequence[PauseSpan]) -> tuple[int, Sequence[tuple[int, int]]]:
    """A timer started at `created_us` on the rule's axis: its start, and its pauses (clipped to
    [created, stop], merged). `stop_us` only matters when there are pauses."""
    clock = rule.clock
    origin = clock.axis(created_us)
    spans: list[tuple[int, int]] = []
    for p_start, p_end, _ in sorted(pauses) if pauses else ():
        a, b = max(p_start, created_us), min(p_end, stop_us)
        if b <= a:
            continue
        pa, pb = clock.axis(a), clock.axis(b)
        if pb <= pa:
            continue  # a pause outside working time costs no working time
        if spans and pa <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], pb))
        else:
            spans.append((pa, pb))
    return origin, spans


def escalations_us(rule: TimerRule, due_us: int) -> list[int]:
    """Moments (µs) of the rule's escalation levels for a breach at `due_us`, in level order."""
    return [due_us if level is None else level[0].moment(level[0].axis(due_us) + level[1])
            for level in rule.escalations]


def check_policy(policy: SlaPolicy) -> None:
    """Raise PolicyError naming the config key of each target, warning point or escalation that is unusable."""
    problems = policy_problems(policy)
    if problems:
        raise PolicyError("; ".join(problems))


def policy_problems(policy: SlaPolicy) -> list[str]:
    """Every unusable part of the policy, each named by its config key (nothing when it can be applied)."""
    checks: list[Callable[[], object]] = [partial(_fraction, "sla.warn_at", policy.warn_at)]
    for priority, target in policy.targets.items():
        checks += [partial(_target, priority, "respond", target.respond),
                   partial(_target, priority, "resolve", target.resolve)]
        if target.warn_at is not None:
            checks.append(partial(_fraction, f"sla.targets.{priority}.warn_at", target.warn_at))
    checks += [partial(_escalation_after, i, level.after) for i, level in enumerate(policy.escalations)]
    problems = []
    for check in checks:
        try:
            check()
        except PolicyError as exc:
            problems.append(str(exc))
    return problems


def _warn_at(policy: SlaPolicy, priority: str) -> float:
    """The warning point of a priority: its target's own `warn_at`, else the policy's (0 = none)."""
    own = policy.targets[priority].warn_at
    if own is not None:
        return _fraction(f"sla.targets.{priority}.warn_at", own)
    return _fraction("sla.warn_at", policy.warn_at)


def _fraction(key: str, value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise PolicyError(f"{key} must be a fraction between 0 and 1 (e.g. 0.75), got {value}")
    return value


def _target(priority: str, which: str, text: str) -> SlaDuration:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise PolicyError(f"sla.targets.{priority}.{which}: {exc}") from exc


def _escalation_levels(afters: Sequence[str]) -> list[SlaDuration]:
    return [_escalation_after(i, after) for i, after in enumerate(afters)]


def _escalation_after(i: int, after: str) -> SlaDuration:
    try:
        return parse_duration(after, allow_zero=True)
    except ValueError as exc:
        raise PolicyError(f"sla.escalations[{i}].after: {exc}") from exc


def _rule(
    name: TimerName,
    duration: SlaDuration,
    business_hours: bool,
    calendar: BusinessCalendar,
    warn: float,
    levels: Sequence[SlaDuration],
    notify: tuple[tuple[str, ...], ...],
) -> TimerRule:
    business = duration.is_business(business_hours)
    length = duration.microseconds(calendar.business_day_seconds)
    escalations: list[tuple[BusinessCalendar | AroundTheClock, int] | None] = []
    for after in levels:
        if not after.amount:
            escalations.append(None)
            continue
        # an escalation delay runs on its own clock: "1bd" in working time, "2d" around the clock,
        # "1h" on the breached target's clock
        clock = calendar if after.is_business(business) else AROUND_THE_CLOCK
        escalations.append((clock, after.microseconds(calendar.business_day_seconds)))
    return TimerRule(
        name=name, target=duration, business=business, clock=calendar if business else AROUND_THE_CLOCK,
        length=length, warn_length=int(length * warn) if warn > 0 else None, escalations=tuple(escalations),
        notify=notify, warn_kind=f"{name}_warn", breach_kind=f"{name}_breach",
        escalate_kinds=tuple(f"{name}_escalate_{i}" for i in range(1, len(levels) + 1)),
    )


def _timer(
    rule: TimerRule,
    created_us: int,
    now_us: int,
    pauses: Sequence[PauseSpan],
    stopped_at: datetime | None,
) -> SlaTimer:
    stop_us = now_us if stopped_at is None else to_us(stopped_at)
    stop_us = max(stop_us, created_us)
    due_us, warn_us, origin, spans = deadline_us(rule, created_us, stop_us, pauses)
    paused_total = sum(b - a for a, b in spans)
    consumed = rule.clock.axis(stop_us) - origin - paused_total
    breached = now_us >= due_us if stopped_at is None else stop_us > due_us
    escalations = tuple(
        Escalation(level=i, at=from_us(at), notify=notify)
        for i, (at, notify) in enumerate(zip(escalations_us(rule, due_us), rule.notify, strict=True), start=1)
    )
    open_pause = stopped_at is None and any(is_open and p_start <= now_us for p_start, _, is_open in pauses)
    return SlaTimer(
        name=rule.name, target=rule.target, business=rule.business, target_seconds=rule.length / 1_000_000,
        due_at=from_us(due_us), warn_at=None if warn_us is None else from_us(warn_us), stopped_at=stopped_at,
        breached=breached, left_seconds=(rule.length - consumed) / 1_000_000,
        paused_seconds=paused_total / 1_000_000, paused=open_pause and not breached,
        warned=stopped_at is None and warn_us is not None and now_us >= warn_us,
        escalations=escalations,
    )


def _shift(position: int, spans: Sequence[tuple[int, int]]) -> int:
    """Push an axis position back by each pause that began before the clock reached it."""
    for a, b in spans:
        if a < position:
            position += b - a
        else:
            break
    return position
