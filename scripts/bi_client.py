#!/usr/bin/python3
"""Read the hub's bi schema the way Superset does: SQLAlchemy over psycopg2.

usage: bi_client.py URL < other_tables.json

URL is a SQLAlchemy URL (postgresql+psycopg2://login:password@host:port/db)
of a BI login. The script lists the tables of the schema bi through
SQLAlchemy's inspector (what Superset shows as the schema's datasets), reads
every row of each, then tries each table named on standard input (a JSON list
of "schema.table" names: every table that is not bi's) and notes the
SQLSTATE it is refused with (null when it was read). It prints one JSON
object: the library versions, the rows of every bi table (timestamps as
microseconds since the epoch), and the refusals. internal/server's
TestBISQLSurface runs it and compares the rows with pgx's and GraphQL's.
"""

import datetime
import decimal
import json
import sys

import psycopg2
import sqlalchemy
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def plain(v):
    """A value as JSON can hold it."""
    if isinstance(v, datetime.datetime):
        return (v - EPOCH) // datetime.timedelta(microseconds=1)
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bi_client.py URL < other_tables.json")
    others = json.load(sys.stdin)
    engine = create_engine(sys.argv[1])
    out = {
        "versions": {"sqlalchemy": sqlalchemy.__version__, "psycopg2": psycopg2.__version__.split()[0]},
        "tables": {},
        "refused": {},
    }
    with engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names(schema="bi")):
            result = conn.execute(text('SELECT * FROM bi."%s"' % table))
            out["tables"][table] = {
                "columns": list(result.keys()),
                "rows": [[plain(v) for v in row] for row in result],
            }
    for name in others:
        schema, table = name.split(".", 1)
        # A connection per try: a refused statement aborts its transaction.
        with engine.connect() as conn:
            try:
                conn.execute(text('SELECT * FROM "%s"."%s" LIMIT 1' % (schema, table))).fetchall()
                out["refused"][name] = None
            except DBAPIError as e:
                out["refused"][name] = getattr(e.orig, "pgcode", None) or "no sqlstate: %s" % e.orig
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
