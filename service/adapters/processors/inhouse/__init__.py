"""The in-house processor: a deterministic simulated processor with a shared ledger.

It is the default processor for local runs and tests. Outcomes depend only on
the payment method token (in the spirit of Stripe's test cards, see
``methods.SIMULATED_METHODS`` and docs/processors.md), so every run behaves the same.

It behaves like a separate system: its state lives in a *ledger* (payments,
refunds, and idempotency keys with the stored result of the first call), and
each processor call is one short ledger transaction. One module per job:

    methods.py          the simulated test payment methods and their faults
    records.py          what the ledger stores (payments, refunds, stored results)
    ledger.py           the ledger port (Ledger, LedgerTransaction)
    memory_ledger.py    InMemoryLedger: one process only (unit tests, ``bootstrap`` without a database)
    postgres_ledger.py  PostgresLedger: tables inhouse_* (service/adapters/tables.py, migration 0002);
                        correct when several server processes share the database and when
                        another process reconciles later
    codec.py            results as stored under idempotency keys, and request fingerprints
    processor.py        InHouseProcessor, the PaymentProcessor adapter (the entry point)

A call's idempotency key is claimed atomically (``INSERT ... ON CONFLICT DO
NOTHING`` in PostgreSQL) inside the same transaction that does the work, so a
concurrent duplicate waits for the first and then replays its stored result.
Replays never raise ProcessorOutcomeUnknown: a retry after ``pm_card_timeout``
returns the authorization that was recorded. A stored decline replays as the
same ProcessorDeclined. Invalid requests are not stored (the transaction rolls
back), as with Stripe.
"""
