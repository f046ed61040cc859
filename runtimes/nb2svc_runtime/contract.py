"""The names the builder and the model server share: one definition for both sides.

The builder writes these into the Containerfile and S2I's environment and reads the
training step's output for them; the runtime reads and prints them (docs/architecture.md,
"Contracts"). Stdlib only, and no imports at all: nb2svc imports this module, and the train
stage, where only the standard library is certain, imports it too.
"""

ERROR_MARKER = "NB2SVC-ERROR"  # train.py's one line for a failed cell: `NB2SVC-ERROR {json}`
ALLOW_NETWORK_ENV = "NB2SVC_ALLOW_NETWORK"  # "1": training may use the network
TRAIN_TIMEOUT_ENV = "NB2SVC_TRAIN_TIMEOUT"  # seconds training may take
WORKER_RSS_ENV = "NB2SVC_WORKER_RSS_BYTES"  # one served worker's resident memory, measured
# Where capture writes the rows a compiled model is proven on (JSON records of the notebook's
# held-out and training data); set only when the build compiles. Never inside the model
# directory: the rows stay in the build, they are not served (docs/architecture.md,
# "Compiled inference").
CHECK_ROWS_ENV = "NB2SVC_CHECK_ROWS"
INFERENCE_FILE = "inference.json"  # in the model directory: the backend that serves (ARTIFACT.md)
