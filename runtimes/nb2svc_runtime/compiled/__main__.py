"""`python -m nb2svc_runtime.compiled`: the build's compile stage (stage.py)."""

from .stage import main

raise SystemExit(main())
