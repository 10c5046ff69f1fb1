"""Alerts: persisted, deduplicated findings with a ministry workflow.

Detection (through its `AlertSink` protocol) and the inspector API raise alerts through `service.AlertService`."""
