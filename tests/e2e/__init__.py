"""End-to-end tests: real `nb2svc build` runs with buildah and podman."""
