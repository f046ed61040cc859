"""The model artifact both sides share: its vocabulary, its model file and reading it back
(format in ARTIFACT.md). The train stage writes it, the server reads it."""
