"""What every part of stagewise shares, and nothing else: the user-facing error, the one record reader, the
run context a stage is handed, the W&B run helper. Imports no part (cluster, train, serve, evaluate, analysis)
and not the study layer, so each part can stand on it."""
