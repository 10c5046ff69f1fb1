"""Alerts: persisted, deduplicated findings with a ministry workflow.

The detection engine and the inspector API open alerts through `service.open_or_bump_alert`."""
