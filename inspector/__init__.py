"""Market inspectors: the verify API, inspection records, the session cookie and the offline app at /inspect."""
