"""Retrying a unit of work that lost a race (``ConflictError``).

Optimistic concurrency means a write can lose to a concurrent one; the right response
is to re-read and re-apply the change. :func:`run_with_retries` does that for a
function that performs one whole unit of work.

>>> from finance_crm.adapters.memory import InMemoryStore
>>> from finance_crm.security import Actor
>>> store = InMemoryStore()
>>> def count_customers() -> int:
...     with store.unit_of_work(Actor("ho-teller-1", roles={"head_office"})) as uow:
...         return uow.customers.count()
>>> run_with_retries(count_customers)
0
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from finance_crm.errors import ConflictError, DuplicateError

__all__ = ["run_with_retries"]

T = TypeVar("T")


def run_with_retries(
    work: Callable[[], T],
    *,
    attempts: int = 5,
    first_delay: float = 0.02,
    max_delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``work()``; on :class:`ConflictError` wait (exponential back-off with jitter)
    and call it again, up to ``attempts`` times in all.

    ``work`` must open, do and commit its own unit of work, so every try re-reads the
    current state. :class:`DuplicateError` is not retried: a taken key stays taken.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DuplicateError:
            raise
        except ConflictError:
            if attempt == attempts:
                raise
            sleep(min(max_delay, delay) * (0.5 + random.random()))
            delay *= 2
    raise AssertionError("unreachable")
