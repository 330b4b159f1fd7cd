"""The minimal gevent stream and fan-out: a chunked response per subscriber, fed from a queue.

``GET /stream`` holds a response open (headers at once, as a watch does) and writes each line
published to it; ``POST /publish?token=T`` puts one event line (a Query's body, the size of a
watch event) in the queue of every stream of this worker, and ``?end=true`` ends them. There
is no cross-worker channel: a client that wants every stream publishes to each worker.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import gevent.queue
from flask import Blueprint, Response, current_app, request

blueprint = Blueprint("stream", __name__)
_streams: set[gevent.queue.Queue] = set()  # this worker's open streams


@blueprint.get("/stream")
def stream() -> Response:
    queue: gevent.queue.Queue = gevent.queue.Queue()

    def lines() -> Iterator[bytes]:
        _streams.add(queue)
        try:
            yield b""  # gunicorn sends the headers now
            while (line := queue.get()) is not None:
                yield line
        finally:
            _streams.discard(queue)

    return Response(lines(), mimetype="application/json")


@blueprint.post("/publish")
def publish() -> Response:
    if request.args.get("end") == "true":
        line = None
    else:
        obj = dict(current_app.extensions["bench.baseline"].template)
        obj["metadata"] = {**obj["metadata"], "name": request.args["token"]}
        line = ('{"type":"ADDED","object":' + json.dumps(obj, separators=(",", ":")) + "}\n").encode()
    streams = list(_streams)
    for queue in streams:
        queue.put(line)
    return Response(json.dumps({"streams": len(streams)}), mimetype="application/json")
