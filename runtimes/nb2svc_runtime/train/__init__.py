"""Train side: what runs in the image's train stage (train.py and the model capture).

Imports only the top-level modules, `artifact` and `frameworks`, never `serve`: the train
stage copies only those (docs/architecture.md, "The model server").
"""
