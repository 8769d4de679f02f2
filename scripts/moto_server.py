"""moto_server for the tests and benchmarks, with its DynamoDB made safe for concurrent clients.

moto 5.2's DynamoDB loses acknowledged writes when requests overlap: TransactWriteItems copies
every table it touches when it begins and, when the transaction fails, puts those copies back,
undoing every write other requests made meanwhile; the copy also collides with concurrent
writers (HTTP 500). A fleet of workers on it could then fail, or pass, for the emulator's
reasons. Real DynamoDB does neither. So here:

- DynamoDB requests are served one at a time (other services stay concurrent);
- a failed transaction restores only the items it touched, as they were before it, instead of
  whole tables (and no table is copied per transaction).

Usage: python scripts/moto_server.py [-H HOST] [-p PORT]   (the same flags as moto_server)
"""

import argparse
import copy
import os
import signal
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class _NoTableCopies:
    """moto's module sees this as `copy`: tables are not copied (rollback is per item, below)."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


dynamodb_models.copy = _NoTableCopies()
_transact_write_items = DynamoDBBackend.transact_write_items


def _key_of(backend, op):
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None, None
    if "Item" in op:
        item = op["Item"]
        key = {table.hash_key_attr: item[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = item[table.range_key_attr]
        return op["TableName"], key
    return op["TableName"], op.get("Key")


def transact_write_items(self, transact_items):
    before = []
    for entry in transact_items:
        if len(entry) != 1:
            continue
        (_, op), = entry.items()
        table_name, key = _key_of(self, op)
        if table_name is None or key is None:
            continue
        try:
            current = self.get_item(table_name, key)
        except Exception:  # a malformed key: the transaction itself will say so
            continue
        before.append((table_name, key, None if current is None else current.to_json()["Attributes"]))
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table_name, key, attributes in reversed(before):
            if attributes is None:
                if self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            else:
                self.put_item(table_name, attributes)
        raise


DynamoDBBackend.transact_write_items = transact_write_items


class SerialDynamoDB:
    """WSGI middleware: one DynamoDB request at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self.lock:
                # The whole body is produced under the lock.
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        SerialDynamoDB(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
