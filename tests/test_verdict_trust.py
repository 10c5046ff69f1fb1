"""One verdict for everyone, and never "counterfeit" without proof: the demo, driven as a CDN edge would drive it
(trusted edge headers naming where each phone is), checked from the consumer's pages, the inspector's API and
the ministry's alerts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tem.core.db import Database
from tem.core.settings import Settings
from tests.resolver_helpers import flush

# Where the phones are, as the edge says it: the demo lot is declared for Nanning and Guangzhou.
NANNING = {"cf-ipcountry": "CN", "cf-iplatitude": "22.82", "cf-iplongitude": "108.32", "cf-ipcity": "Nanning"}
GUANGZHOU = {"cf-ipcountry": "CN", "cf-iplatitude": "23.13", "cf-iplongitude": "113.26", "cf-ipcity": "Guangzhou"}
SHANGHAI = {"cf-ipcountry": "CN", "cf-iplatitude": "31.23", "cf-iplongitude": "121.47", "cf-ipcity": "Shanghai"}
BEIJING = {"cf-ipcountry": "CN", "cf-iplatitude": "39.90", "cf-iplongitude": "116.40", "cf-ipcity": "Beijing"}
HO_CHI_MINH_CITY = {
    "cf-ipcountry": "VN",
    "cf-iplatitude": "10.78",
    "cf-iplongitude": "106.70",
    "cf-ipcity": "Ho Chi Minh City",
}


class Demo:
    def __init__(self, client: TestClient, seeded: dict[str, Any]) -> None:
        self.client = client
        self.stamps: list[str] = seeded["stamps"]
        self.tokens: dict[str, str] = seeded["tokens"]
        self.gtin: str = seeded["gtin"]

    def path(self, serial: int) -> str:
        url = urlsplit(self.stamps[serial - 1])
        return f"{url.path}?{url.query}"

    def consumer(self, serial: int, where: dict[str, str], phone: str) -> str:
        """A phone's scan, followed to the page it lands on; the word on that page."""
        self.client.cookies.clear()
        self.client.cookies.set("tem_device", f"phone-{phone}-cookie-value")
        page = self.client.get(self.path(serial), headers={**where, "user-agent": f"phone {phone}"})
        assert page.status_code == 200, page.text
        return _word(page.text)

    def inspector(self, serial: int, at: tuple[float, float] | None = None) -> str:
        place = {"lat": at[0], "lon": at[1], "accuracy": 20} if at else {}
        answer = self.client.get(
            "/api/v1/stamps/verify",
            params={"uri": self.stamps[serial - 1], **place},
            headers={"Authorization": f"Bearer {self.tokens['inspector']}"},
        )
        assert answer.status_code == 200, answer.text
        verdict: str = answer.json()["verdict"]
        return verdict

    def open_alerts(self, serial: int) -> list[dict[str, Any]]:
        flush(self.client)
        answer = self.client.get(
            "/api/v1/alerts",
            params={"gtin": self.gtin, "serial": str(serial), "status": ["open", "acknowledged"]},
            headers=self.ministry,
        )
        assert answer.status_code == 200, answer.text
        alerts: list[dict[str, Any]] = answer.json()
        return alerts

    @property
    def ministry(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['ministry']}"}


def _word(page: str) -> str:
    found = re.search(r'data-verdict="([a-z]+)"', page)
    assert found is not None, page
    return found.group(1)


@pytest.fixture
def demo(tmp_path: Path, settings: Settings) -> Iterator[Demo]:
    from tem.app import create_app
    from tem.demo import seed

    edge = settings.model_copy(update={"trust_edge_headers": True})
    with Database(edge.effective_database_url).session() as session:
        seeded = seed(session, edge)
    with TestClient(create_app(edge), base_url="http://127.0.0.1:8000") as client:
        yield Demo(client, seeded)


def _backed(demo: Demo, serial: int, verdict: str) -> None:
    """A verdict other than genuine has an open alert behind it, as severe as the word."""
    if verdict == "genuine":
        return
    needed = "critical" if verdict == "counterfeit" else "warning"
    severities = {a["severity"] for a in demo.open_alerts(serial) if a["scope"] == "stamp"}
    assert needed in severities, (serial, verdict, severities)


