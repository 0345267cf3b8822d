"""Entry points: the gRPC server, the GraphQL app and the command line."""
