"""The benchmark suite keeps working: every scenario runs with tiny counts on SQLite and
reports numbers, and the seeder writes the rows the server writes.

This measures nothing (``--smoke`` bounds every load to a few hundred requests and a second);
it asserts no timing, only that each scenario produced finite figures, every target of the
issue was evaluated, and the plots and tables were written.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import select

from ark.storage.dialects import create_engine_for
from ark.storage.tables import changes, labels, objects, revision
from bench import objects as bench_objects
from bench import seed
from bench.profiles import PROFILES
from bench.report import rows
from bench.run import RESOURCE
from bench.scenarios import SCENARIOS
from tests.conftest import DRIVERS, REPO, fresh_database, start_server, stop_server

PNG = b"\x89PNG\r\n\x1a\n"
MASKED = ("name", "uid", "creationTimestamp", "resourceVersion")


def wrk_or_skip() -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("wrk must be installed under CI (.ci/run runs `make wrk`)")
        pytest.skip("wrk is not installed (`make wrk`)")


@pytest.mark.xdist_group("sqlite-b")  # make test: beside the other SQLite tests of its half (tests/conftest.py)
def test_every_scenario_reports_finite_figures(tmp_path):
    wrk_or_skip()
    result = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--driver", "sqlite", "--out", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    sqlite = report["drivers"]["sqlite"]
    assert set(sqlite["scenarios"]) == set(SCENARIOS)
    for name, scenario in sqlite["scenarios"].items():
        assert scenario["figures"], name
        for key, figure in scenario["figures"].items():
            assert figure["rounds"], (name, key)
            assert all(math.isfinite(entry["value"]) and len(entry["load"]) == 3 for entry in figure["rounds"]), \
                (name, key, figure["rounds"])
            assert math.isfinite(figure["median"]), (name, key)
    evaluated = {(t["row"], t["target"]): t for s in sqlite["scenarios"].values() for t in s["targets"]}
    for row in rows(PROFILES["smoke"]):
        for target in row.targets:
            if "sqlite" in target.drivers:
                check = evaluated[(row.label, target.text)]
                assert math.isfinite(check["value"]) and isinstance(check["met"], bool), check
    assert not [note for note in sqlite["notes"] if "server error" in note or "streams got the event" in note], \
        sqlite["notes"]
    markdown = (tmp_path / "latest.md").read_text()
    pictures = [line.split("(")[1].rstrip(")") for line in markdown.splitlines() if line.startswith("![")]
    assert len(pictures) == 4
    for picture in pictures:
        assert (tmp_path / picture).read_bytes().startswith(PNG), picture


def _rows_of(settings, namespace: str, name: str) -> dict:
    engine = create_engine_for(settings)
    key = (objects.c.resource == RESOURCE, objects.c.namespace == namespace, objects.c.name == name)
    with engine.connect() as conn:
        row = conn.execute(select(objects).where(*key)).one()
        label_rows = conn.execute(select(labels.c.key, labels.c.value, labels.c.num_value).where(
            labels.c.resource == RESOURCE, labels.c.namespace == namespace, labels.c.name == name)).all()
        change = conn.execute(select(changes).where(changes.c.resource == RESOURCE, changes.c.namespace == namespace,
                                                    changes.c.name == name)).one()
        current = conn.execute(select(revision.c.current)).scalar_one()
    engine.dispose()
    return {"object": row, "labels": sorted(label_rows), "change": change, "current": current}


@pytest.mark.parametrize("driver", [pytest.param(d, marks=pytest.mark.xdist_group(f"{d}-b")) for d in DRIVERS])
def test_seeded_rows_are_the_rows_the_server_writes(driver, tmp_path_factory, tmp_path):
    namespace = "seed-check"
    path = bench_objects.collection(namespace)
    with fresh_database(driver, tmp_path_factory) as database:
        (tmp_path / "first").mkdir()
        server = start_server(database, tmp_path / "first", workers=1)
        try:
            api = server.session()
            assert api.post(server.url + bench_objects.NAMESPACES_PATH,
                            json=bench_objects.namespace(namespace)).status_code == 201
            # the agent the queries ask: admission refuses a Query whose target does not exist
            assert api.post(server.url + bench_objects.agents_path(namespace), json=bench_objects.agent()).status_code \
                == 201
            for name in ("template", "written"):
                assert api.post(server.url + path, json=bench_objects.query(name)).status_code == 201
            api.close()
        finally:
            stop_server(server)
        template = seed.template_row(database.settings, RESOURCE, namespace, "template")
        seeded_rv = seed.seed(database.settings, template, RESOURCE, namespace, "seeded", range(1))
        written = _rows_of(database.settings, namespace, "written")
        seeded = _rows_of(database.settings, namespace, seed.object_name("seeded", 0))

        written_body, seeded_body = json.loads(written["object"].body), json.loads(seeded["object"].body)
        assert list(seeded_body["metadata"]) == list(written_body["metadata"])  # same keys, same order
        for body in (written_body, seeded_body):
            for masked in MASKED:
                body["metadata"].pop(masked)
            for entry in body["metadata"]["managedFields"]:  # the template's write time, maybe a second apart
                entry.pop("time")
        assert seeded_body == written_body
        metadata = json.loads(seeded["object"].body)["metadata"]
        assert seeded["object"].uid == metadata["uid"] != json.loads(written["object"].body)["metadata"]["uid"]
        assert seeded["object"].resource_version == int(metadata["resourceVersion"]) == seeded_rv
        assert seeded_rv == written["object"].resource_version + 1 == seeded["current"]
        assert seeded["labels"] == written["labels"]
        for rows_ in (written, seeded):
            assert (rows_["change"].type, rows_["change"].prev_body) == ("ADDED", None)
            assert rows_["change"].body == rows_["object"].body
            assert rows_["change"].rv == rows_["object"].resource_version

        (tmp_path / "again").mkdir()
        server = start_server(database, tmp_path / "again", workers=1)
        try:
            api = server.session()
            got = api.get(f"{server.url}{path}/{seed.object_name('seeded', 0)}")
            assert got.status_code == 200 and got.text == seeded["object"].body
            listed = api.get(server.url + path).json()
            assert [item["metadata"]["name"] for item in listed["items"]] == ["seeded-0000000", "template", "written"]
            assert listed["metadata"]["resourceVersion"] == str(seeded_rv)
            api.close()
        finally:
            stop_server(server)
