"""What the database can hold: the one set of bounded types for every integer, serial and date a request carries.

An id beyond PostgreSQL's INTEGER, a serial beyond BIGINT, or a date that overflows when turned into UTC would
otherwise reach the database (or `astimezone`) and answer 500. With these types pydantic answers 422 first, on
SQLite and PostgreSQL alike, and the bounds are in the OpenAPI document. They work in a path, a query or a body:

    def get_lot(lot_id: DbId, ...)                          # path
    lot_id: DbId | None = None                              # query
    first_serial: StampSerial                               # a body's field
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from annotated_types import Ge, Gt, Le
from pydantic import AfterValidator

#: PostgreSQL INTEGER, the type of every id column.
INT_MAX = 2**31 - 1
#: PostgreSQL BIGINT, the type of serial columns.
BIGINT_MAX = 2**63 - 1
#: The years a date or time may fall in: far beyond any stamp's life, short of any overflow.
FIRST_YEAR = 2000
LAST_YEAR = 2100

#: A row's id (1 … 2³¹−1).
DbId = Annotated[int, Ge(1), Le(INT_MAX)]
#: A count or amount stored in an INTEGER column (1 … 2³¹−1).
Count = Annotated[int, Gt(0), Le(INT_MAX)]
#: A stamp's serial: GS1 allows 20 digits, the database holds BIGINT (1 … 2⁶³−1).
StampSerial = Annotated[int, Ge(1), Le(BIGINT_MAX)]


def _year_of_datetime(value: dt.datetime) -> dt.datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must fall in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


def _year_of_date(value: dt.date) -> dt.date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must fall in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


#: A date and time in the years 2000 to 2100 (so that turning it into UTC cannot overflow).
Moment = Annotated[dt.datetime, AfterValidator(_year_of_datetime)]
#: A calendar day in the years 2000 to 2100.
Day = Annotated[dt.date, AfterValidator(_year_of_date)]
