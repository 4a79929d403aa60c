"""Pure webhook rules: signatures and target URLs."""
