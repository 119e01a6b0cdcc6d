"""SLA engine, pure part: target durations, business calendars, ticket clocks and their explanation."""

from core.sla.calendar import BusinessCalendar, CalendarError
from core.sla.durations import DurationError, SlaDuration, parse_duration
from core.sla.policy import Escalation, PolicyError, SlaClock, SlaTimer, check_policy, compute_clock

__all__ = [
    "BusinessCalendar", "CalendarError", "DurationError", "Escalation", "PolicyError", "SlaClock", "SlaDuration",
    "SlaTimer", "check_policy", "compute_clock", "parse_duration",
]
