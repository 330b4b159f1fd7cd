"""The ``ark`` fixture: the REST API of the session's server, in the test's own namespace.

Every test gets its own namespace (``namespace`` fixture), so tests sharing the
session-scoped server never see each other's objects.
"""
from __future__ import annotations

import pytest
import requests
from arkrest import Ark


@pytest.fixture
def ark(api: requests.Session, server, namespace: str) -> Ark:
    return Ark(api, server.url, namespace)
