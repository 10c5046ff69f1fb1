"""Tem installed from its wheel, outside the checkout: what `pip install .` gives an operator must work.

Once for this module, in a temporary folder outside the checkout: the working tree is copied (never built in
place, where setuptools would also pack whatever stale files its build/ folder holds), its wheel is built,
and the wheel is installed with its dependencies into a fresh virtualenv (pip's cache makes that quick after
the first time). Then `tem` runs from another temporary folder, with PYTHONPATH and every TEM_ setting unset:
the embedded default (SQLite in a temporary TEM_HOME) on both of CI's runs, since what is tested here is the
installation, not the database. Detection is not compiled in a wheel (`make setup` compiles it in the
checkout only), so this is also the pure-Python run of `tem serve`.

Every subprocess has a timeout, and a failure shows the command's output.
"""

from __future__ import annotations

import contextlib
import fnmatch
import html
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium
import pytest
from PIL import Image

from tests.print_support import decode_all, render
from tests.processes import free_port, tem_serve

ROOT = Path(__file__).resolve().parent.parent
# Shipped in the wheel but not product code: the benchmarks read files of theirs that are not package data.
NOT_PRODUCT = frozenset({"loadtests"})
BUILD_TIMEOUT = 300
INSTALL_TIMEOUT = 900  # all dependencies; about 20 s from pip's cache
COMMAND_TIMEOUT = 180


@dataclass(frozen=True)
class Installed:
    work: Path  # the temporary folder that holds everything below, outside the checkout
    source: Path  # the copy of the working tree the wheel was built from
    wheel: Path
    venv: Path

    @property
    def tem(self) -> Path:
        return self.venv / "bin" / "tem"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@dataclass(frozen=True)
