"""Secrets read from files (a secret store's mount, systemd credentials), as docs/deploy.md runs Tem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from tem.core.settings import Settings


def test_each_secret_can_come_from_a_file(tmp_path: Path) -> None:
    files = {}
    for name, value in (("pin_key", "cGluLWtleQ=="), ("secret_key", "s3cret"), ("webhook_secret", "hook")):
        files[name] = tmp_path / name
        files[name].write_text(value + "\n", encoding="utf-8")  # as `echo` writes it
    settings = Settings(**{f"{name}_file": path for name, path in files.items()}, webhook_urls=["https://x.example/h"])
    assert (settings.pin_key, settings.secret_key, settings.webhook_secret) == ("cGluLWtleQ==", "s3cret", "hook")


def test_a_secret_and_its_file_together_or_an_unreadable_file_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "pin"
    secret.write_text("from-the-file", encoding="utf-8")
    with pytest.raises(ValidationError, match="set TEM_PIN_KEY or TEM_PIN_KEY_FILE, not both"):
        Settings(pin_key="in-the-environment", pin_key_file=secret)
    with pytest.raises(ValidationError, match=r"cannot read TEM_SECRET_KEY_FILE .*: No such file or directory"):
        Settings(secret_key_file=tmp_path / "missing")


def test_the_cli_reads_a_secret_file_from_the_environment_and_never_prints_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("do-not-print-me", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "TEM_HOME": str(tmp_path), "TEM_SECRET_KEY_FILE": str(secret)}
    code = "from tem.core.settings import Settings; s = Settings(); print(s.secret_key == 'do-not-print-me', s)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.startswith("True ")
    assert "do-not-print-me" not in result.stdout
