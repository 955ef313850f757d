"""Test support for finance_crm and for hosts that build on it.

* :class:`StoreContract`, :class:`ManagerStoreContract`, :class:`GroupStoreContract`
  (parties, relationships and graph queries), :class:`AccountStoreContract` (accounts
  and daily balances), :class:`TransactionStoreContract` (transactions, trades and
  contribution), :class:`TierStoreContract` (customer tiers) and
  :class:`ServiceStoreContract` (activities, spot checks, service tasks and the
  nightly evaluation; its ``store`` fixture is built on the suite's ``clock``
  fixture): the contract suites every store must pass (subclass them and provide a
  ``store`` fixture).
* :mod:`finance_crm.testing.factories`: valid customers with checksum-correct ids.
* :mod:`finance_crm.testing.postgres`: throwaway PostgreSQL databases for tests.

This package imports pytest; import it from tests only.
"""

from finance_crm.testing.account_contracts import AccountStoreContract
from finance_crm.testing.contracts import StoreContract
from finance_crm.testing.factories import make_corporate, make_individual, resident_id_for
from finance_crm.testing.group_contracts import GroupStoreContract
from finance_crm.testing.manager_contracts import ManagerStoreContract
from finance_crm.testing.service_contracts import ServiceStoreContract
from finance_crm.testing.tier_contracts import TierStoreContract
from finance_crm.testing.transaction_contracts import TransactionStoreContract

__all__ = [
    "AccountStoreContract",
    "GroupStoreContract",
    "ManagerStoreContract",
    "ServiceStoreContract",
    "StoreContract",
    "TierStoreContract",
    "TransactionStoreContract",
    "make_corporate",
    "make_individual",
    "resident_id_for",
]
