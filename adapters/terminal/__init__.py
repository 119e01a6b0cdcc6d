"""Terminal adapter for `deskbot chat`: a console conversation through the same intake and outbox."""

from adapters.terminal.transport import TerminalAdapter

__all__ = ["TerminalAdapter"]
