"""The alert service, as routes reach it: built once in the app's lifespan (`tem.app`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from alerts.service import AlertService


def get_alert_service(request: Request) -> AlertService:
    alerts: AlertService = request.app.state.tem.alerts
    return alerts


Alerts = Annotated[AlertService, Depends(get_alert_service)]