def test_first_scans_from_each_declared_destination_and_repeat_scans_stay_genuine(demo: Demo) -> None:
    """The stamps were activated just now, the lot packed and shipped in June: its recorded stages, not the
    activation, say how long it has been on the road."""
    assert demo.consumer(1, NANNING, "a") == "genuine"
    assert demo.consumer(2, GUANGZHOU, "b") == "genuine"
    # One phone scanning its fruit three times.
    assert [demo.consumer(3, NANNING, "c") for _ in range(3)] == ["genuine"] * 3
    assert demo.inspector(3) == "genuine"
    # An inspector's GPS check in Shanghai minutes after activation: 1,900 km from the growing areas is a
    # journey of days, and the lot's recorded stages say it left in June, so this is no evidence at all.
    assert demo.inspector(4, at=(31.23, 121.47)) == "genuine"
    assert demo.open_alerts(1) == demo.open_alerts(3) == demo.open_alerts(4) == []


def test_consumer_and_inspector_get_the_same_word_and_each_has_an_open_alert(demo: Demo) -> None:
    # Far from every place the lot was sent, in China: online orders and gifts go anywhere. Genuine, with a note.
    assert demo.consumer(9, SHANGHAI, "e") == "genuine"
    assert {a["severity"] for a in demo.open_alerts(9)} == {"info"}
    # In Vietnam, months after the lot crossed into China: export fruit is not sold there. Likely a copy; not proof.
    elsewhere = demo.consumer(5, HO_CHI_MINH_CITY, "d")
    assert elsewhere == "suspect"
    _backed(demo, 5, elsewhere)
    assert demo.inspector(5) == "suspect"
    assert demo.consumer(5, HO_CHI_MINH_CITY, "d") == "suspect"  # the same phone again: the same word
    # 2,000 km in minutes, even with both places' error radii doubled: two physical stamps. Proof.
    assert demo.consumer(6, NANNING, "f") == "genuine"
    teleported = demo.consumer(6, BEIJING, "g")
    assert teleported == "counterfeit"
    _backed(demo, 6, teleported)
    assert demo.inspector(6) == "counterfeit"
    assert demo.consumer(6, NANNING, "f") == "counterfeit"
    alert = next(a for a in demo.open_alerts(6) if a["severity"] == "critical")
    page = demo.client.get(f"/ministry/alerts/{alert['id']}?lang=en", headers=demo.ministry)
    assert 'id="verdict" data-verdict="counterfeit"' in page.text


def test_a_false_positive_closure_clears_the_verdict_and_new_evidence_opens_a_fresh_alert(demo: Demo) -> None:
    assert demo.consumer(7, NANNING, "h") == "genuine"
    assert demo.consumer(7, BEIJING, "i") == "counterfeit"
    stamp_alerts = [a for a in demo.open_alerts(7) if a["scope"] == "stamp"]
    assert stamp_alerts
    for alert in stamp_alerts:
        closed = demo.client.post(
            f"/api/v1/alerts/{alert['id']}/transitions",
            json={"to": "false_positive", "comment": "the same family, one phone on a VPN"},
            headers=demo.ministry,
        )
        assert closed.status_code == 200, closed.text
    assert demo.open_alerts(7) == []
    # The ministry's view of the closed alert says what everyone checking the stamp is told now.
    page = demo.client.get(f"/ministry/alerts/{stamp_alerts[0]['id']}?lang=en", headers=demo.ministry)
    assert page.status_code == 200
    assert 'id="verdict" data-verdict="genuine"' in page.text
    # The same evidence seen again (both phones scanning again) stays dismissed: genuine, for everyone.
    assert demo.consumer(7, NANNING, "h") == "genuine"
    assert demo.consumer(7, BEIJING, "i") == "genuine"
    assert demo.inspector(7) == "genuine"
    assert demo.open_alerts(7) == []
    # A new household is new evidence: the verdict changes again, and a fresh alert stands behind it.
    fresh = demo.consumer(7, GUANGZHOU, "j")
    assert fresh != "genuine"
    _backed(demo, 7, fresh)
    assert {a["id"] for a in demo.open_alerts(7)}.isdisjoint(a["id"] for a in stamp_alerts)
    assert demo.inspector(7) == fresh
