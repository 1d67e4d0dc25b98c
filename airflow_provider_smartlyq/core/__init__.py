"""
The rules everything else builds on: pure code, no I/O, standard library and the provider's errors.

``classify`` (what an error means), ``account_state`` (what a health row means),
``selector`` (which accounts), ``validation`` (arguments before anything is sent),
``values`` (reading rendered numbers, flags, lists and dicts) and ``surface`` (the table of
public names the public modules resolve lazily).
"""
