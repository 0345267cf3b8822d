"""Payment processor adapters: implementations of service.domain.processor.PaymentProcessor.

    inhouse   deterministic simulated processor with a shared ledger (the local default)
    stripe    Stripe PaymentIntents through the official ``stripe`` library

Adapters are found by name through the ``payment_service.processors`` entry-point
group (see registry.py); nothing here is imported until a processor is used.
The scripted fake for tests is ``FakeProcessor`` in tests/fakes.py.
"""
