"""Use cases: functions that take a unit of work (and rules, a clock, an actor)."""
