"""Accounts in the store (planner.accounts) and the ``planner user`` commands."""

from __future__ import annotations

import io
import sqlite3
import threading

import pyogrio
import pytest

from planner import accounts, schema
from planner.cli import run
from planner.errors import InputError
from planner.store import Store


@pytest.fixture
def store(tmp_path) -> Store:
    return Store.create(tmp_path / "accounts.gpkg", metric_crs="EPSG:4549", name="测试社区")


def test_add_authenticate_and_hash_only(store):
    accounts.add_user(store, "ann", "planner", "correct horse")
    assert accounts.authenticate(store, "ann", "correct horse").role == "planner"
    assert accounts.authenticate(store, "ann", "wrong horse!") is None
    assert accounts.authenticate(store, "nobody", "correct horse") is None
    with sqlite3.connect(store.path) as con:
        (stored,) = con.execute("SELECT password_hash FROM planner_users").fetchone()
    assert "correct horse" not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


def test_accounts_are_not_layers(store):
    accounts.add_user(store, "ann", "admin", "correct horse")
    accounts.make_token(store, "ann")
    assert Store(store.path).layers() == []
    listed = {str(n) for n in pyogrio.list_layers(store.path)[:, 0]}
    assert not any(n.startswith("planner_users") or n.startswith("planner_tokens") for n in listed)
    assert not {"planner_users", "planner_tokens"} & set(schema.LAYERS)


def test_bad_names_roles_passwords_and_duplicates_refused(store):
    with pytest.raises(InputError, match="role"):
        accounts.add_user(store, "ann", "boss", "correct horse")
    with pytest.raises(InputError, match="at least"):
        accounts.add_user(store, "ann", "viewer", "short")
    with pytest.raises(InputError, match="user name"):
        accounts.add_user(store, "a b", "viewer", "correct horse")
    with pytest.raises(InputError, match="user name"):
        accounts.add_user(store, accounts.LOCAL_USER, "viewer", "correct horse")
    accounts.add_user(store, "ann", "viewer", "correct horse")
    with pytest.raises(InputError, match="exists"):
        accounts.add_user(store, "ann", "viewer", "correct horse")


def test_tokens_are_kept_as_digests_and_follow_role_and_removal(store):
    accounts.add_user(store, "qgis", "viewer", "correct horse")
    token = accounts.make_token(store, "qgis")
    with sqlite3.connect(store.path) as con:
        kept = [r[0] for r in con.execute("SELECT token_hash FROM planner_tokens")]
    assert token not in kept and len(kept) == 1
    assert accounts.user_for_token(store, token).role == "viewer"
    accounts.set_role(store, "qgis", "official")
    assert accounts.user_for_token(store, token).role == "official"
    assert accounts.user_for_token(store, token + "x") is None
    accounts.remove_user(store, "qgis")
    assert accounts.user_for_token(store, token) is None


def test_one_time_login_token_works_once(store):
    token = accounts.make_login_token(store)
    assert accounts.consume_login_token(store, "not-" + token) is None
    assert accounts.consume_login_token(store, token) == "admin"
    assert accounts.consume_login_token(store, token) is None
    assert accounts.list_users(store) == []


def test_logins_while_another_thread_reads_layers(nanjing_store):
    """A threaded web server writes tokens (logins) while other requests read layers.
    GDAL, with its own SQLite, does not see this process's locks: a token's journal, if
    left beside the store while it reads, looks like a crashed write ("attempt to write
    a readonly database"). Account transactions take turns with its reads instead."""
    path = nanjing_store.path
    accounts.add_user(path, "ann", "planner", "correct horse")
    done, failures, reads = threading.Event(), [], []

    def read_layers() -> None:
        while not done.is_set():
            try:
                reads.append(len(Store(path).read("edge_areas")))
            except Exception as error:  # noqa: BLE001  every failure is the finding
                failures.append(repr(error))

    reader = threading.Thread(target=read_layers)
    reader.start()
    try:
        for _ in range(60):
            token = accounts.make_token(path, "ann")
            assert accounts.user_for_token(path, token).name == "ann"
    finally:
        done.set()
        reader.join()
    assert not failures, failures[:3]
    assert reads


def test_role_order_and_field_policy():
    assert accounts.allowed("admin", "manage_users")
    assert not accounts.allowed("planner", "manage_users")
    assert accounts.allowed("planner", "analyse")
    assert not accounts.allowed("official", "analyse")
    assert accounts.allowed("official", "read_all")
    assert not accounts.allowed("viewer", "read_all")
    assert not accounts.allowed(None, "view")
    assert accounts.allowed(accounts.PUBLIC, "view")
    assert not accounts.allowed(accounts.PUBLIC, "read_all")
    assert accounts.visible_fields("official", "buildings") is None
    viewer_buildings = accounts.visible_fields("viewer", "buildings")
    assert "households" not in viewer_buildings and "name" in viewer_buildings
    viewer_grids = accounts.visible_fields("viewer", "grids")
    assert "households" in viewer_grids
    assert not accounts.SPECIAL_GROUP_FIELDS & viewer_grids
    assert "contact" in accounts.visible_fields("viewer", "stations")
    assert not accounts.can_see_layer("viewer", "roster_unmatched")
    public = accounts.visible_fields(accounts.PUBLIC, "stations")
    assert "contact" not in public and "capacity" not in public
    assert not accounts.can_see_layer(accounts.PUBLIC, "buildings")
    assert not accounts.can_see_layer(None, "grids")
    # Every layer with a special-group field keeps it from a viewer.
    for name, spec in schema.LAYERS.items():
        fields = accounts.visible_fields("viewer", name)
        assert not accounts.SPECIAL_GROUP_FIELDS & set(fields), name
        assert set(fields) <= set(spec.field_names)


def _run(argv, stdin=""):
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        return run(argv)
    finally:
        sys.stdin = old


def test_user_commands(store, capsys):
    path = str(store.path)
    assert (
        _run(["user", "add", path, "ann", "--role", "admin", "--password-stdin"], "pw-long-1\n")
        == 0
    )
    assert (
        _run(["user", "add", path, "bob", "--role", "viewer", "--password-stdin"], "pw-long-2\n")
        == 0
    )
    assert (
        _run(["user", "add", path, "cat", "--role", "viewer", "--password-stdin"], "short\n") == 2
    )
    assert "at least" in capsys.readouterr().err
    assert _run(["user", "set-role", path, "bob", "official"]) == 0
    assert _run(["user", "list", path]) == 0
    out = capsys.readouterr().out
    assert "ann" in out and "admin" in out and "bob" in out and "official" in out
    assert _run(["user", "reset-password", path, "bob", "--password-stdin"], "new-pass-3\n") == 0
    assert accounts.authenticate(store, "bob", "new-pass-3") is not None
    capsys.readouterr()
    assert _run(["user", "token", path, "bob"]) == 0
    token = capsys.readouterr().out.strip()
    assert accounts.user_for_token(store, token).name == "bob"
    assert _run(["user", "remove", path, "bob"]) == 0
    assert _run(["user", "remove", path, "bob"]) == 2
    assert "no user 'bob'" in capsys.readouterr().err
    assert _run(["user", "set-role", path, "ann", "boss"]) == 2
