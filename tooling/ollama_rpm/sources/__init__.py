"""The Sources the spec names: download, pin in sources.lock, vendor Go modules, check patches."""
