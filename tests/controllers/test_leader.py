"""One process per database runs the controllers: a second contender is refused while the
leader holds its lock, and takes over once it is released (both databases)."""
from __future__ import annotations

from ark.controllers.leader import Leadership
from ark.storage.dialects import create_engine_for


def test_one_leader_per_database_and_a_successor_after_release(store_database):
    engines = [create_engine_for(store_database.settings) for _ in range(2)]
    first, second = (Leadership(engine) for engine in engines)
    try:
        assert first.acquire() and first.held()
        assert first.acquire()  # asking again keeps it
        assert not second.acquire() and not second.held()
        first.release()
        assert not first.held()
        assert second.acquire() and second.held()
    finally:
        first.release()
        second.release()
        for engine in engines:
            engine.dispose()
