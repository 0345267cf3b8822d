"""Developer tooling that is not part of the runtime image (local Kubernetes cluster, ...)."""
