"""Checks on what was built: rpmlint policy, the x86-64 level audit, the smoke test."""
