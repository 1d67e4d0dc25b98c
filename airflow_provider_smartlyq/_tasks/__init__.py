"""
Private task plumbing shared by operators and sensors: the hook's lifetime, fail-fast,
idempotency keys, check-then-defer-or-poll, account selection arguments. Loaded when a DAG
file is parsed: keep it light.
"""
