"""Model families needing more than `predict()`: Keras, PyTorch and statsmodels forecasters.

Used by both sides (capture and the server); each imports its library only when a model of
that family is involved.
"""
