"""The live server behind the browser tests gives every request thread a connection of its own.

On SQLite an in-memory test database would be one connection shared by all of the server's request threads, and
two threads on one sqlite3 connection deadlock the interpreter when one of them runs a Python SQL function (the
CI run of 2026-11-26 hung that way until its time limit); jiedao/settings/test.py puts the database in a file.
"""

import pytest
from django.db import connection

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_live_server_shares_no_connection(live_server):
    assert live_server.thread.connections_override == {}
    if connection.vendor == "sqlite":
        assert not connection.is_in_memory_db()

