"""Storage adapters: :mod:`finance_crm.adapters.memory` and :mod:`finance_crm.adapters.sql`."""
