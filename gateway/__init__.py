"""The GraphQL gateway: its own process (`payment-graphql`) in front of the gRPC API.

It holds no payment logic and no database: every field is answered by a call
to the payment service over one pooled gRPC channel, with the caller's
Authorization, Idempotency-Key, x-request-id and W3C trace headers forwarded
as gRPC metadata.

    config   GraphQLSettings from the environment
    client   the pooled channel and the metadata built from HTTP headers
    types    GraphQL types mirroring the proto's messages and enums
    schema   Query and Mutation, and the Strawberry schema with its extensions
    errors   gRPC status -> GraphQL error; masking of unexpected errors
    limits   depth, alias, token, complexity and page-size limits
    metrics  Prometheus request counter and latency histogram
    asgi     the HTTP layer: /graphql, GraphiQL, /healthz, /readyz, body limit
    app      create_app() and main(), run on uvicorn
"""
