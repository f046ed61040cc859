"""nb2svc's BentoML runtime: the same artifact and HTTP contract, served by `bentoml serve`.

Only this package imports bentoml. The service loads the nb2svc model artifact with
`nb2svc_runtime` (artifact, schema, adapters), so validation and bodies match the default
runtime; BentoML runs the worker processes and answers /livez, /readyz and /metrics.
"""

SERVICE = "nb2svc_bentoml.service:ModelServer"
