"""What the payment service and the GraphQL gateway share, and nothing else: the typed
environment reader (`env`) and the structured JSON logs (`logs`).

It imports only the standard library, so both processes can depend on it without
depending on each other (tests/unit/test_architecture.py enforces the direction).
"""
