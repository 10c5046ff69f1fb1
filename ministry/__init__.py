"""Ministry reports: the dashboard at /ministry, its exports, and the daily scan rollups behind them."""
