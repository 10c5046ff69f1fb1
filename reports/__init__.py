"""Consumers' reports of a fake: the form on the verdict and trace pages posts here; each report is kept, with its
photo made safe, and opens (or adds to) a `consumer_report` alert on the stamp for the ministry."""
