"""The API against its own OpenAPI document (schemathesis): as an admin and anonymously.

Every operation of ``/api/openapi.json`` is called with generated requests (a fixed
seed, ``PLANNER_SCHEMA_EXAMPLES`` per operation, small by default) and every answer
must match the document: documented status, content type and schema, no server
error, invalid input refused. The analysis steps are replaced by a quick one, so the
analysis endpoints are reached and the bounded queue answers, without real runs.
"""

from __future__ import annotations

import os
import shutil

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402  after the skip
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from planner import accounts, pipeline  # noqa: E402
from planner_web import create_app  # noqa: E402

EXAMPLES = int(os.environ.get("PLANNER_SCHEMA_EXAMPLES", "8"))


def quick_step(store, *, progress=None) -> dict:
    """A stand-in analysis step: reads the store, writes nothing."""
    return {"layers": len(store.layers())}


@pytest.fixture(scope="module")
def contract(nanjing_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("contract") / "contract.gpkg"
    shutil.copyfile(nanjing_path, path)
    accounts.add_user(path, "admin", "admin", "test-password-1")
    token = accounts.make_token(path, "admin")
    saved = pipeline.DEMO_ANALYSIS, pipeline.PAGE_ANALYSIS
    pipeline.DEMO_ANALYSIS, pipeline.PAGE_ANALYSIS = [("快", quick_step)], []
    app = create_app({"STORE": str(path), "TESTING": True})
    yield app, token
    app.extensions["planner.jobs"].shutdown()
    pipeline.DEMO_ANALYSIS, pipeline.PAGE_ANALYSIS = saved


def _operations(app):
    api = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    return [result.ok() for result in api.get_all_operations()]


_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _checker(operation, headers: dict[str, str]):
    """A hypothesis test calling ``operation`` with generated requests and checking answers."""
    # A bbox that matches the pattern may still be out of range, inverted or read as
    # lat,lon: JSON Schema cannot say so, and the server answers 400 naming it (see
    # test_webmap_api). Every other check holds for those operations too.
    # Likewise the plan's edits name grids, blocks and buildings of the store, which a
    # schema cannot list: edits of features that do not exist are refused (400).
    # An export's target CRS may match the pattern and still be no CRS (400 naming srs).
    # A community is named by the store's own codes, which a schema cannot list either:
    # one the store does not hold is refused (400 naming community), in a query or in the
    # body of a rollback or a publish.
    names = {p.name for p in operation.query}
    op_id = operation.definition.raw.get("operationId")
    edits = op_id in (
        "previewPlanEdits",
        "savePlanEdits",
        "exportLayer",
        "rollbackPlan",
        "publishPlan",
    )
    store_named = "bbox" in names or "community" in names
    excluded = [positive_data_acceptance] if store_named or edits else []
    strategy = operation.as_strategy()
    if op_id == "getReport":
        # The pdf atlas takes minutes on the demo (a page per grid); tests/test_webmap_api
        # downloads it once. The xlsx report is generated here like any answer.
        strategy = strategy.filter(lambda case: (case.query or {}).get("format") != "pdf")

    @_SETTINGS
    @given(case=strategy)
    def check(case):
        # The WSGI transport does not gunzip: ask for plain bodies to check them.
        case.call_and_validate(
            headers={**headers, "Accept-Encoding": "identity"}, excluded_checks=excluded
        )

    return check


def _check_every_operation(app, headers: dict[str, str]) -> int:
    """Run the generated requests of every operation; the number of operations."""
    operations = _operations(app)
    for operation in operations:
        _checker(operation, headers)()
    return len(operations)


def test_every_operation_as_admin(contract):
    app, token = contract
    reached = _check_every_operation(app, {"Authorization": f"Bearer {token}"})
    assert reached >= 20
    # The analysis endpoints were reached: jobs ran (or were refused at the bound).
    assert app.extensions["planner.jobs"].list()


def test_every_operation_anonymously(contract):
    app, _ = contract
    assert _check_every_operation(app, {}) >= 20
