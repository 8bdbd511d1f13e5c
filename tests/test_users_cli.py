"""``flightdeck users`` and ``flightdeck audit``: accounts managed from the command line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kpis.cli import main
from kpis.storage.security import SecurityStore, security_db_path


def run(argv: list[str], monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


@pytest.mark.slow  # production Argon2 hashing, many times (about 2 s)
def test_accounts_are_added_listed_changed_and_removed(
        demo_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(demo_db)]
    password = "a long enough password\n"
    assert run(["users", "add", "jo", "--role", "analyst", "--force", "kent",
                "--display-name", "Jo Bloggs", "--password-stdin", *db], monkeypatch,
               password) == 0
    assert run(["users", "add", "sso", "--role", "viewer", "--sso-only", *db],
               monkeypatch) == 0
    capsys.readouterr()
    assert run(["users", "list", *db], monkeypatch) == 0
    listed = capsys.readouterr().out
    assert "jo\tanalyst\tkent\tJo Bloggs\tpassword" in listed
    assert "sso\tviewer\tall forces\tsso\tsso" in listed

    store = SecurityStore(security_db_path(demo_db))
    assert store.authenticate("jo", "a long enough password") is not None
    token = store.user("jo").session_token  # type: ignore[union-attr]
    assert run(["users", "set-role", "jo", "admin", *db], monkeypatch) == 0
    changed = store.user("jo")
    assert changed is not None and changed.role == "admin" and changed.force_slug is None
    assert changed.session_token != token  # their sessions end
    assert run(["users", "set-password", "jo", "--password-stdin", *db], monkeypatch,
               "another good password\n") == 0
    assert store.authenticate("jo", "a long enough password") is None
    assert store.authenticate("jo", "another good password") is not None
    assert run(["users", "remove", "jo", *db], monkeypatch) == 0
    assert store.user("jo") is None

    capsys.readouterr()
    assert run(["audit", "--event", "user added", *db], monkeypatch) == 0
    audit = capsys.readouterr().out
    assert "jo: analyst, kent" in audit and "sso: viewer, all forces" in audit
    assert run(["audit", "--limit", "2", *db], monkeypatch) == 0
    assert capsys.readouterr().out.count("\n") == 2


@pytest.mark.slow  # production Argon2 hashing
def test_passwords_are_stored_only_as_salted_argon2id_hashes(
        demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = ["--db", str(demo_db)]
    for name in ("ann", "bob"):
        assert run(["users", "add", name, "--role", "viewer", "--password-stdin", *db],
                   monkeypatch, "the very same password\n") == 0
    path = security_db_path(demo_db)
    assert b"the very same password" not in path.read_bytes()
    import duckdb

    with duckdb.connect(str(path), read_only=True) as conn:
        hashes = [h for (h,) in conn.execute("SELECT password_hash FROM users").fetchall()]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert hashes[0] != hashes[1]  # salted: the same password hashes differently


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["users", "add", "x", "--role", "viewer", "--password-stdin"], "short\n",
     "at least 12 characters"),
    # Common passwords (zxcvbn's lists), keyboard walks and repeats are refused.
    (["users", "add", "x", "--role", "viewer", "--password-stdin"], "password1234\n",
     "too easy to guess: This is a very common password"),
    (["users", "add", "x", "--role", "viewer", "--password-stdin"], "qwertyuiopasdf\n",
     "too easy to guess"),
    (["users", "add", "x", "--role", "viewer", "--password-stdin"], "aaaaaaaaaaaaaaaa\n",
     "too easy to guess"),
    (["users", "add", "x", "--role", "viewer", "--force", "atlantis", "--password-stdin"],
     "long enough password\n", "no force 'atlantis'"),
    (["users", "add", "bad name!", "--role", "viewer", "--sso-only"], "", "not valid"),
    (["users", "remove", "nobody"], "", "no user called 'nobody'"),
    (["users", "set-role", "nobody", "viewer"], "", "no user called 'nobody'"),
])
def test_bad_user_commands_are_refused_with_a_reason_and_change_nothing(
        demo_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], stdin: str, message: str) -> None:
    assert run([*argv, "--db", str(demo_db)], monkeypatch, stdin) == 2
    assert message in capsys.readouterr().err
    assert SecurityStore(security_db_path(demo_db)).users() == []


def test_an_existing_user_name_cannot_be_added_twice(
        demo_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["users", "add", "jo", "--role", "viewer", "--sso-only", "--db", str(demo_db)]
    assert run(argv, monkeypatch) == 0
    assert run(argv, monkeypatch) == 2
    assert "already a user called 'jo'" in capsys.readouterr().err


def test_the_kpi_csv_neutralises_formula_like_text_but_not_numbers() -> None:
    import pandas as pd

    from kpis.exports.kpi_csv import write_table

    table = pd.DataFrame({"kpi": ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "plain"],
                          "area": ["+cmd", "-2+3", "kent"],
                          "change": [-0.25, 1.5, float("nan")]})
    out = io.StringIO()
    write_table(table, out)
    lines = out.getvalue().splitlines()
    assert lines[1] == "\"'=HYPERLINK(\"\"http://x\"\")\",'+cmd,-0.25"
    assert lines[2] == "'@SUM(A1),'-2+3,1.5"
    assert lines[3] == "plain,kent,"
