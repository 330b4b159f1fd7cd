"""Real clients over watch (issue 3): kubectl, the official kubernetes Python client, kopf."""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kubernetes import config, dynamic, watch
from watchkit import client_session, create, delete, list_rv, merge_patch

from tests.conftest import KUBECTL, REPO

OPERATOR = Path(__file__).with_name("kopf_operator.py")


class Lines:
    """stdout of a long-running process, line by line, read on a thread."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"no matching line within {timeout}s; saw {self.seen}")

    def stop(self) -> str:
        self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err or ""


def _kubectl_watch(server, tmp_path, *args: str) -> Lines:
    process = subprocess.Popen(
        [str(KUBECTL), "--kubeconfig", str(server.kubeconfig), "--cache-dir", str(tmp_path / "kube-cache"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "KUBECONFIG": ""})
    return Lines(process)


def test_kubectl_get_watch_prints_each_change(api, server, namespace, tmp_path):
    if not KUBECTL.exists():
        pytest.skip(f"{KUBECTL} is not installed")
    create(api, server.url, namespace, "q0")
    everything = _kubectl_watch(server, tmp_path, "get", "queries", "-n", namespace, "-w", "--output-watch-events")
    one = None
    try:
        everything.wait_for(lambda line: line.startswith("EVENT"), 20)  # the header
        everything.wait_for(lambda line: line.split()[:2] == ["ADDED", "q0"], 20)
        create(api, server.url, namespace, "q1")
        everything.wait_for(lambda line: line.split()[:2] == ["ADDED", "q1"], 20)
        # One object (kubectl gets it, then watches with fieldSelector=metadata.name=q1).
        one = _kubectl_watch(server, tmp_path, "get", "query", "q1", "-n", namespace, "-w", "--output-watch-events")
        one.wait_for(lambda line: line.split()[:2] == ["ADDED", "q1"], 20)
        time.sleep(0.5)  # that line comes from kubectl's GET; let its watch start
        merge_patch(api, server.url, namespace, "q1", {"status": {"phase": "done"}}, "/status")
        everything.wait_for(lambda line: line.split()[:2] == ["MODIFIED", "q1"] and "done" in line.split(), 20)
        one.wait_for(lambda line: line.split()[:2] == ["MODIFIED", "q1"] and "done" in line.split(), 20)
        assert delete(api, server.url, namespace, "q1").status_code == 200
        everything.wait_for(lambda line: line.split()[:2] == ["DELETED", "q1"], 20)
        one.wait_for(lambda line: line.split()[:2] == ["DELETED", "q1"], 20)
        assert not [line for line in one.seen if "q0" in line]
    finally:
        errors = everything.stop() + (one.stop() if one is not None else "")
    assert "error" not in errors.lower(), errors


def test_python_client_watch_resumes_after_the_server_closes_the_stream(short_server, namespace):
    """``watch.Watch().stream`` over the dynamic client, on a server that ends watches after
    1.5-3 s: it sees ADDED, MODIFIED and DELETED exactly once each, across several streams,
    each resumed from the last resourceVersion it saw."""
    api_client = config.new_client_from_config(config_file=str(short_server.kubeconfig))
    session = client_session(short_server)
    try:
        queries = dynamic.DynamicClient(api_client).resources.get(api_version="ark.mckinsey.com/v1alpha1",
                                                                   kind="Query")
        create(session, short_server.url, namespace, "before")  # so that the list's revision is not 0
        start = list_rv(session, short_server.url, namespace)
        requested: list[str | None] = []

        def list_queries(*args, **kwargs):
            """The dynamic client's ``get``, counting the watch requests.

            :rtype: object
            """
            # Watch tracks the revision of the events only for a function documented to return a
            # type (here "object", as CustomObjectsApi's list functions are); a bare partial is not.
            requested.append(kwargs.get("resource_version"))
            return queries.get(*args, **kwargs)

        watcher = watch.Watch()
        events: list[tuple[str, str, int]] = []
        failures: list[BaseException] = []

        def consume() -> None:
            try:
                for event in watcher.stream(list_queries, namespace=namespace, resource_version=str(start),
                                            serialize=False):
                    obj = event["raw_object"]
                    events.append((event["type"], obj["metadata"]["name"], int(obj["metadata"]["resourceVersion"])))
            except BaseException as err:  # noqa: BLE001 - reported below
                failures.append(err)

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()

        def wait_events(count: int) -> None:
            deadline = time.monotonic() + 15
            while len(events) < count and time.monotonic() < deadline and not failures:
                time.sleep(0.05)
            assert len(events) >= count and not failures, (events, failures)

        created = create(session, short_server.url, namespace, "q1")
        wait_events(1)
        time.sleep(3.5)  # the server closes that stream; the client watches again from its last revision
        patched = merge_patch(session, short_server.url, namespace, "q1", {"spec": {"input": "again"}}).json()
        wait_events(2)
        time.sleep(3.5)
        assert delete(session, short_server.url, namespace, "q1").status_code == 200
        wait_events(3)
        watcher.stop()
        thread.join(10)
        rv_created = int(created["metadata"]["resourceVersion"])
        rv_patched = int(patched["metadata"]["resourceVersion"])
        assert events == [("ADDED", "q1", rv_created), ("MODIFIED", "q1", rv_patched),
                          ("DELETED", "q1", rv_patched + 1)]
        # Several streams, each from the newest revision seen before it (never from scratch).
        assert len(requested) >= 3, requested
        assert requested[0] == str(start)
        assert str(rv_created) in requested and str(rv_patched) in requested
    finally:
        session.close()
        api_client.close()


def test_kopf_operator_reacts_patches_status_and_handles_its_finalizer(api, server, namespace, tmp_path):
    deleted_log = tmp_path / "deleted.txt"
    deleted_log.touch()
    log_path = tmp_path / "kopf.log"
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "ARK_KOPF_DELETED": str(deleted_log)}
    with open(log_path, "wb") as log:
        operator = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--standalone", "-n", namespace,
                                     str(OPERATOR)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"{server.url}/apis/ark.mckinsey.com/v1alpha1/namespaces/{namespace}/queries/q1"
    try:
        time.sleep(1.0)
        assert operator.poll() is None, log_path.read_text()
        create(api, server.url, namespace, "q1")
        deadline = time.monotonic() + 40
        obj = {}
        while time.monotonic() < deadline and operator.poll() is None:
            obj = api.get(url, timeout=10).json()
            if (obj.get("status") or {}).get("phase") == "running" and obj["metadata"].get("finalizers"):
                break
            time.sleep(0.2)
        assert (obj.get("status") or {}).get("phase") == "running", (obj, log_path.read_text())
        assert obj["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]

        # kopf posted its Event to /api/v1; kubectl describe finds it by involvedObject.
        kubectl = [str(KUBECTL), "--kubeconfig", str(server.kubeconfig), "-n", namespace]
        events_url = f"{server.url}/api/v1/namespaces/{namespace}/events"
        selector = {"fieldSelector": f"involvedObject.name=q1,involvedObject.uid={obj['metadata']['uid']}"}
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not api.get(events_url, params=selector, timeout=10).json()["items"]:
            time.sleep(0.2)
        assert api.get(events_url, params=selector, timeout=10).json()["items"], log_path.read_text()
        described = subprocess.run([*kubectl, "describe", "query", "q1"], capture_output=True, text=True, timeout=60)
        assert described.returncode == 0, described.stderr
        events = described.stdout.split("Events:", 1)[1]
        assert "Started" in events and "query q1 is running" in events and "kopf" in events, described.stdout

        deleting = api.delete(url, timeout=10)
        assert deleting.status_code == 200, deleting.text  # marked for deletion, the finalizer still there
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and operator.poll() is None and api.get(url, timeout=10).status_code != 404:
            time.sleep(0.2)
        assert api.get(url, timeout=10).status_code == 404, log_path.read_text()
        assert deleted_log.read_text().split() == ["q1"]
        assert operator.poll() is None, log_path.read_text()
    finally:
        operator.terminate()
        try:
            operator.wait(15)
        except subprocess.TimeoutExpired:
            operator.kill()
            operator.wait()
    text = log_path.read_text()
    assert "Traceback" not in text, text