class Served:
    installed: Installed
    base: str
    cwd: Path  # where `tem` runs: a temporary folder, not the checkout
    home: Path
    env: dict[str, str]
    demo: dict[str, Any]  # what `tem demo --json` printed: stamps, tokens, the order

    @property
    def log(self) -> str:
        return (self.home / "serve.log").read_text(encoding="utf-8", errors="replace")

    def assert_no_server_error(self) -> None:
        log = self.log
        assert "Traceback" not in log, f"tem serve logged an error:\n{log}"
        assert " ERROR " not in log, f"tem serve logged an error:\n{log}"

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.demo['tokens'][role]}"}


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def _run(command: Sequence[str | Path], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    """Run a command to its end and return its standard output; fail with all its output if it fails or hangs."""
    shown = " ".join(str(part) for part in command)
    try:
        done = subprocess.run(
            [str(part) for part in command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,  # a failure is reported below, with the command's output
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`{shown}` did not finish in {timeout:g} s\n{_text(exc.stdout)}\n{_text(exc.stderr)}")
    if done.returncode != 0:
        pytest.fail(f"`{shown}` failed with exit code {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _environment(**settings: str) -> dict[str, str]:
    """This process's environment without what would lead Python back to the checkout (PYTHONPATH, the
    checkout's virtualenv) or Tem to CI's services (TEM_DATABASE_URL, TEM_REDIS_URL, every TEM_ setting)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEM_", "PYTHON")) and key not in {"VIRTUAL_ENV", "PIP_PYTHON"}
    }
    path = [part for part in env.get("PATH", "").split(os.pathsep) if part and not Path(part).is_relative_to(ROOT)]
    env["PATH"] = os.pathsep.join(path)
    return {**env, **settings}


def _not_exported(directory: str, names: list[str]) -> set[str]:
    """What a clean export leaves out: version control, virtualenvs, caches, builds, compiled extensions."""
    top = Path(directory) == ROOT
    return {
        name
        for name in names
        if name.startswith(".")
        or name == "__pycache__"
        or name.endswith((".pyc", ".so", ".pyd", ".egg-info"))
        or (top and name in {"build", "dist", "var"})
    }


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    with tempfile.TemporaryDirectory(prefix="tem-installed-wheel-") as name:
        work = Path(name).resolve()
        assert not work.is_relative_to(ROOT), f"the temporary folder {work} is inside the checkout: set TMPDIR"
        source = work / "source"
        shutil.copytree(ROOT, source, ignore=_not_exported)
        build_env = _environment()
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", work / "dist", source],
            cwd=work,
            env=build_env,
            timeout=BUILD_TIMEOUT,
        )
        [wheel] = (work / "dist").glob("tem-*.whl")
        venv = work / "venv"
        # No pip inside: the checkout's pip installs into it (`--python`), which saves bootstrapping one.
        _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work, env=build_env, timeout=COMMAND_TIMEOUT)
        _run(
            [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", wheel],
            cwd=work,
            env=build_env,
            timeout=INSTALL_TIMEOUT,
        )
        yield Installed(work, source, wheel, venv)


@pytest.fixture(scope="module")
def served(installed: Installed) -> Iterator[Served]:
    """`tem demo --no-serve`, then `tem serve`, both run from an empty folder outside the checkout."""
    cwd = installed.work / "elsewhere"
    home = installed.work / "home"
    cwd.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _environment(TEM_HOME=str(home), TEM_PUBLIC_BASE_URL=base)
    demo = json.loads(_run([installed.tem, "demo", "--no-serve", "--json"], cwd=cwd, env=env, timeout=COMMAND_TIMEOUT))
    # What `tem demo` without --no-serve hands its server: the development KEK and PIN key it made.
    env["TEM_KEK_FILE"] = str(home / "dev-kek.b64")
    env["TEM_PIN_KEY"] = (home / "dev-pin-key.b64").read_text(encoding="ascii").strip()
    with tem_serve(env, tem=[str(installed.tem)], cwd=cwd, port=port) as url:
        assert url == base
        yield Served(installed, base, cwd, home, env, demo)


@pytest.fixture(scope="module")
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base, timeout=60) as http:
        yield http


def _shipped_packages(source: Path) -> list[str]:
    """The top-level packages pyproject.toml puts in the wheel."""
    setuptools = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    include = setuptools["packages"]["find"]["include"]
    return sorted(
        entry.name
        for entry in source.iterdir()
        if (entry / "__init__.py").is_file() and any(fnmatch.fnmatch(entry.name, pattern) for pattern in include)
    )


def test_the_wheel_holds_every_file_of_the_product_and_no_compiled_code(installed: Installed) -> None:
    packages = _shipped_packages(installed.source)
    assert "templates" in packages, "templates/ must be a package of the wheel"
    with zipfile.ZipFile(installed.wheel) as wheel:
        shipped = set(wheel.namelist())
    missing = sorted(
        path.relative_to(installed.source).as_posix()
        for package in packages
        if package not in NOT_PRODUCT
        for path in (installed.source / package).rglob("*")
        if path.is_file()
    )
    missing = [name for name in missing if name not in shipped]
    assert not missing, (
        "files the product may read at run time are not in the wheel; add them to [tool.setuptools.package-data] "
        "in pyproject.toml:\n" + "\n".join(f"  {name}" for name in missing)
    )
    assert {"templates/labels/durian.pbm", "templates/pages/trace.html", "detection/engine/defaults.toml"} <= shipped
    compiled = sorted(name for name in shipped if name.endswith((".so", ".pyd")))
    assert not compiled, f"the wheel is pure Python; it holds compiled code: {compiled}"


def test_tem_runs_from_the_virtualenv_not_the_checkout(installed: Installed, tmp_path: Path) -> None:
    # Where the installed code finds its files: the modules, and the folders of pages, labels and app assets.
    probe = (
        "import json, detection.engine.config, inspector.app, issuer.printing_service, resolver.pages, tem, templates\n"
        "print(json.dumps([m.__file__ for m in (tem, templates, detection.engine.config)] + [str(p) for p in ("
        "resolver.pages.TEMPLATES, issuer.printing_service.DEFAULT_TEMPLATES, inspector.app.STATIC)]))"
    )
    paths = json.loads(_run([installed.python, "-c", probe], cwd=tmp_path, env=_environment(), timeout=COMMAND_TIMEOUT))
    site = installed.venv / "lib"
    for path in paths:
        assert Path(path).is_relative_to(site), f"{path} is not the installed copy under {site}"
        assert Path(path).exists(), path
    usage = _run([installed.tem, "--help"], cwd=tmp_path, env=_environment(), timeout=COMMAND_TIMEOUT)
    assert re.search(r"^\s+demo\s", usage, re.MULTILINE), usage


def test_serve_runs_detection_as_plain_python(served: Served, client: httpx.Client) -> None:
    assert "detection's per-scan code: plain Python" in served.log
    for path in ("/healthz", "/readyz", "/.well-known/tem-keys.json"):
        assert client.get(path).status_code == 200, path
    served.assert_no_server_error()


def test_a_stamp_scan_leads_to_its_trace_page(served: Served, client: httpx.Client) -> None:
    stamp = served.demo["stamps"][0]
    assert stamp.lower().startswith(served.base.lower() + "/01/"), stamp
    scan = client.get(stamp)
    assert scan.status_code == 307, scan.text
    trace = client.get(scan.headers["location"])
    assert trace.status_code == 200, trace.text
    assert trace.headers["content-type"].startswith("text/html")
    assert served.demo["lot"] in trace.text

    # A stamp with a broken signature gets a verdict page, rendered from the same installed templates.
    forged = stamp[:-1] + ("A" if stamp[-1] != "A" else "B")
    verdict = client.get(forged)
    assert verdict.status_code < 500, verdict.text
    assert verdict.headers["content-type"].startswith("text/html")
    served.assert_no_server_error()


def test_the_inspector_app_and_the_ministry_login_are_served(served: Served, client: httpx.Client) -> None:
    page = client.get("/inspect")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assets = sorted(set(re.findall(r"/inspect/assets/[^\"'?\s]+", page.text)))
    assert assets, "the inspector app's page links none of its assets"
    for asset in assets:
        assert client.get(asset).status_code == 200, asset

    login = client.get("/ministry", follow_redirects=True)
    assert login.status_code == 200, login.text
    assert login.url.path == "/ministry/login"
    assert login.headers["content-type"].startswith("text/html")
    assert "<form" in login.text
    assert 'name="csrf"' in login.text  # the login form's token (its page is package data)
    front = client.get("/?lang=zh")  # the front page, and /docs with its vendored assets (tem/static/vendor)
    assert front.status_code == 200, front.text
    assert "/inspect" in front.text
    docs = client.get("/docs")
    assert docs.status_code == 200, docs.text
    for asset in re.findall(r"/docs/assets/[\w.-]+", docs.text):
        assert client.get(asset).status_code == 200, asset
    served.assert_no_server_error()


def test_every_shipped_label_template_prints_a_pdf(served: Served, client: httpx.Client) -> None:
    assert client.get("/api/v1/label-templates").status_code == 401
    listing = client.get("/api/v1/label-templates", headers=served.headers("packer"))
    assert listing.status_code == 200, listing.text
    templates = {template["name"]: template for template in listing.json()}
    labels = served.installed.source / "templates" / "labels"
    shipped = sorted(path.stem for path in labels.glob("*.toml"))
    assert sorted(templates) == shipped

    stamps: list[str] = served.demo["stamps"]
    for name, template in templates.items():
        response = client.get(
            f"/api/v1/orders/{served.demo['order_id']}/print.pdf",
            params={"template": name},
            headers=served.headers("packer"),
        )
        assert response.status_code == 200, (name, response.text)
        assert response.headers["content-type"] == "application/pdf"
        pdf = response.content
        assert pdf.startswith(b"%PDF-"), name
        assert b"%%EOF" in pdf[-1024:], name
        document = pdfium.PdfDocument(pdf)
        pages = len(document)
        document.close()
        if template["layout"] == "roll":
            assert pages == len(stamps), name  # one label a page
        else:
            sheet = tomllib.loads((labels / f"{name}.toml").read_text(encoding="utf-8"))["sheet"]
            assert pages == math.ceil(len(stamps) / (sheet["columns"] * sheet["rows"])), name
        with contextlib.closing(render(pdf, 300)) as images:
            first = decode_all(next(images))
        assert stamps[0] in first, (name, first[:3])
    served.assert_no_server_error()


def test_the_cli_prints_zpl(served: Served) -> None:
    out = served.cwd / "box-labels.zpl"
    _run(
        [served.installed.tem, "print", str(served.demo["order_id"]), "--template", "durian-box-label", "--out", out],
        cwd=served.cwd,
        env=served.env,
        timeout=COMMAND_TIMEOUT,
    )
    zpl = out.read_text(encoding="utf-8")
    assert zpl.startswith("^XA")
    assert "~DG" in zpl  # the artwork (durian.pbm, from the installed templates) and fixed text, sent once
    labels = [part for part in zpl.split("^XA") if "^BQN" in part]
    assert len(labels) == len(served.demo["stamps"])
    assert f"^FDQA,{served.demo['stamps'][0]}^FS" in labels[0]


def test_the_chain_records_queries_and_reaches_the_national_portal(served: Served, client: httpx.Client) -> None:
    """Issue 21's done-when, on the installed demo: the importer captures a receiving, is refused a lot it was
    not shipped and a malformed document, queries its event, and `tem outbox drain` delivers every event of the
    demo lot to a fake national portal, each document valid against GS1's schema."""
    from tests.fake_portal import fake_portal

    demo = served.demo
    importer = served.headers("distributor")
    stamp = demo["stamps"][0].split("?")[0]  # the printed URI without its k and s parameters
    gtin, lot = demo["gtin"], demo["lot"]

    def document(*events: dict[str, Any]) -> dict[str, Any]:
        return {
            "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-06-07T10:00:00.000+08:00",
            "epcisBody": {"eventList": list(events)},
        }

    received = {
        "type": "ObjectEvent",
        "eventTime": "2026-06-07T10:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [stamp],
        "action": "OBSERVE",
        "bizStep": "receiving",
        "disposition": "in_progress",
        "readPoint": {"id": "geo:22.817000,108.366000"},
    }
    captured = client.post("/api/v1/epcis/capture", headers=importer, json=document(received))
    assert captured.status_code == 202, captured.text
    job = client.get(captured.headers["location"], headers=importer).json()
    assert (job["running"], job["success"], job["eventCount"]) == (False, True, 1)

    other_lot = client.post(
        "/api/v1/lots",
        headers=served.headers("packer"),
        json={
            "code": "TG-RI6-2026-077",
            "gtin": gtin,
            "harvest_dates": ["2026-06-05"],
            "growing_areas": ["VN-TGOR-0123"],
            "destination_markets": ["CN"],
        },
    )
    assert other_lot.status_code == 201, other_lot.text
    not_shipped = {
        **received,
        "epcList": [],
        "quantityList": [{"epcClass": f"{served.base}/01/{gtin}/10/TG-RI6-2026-077"}],
    }
    refused = client.post("/api/v1/epcis/capture", headers=importer, json=document(not_shipped))
    assert refused.status_code == 403, refused.text
    assert "TG-RI6-2026-077" in refused.json()["detail"]
    malformed = client.post("/api/v1/epcis/capture", headers=importer, json=document({**received, "action": "MAYBE"}))
    assert malformed.status_code == 400
    assert malformed.json()["errors"][0]["pointer"] == "/epcisBody/eventList/0/action"

    query = client.get("/api/v1/epcis/events", headers=importer, params={"MATCH_epc": stamp, "EQ_bizStep": "receiving"})
    assert query.status_code == 200
    [found] = query.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert found["epcList"] == [stamp]

    lot_events = client.get("/api/v1/public/lot-events", params={"gtin": gtin, "lot": lot}).json()
    wanted = {event["eventID"] for event in lot_events["epcisBody"]["eventList"]}
    assert len(wanted) >= 6  # harvest, receiving, packing, shipping, the activation and the importer's receiving
    with fake_portal() as portal:
        env = {**served.env, "TEM_PORTAL_URL": portal.url, "TEM_PORTAL_TOKEN": portal.token}
        drained = subprocess.run(
            [str(served.installed.tem), "outbox", "drain", "--timeout", "60"],
            cwd=served.cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert drained.returncode == 0, drained.stdout + drained.stderr
        assert wanted <= set(portal.accepted), wanted - set(portal.accepted)
        assert all(request.status == 202 for request in portal.requests)  # every document valid: none refused
        status = json.loads(
            _run([served.installed.tem, "outbox", "status", "--json"], cwd=served.cwd, env=env, timeout=60)
        )
    assert status["pending"] == 0
    assert status["dead"] == 0


def test_every_api_route_answers_from_the_installed_package(served: Served, client: httpx.Client) -> None:
    """Every route of the installed server's OpenAPI document is called at least once, as its callers would
    call it: a packing house's whole workflow, an inspector's record and the ministry's review. No answer is
    a server error, and every write a caller is allowed to make succeeds."""
    packer, inspector, ministry = (served.headers(role) for role in ("packer", "inspector", "ministry"))
    called: set[tuple[str, str]] = set()

    def call(method: str, route: str, headers: dict[str, str], expect: set[int], **kwargs: Any) -> Any:
        path = route.format(**kwargs.pop("path_params", {}))
        response = client.request(method, path, headers=headers, **kwargs)
        assert response.status_code in expect, f"{method} {path}: {response.status_code} {response.text[:300]}"
        called.add((method, route))
        return response

    gtin = "08938604599908"
    area = "VN-WHEEL-0001"
    call(
        "POST",
        "/api/v1/products",
        packer,
        {201},
        json={"gtin": gtin, "name_vi": "Sầu riêng", "name_en": "Durian", "name_zh": "榴莲"},
    )
    call("POST", "/api/v1/growing-areas", packer, {201}, json={"code": area, "province": "Tiền Giang"})
    household = call("POST", "/api/v1/households", packer, {201}, json={"name": "Hộ Lê Văn B", "growing_area": area})
    lot = call(
        "POST",
        "/api/v1/lots",
        packer,
        {201},
        json={
            "code": "WHEEL-1",
            "gtin": gtin,
            "harvest_dates": ["2026-06-02"],
            "packing_date": "2026-06-04",
            "quantity": 10,
            "destination_markets": ["CN"],
            "growing_areas": [area],
            "households": [household.json()["id"]],
        },
    ).json()
    ids = {"lot_id": lot["id"]}
    stage = {"stage": "packing", "occurred_at": "2026-06-04T09:00:00+07:00", "place": "Cái Bè", "country": "VN"}
    call("POST", "/api/v1/lots/{lot_id}/stages", packer, {201}, json=stage, path_params=ids)
    document = {"kind": "phytosanitary", "number": "KDTV-2026-1", "issued_on": "2026-06-04"}
    call("POST", "/api/v1/lots/{lot_id}/documents", packer, {201}, json=document, path_params=ids)
    # The area's farming diary (a spray whose interval passed before the harvest) and an evidence file.
    ids["code"] = area
    spray = {"date": "2026-05-01", "kind": "spray", "product": "Abatin", "active_ingredients": ["abamectin"]}
    call("POST", "/api/v1/growing-areas/{code}/diary", packer, {201}, json=spray, path_params=ids)
    scene = {"file": ("scene.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")}
    evidence = call(
        "POST",
        "/api/v1/growing-areas/{code}/evidence",
        packer,
        {201},
        files=scene,
        data={"kind": "imagery"},
        path_params=ids,
    )
    assert len(evidence.json()["sha256"]) == 64
    destinations = {"destination_markets": ["CN"], "border_gates": ["Kim Thành"]}
    call("PUT", "/api/v1/lots/{lot_id}/destinations", packer, {200}, json=destinations, path_params=ids)
    order = call("POST", "/api/v1/orders", packer, {201}, json={"gtin": gtin, "quantity": 4}).json()
    ids["order_id"] = order["id"]
    call("POST", "/api/v1/orders/{order_id}/approve", ministry, {200, 409}, path_params=ids)  # auto-approved
    call("POST", "/api/v1/orders/{order_id}/reject", ministry, {409}, json={"reason": "a test"}, path_params=ids)
    uris = call("GET", "/api/v1/orders/{order_id}/stamps.csv", packer, {200}, path_params=ids).text.split()
    assert uris[0] == "uri"  # the header row
    uris = [line for line in uris if line.lower().startswith("http")]
    first, last = order["first_serial"], order["last_serial"]
    activation = {"gtin": gtin, "first_serial": first, "last_serial": last, "lot": "WHEEL-1"}
    call("POST", "/api/v1/activations", packer, {201}, json=activation)
    spoilt = call("POST", "/api/v1/orders", packer, {201}, json={"gtin": gtin, "quantity": 1}).json()
    serial = spoilt["first_serial"]
    revocation = {"gtin": gtin, "first_serial": serial, "last_serial": serial, "reason": "label torn at printing"}
    refused = call("POST", "/api/v1/revocations", packer, {422}, json=revocation)  # no category
    assert "withdrawn, stolen, recalled, misprinted, other" in refused.json()["error"]["message"]
    call("POST", "/api/v1/revocations", packer, {201}, json={**revocation, "category": "misprinted"})
    # A consumer reports that revoked stamp from its verdict page's form, with a photo: the ministry reads it.
    spoilt_csv = call(
        "GET", "/api/v1/orders/{order_id}/stamps.csv", packer, {200}, path_params={"order_id": spoilt["id"]}
    )
    spoilt_uri = next(line for line in spoilt_csv.text.split() if line.lower().startswith("http"))
    verdict_page = client.get(spoilt_uri)
    assert 'action="/reports"' in verdict_page.text, verdict_page.text
    hidden = re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', verdict_page.text)
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 40, 40)).save(photo, "PNG")
    report = client.post(
        "/reports",
        data={name: html.unescape(value) for name, value in hidden if value},
        files={"photo": ("fake.png", photo.getvalue(), "image/png")},
    )
    assert report.status_code == 303, report.text
    ids["report_id"] = call("GET", "/api/v1/reports", ministry, {200}).json()[0]["id"]
    record = {
        "client_id": "7d5c6a34-2b1e-4c7f-9a55-0f4e8e1c2d3b",
        "uri": uris[0],
        "result": "genuine",
        "verdict": "genuine",
        "verdict_source": "online",
        "inspected_at": "2026-06-10T09:30:00+07:00",
    }
    call("POST", "/api/v1/inspections", inspector, {201}, json=record)
    # A copy an inspector found in a market: it opens an alert for the ministry to review.
    copy = {**record, "client_id": "0b9f3c1e-5d2a-4e8b-8c7d-1a2b3c4d5e6f", "uri": uris[1], "result": "counterfeit"}
    call("POST", "/api/v1/inspections", inspector, {201}, json=copy)
    # The packing house records an event of its own lot through EPCIS capture, and reads its capture job.
    packed = {
        "type": "ObjectEvent",
        "eventTime": "2026-06-05T08:00:00.000+07:00",
        "eventTimeZoneOffset": "+07:00",
        "action": "OBSERVE",
        "bizStep": "storing",
        "quantityList": [{"epcClass": f"https://id.gs1.org/01/{gtin}/10/WHEEL-1"}],
    }
    epcis = {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-06-05T08:00:00.000+07:00",
        "epcisBody": {"eventList": [packed]},
    }
    job = call("POST", "/api/v1/epcis/capture", packer, {202}, json=epcis)
    ids["capture_id"] = int(job.headers["location"].rsplit("/", 1)[1])
    ids["outbox_id"] = 999_999
    call("POST", "/api/v1/portal-outbox/{outbox_id}/replay", ministry, {404}, path_params=ids)
    # The ministry issues a token that expires, then it and the ministry revoke tokens; an area's status is set.
    made = {"organisation": "VN-TGPH-0001", "role": "packer", "name": "wheel", "expires_in_days": 30}
    ids["token_id"] = call("POST", "/api/v1/tokens", ministry, {201}, json=made).json()["id"]
    call("POST", "/api/v1/tokens/{token_id}/revoke", ministry, {204}, path_params=ids)
    call("DELETE", "/api/v1/tokens/{token_id}", ministry, {204, 409}, path_params=ids)
    status = {"status": "active", "reason": "inspected in the field"}
    call("POST", "/api/v1/growing-areas/{code}/status", ministry, {200}, json=status, path_params=ids)
    organisation = {"kind": "packing_house", "name": "Cơ sở C", "code": "VN-WHEEL-PH", "province": "Đồng Tháp"}
    call("POST", "/api/v1/organisations", ministry, {201}, json=organisation)
    alerts = call("GET", "/api/v1/alerts", ministry, {200}).json()
    items = alerts["items"] if isinstance(alerts, dict) else alerts
    ids["alert_id"] = items[0]["id"] if items else 999_999
    call(
        "POST",
        "/api/v1/alerts/{alert_id}/transitions",
        ministry,
        {200, 404, 409},
        json={"to": "acknowledged"},
        path_params=ids,
    )

    spec = client.get("/openapi.json").json()
    params = {"uri": uris[0], "gtin": gtin, "lot": "WHEEL-1", "template": "durian-fruit-tag"}
    for route, operations in spec["paths"].items():
        if "get" not in operations or ("GET", route) in called:
            continue
        wanted = {
            p["name"]: params[p["name"]]
            for p in operations["get"].get("parameters", [])
            if p["in"] == "query" and p.get("required") and p["name"] in params
        }
        for headers in (packer, inspector, ministry):
            call("GET", route, headers, set(range(200, 500)), params=wanted, path_params=ids)
        # The caller each route is for gets an answer, not a refusal.
        answers = [client.get(route.format(**ids), headers=h, params=wanted) for h in (packer, inspector, ministry)]
        assert any(a.status_code < 400 for a in answers), [(route, a.status_code, a.text[:200]) for a in answers]
    every = {(method.upper(), route) for route, ops in spec["paths"].items() for method in ops}
    assert every - called == set()
    served.assert_no_server_error()
