"""Serve side: the model server (HTTP protocols, validation, workers, metrics, logs).

Only the runtime stage has this package; the train stage never imports it
(docs/architecture.md, "The model server").
"""
