"""
Private task plumbing shared by operators and sensors: their bases and the arguments those own
(``task``), each argument's check (``arguments``), the hook's lifetime, fail-fast
(``fail_fast``), idempotency keys, check-then-defer-or-poll, account selection arguments
(``selection``). Loaded when a DAG file is parsed: keep it light.
"""
