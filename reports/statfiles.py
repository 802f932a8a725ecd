"""Streaming writers of the statistical files of the dataset export: SAS transport (XPT v5), SPSS
system files (.sav) and Stata 118 (.dta).

Why by hand: the one maintained library that writes all three, pyreadstat (ReadStat), takes whole
pandas data frames, so memory followed the largest table and the per-cell frame building cost 40×
a PostgreSQL COPY. No library writes these formats incrementally. The layouts here follow the
published specifications:

- XPT v5: SAS Institute, TS-140 "The record layout of a data set in SAS transport (XPORT) format":
  80-byte records, 140-byte NAMESTR records, IBM System/370 double precision numbers, missing ``.``
  as 0x2E followed by zeros, blank padding, no row count in any header (the data run to the end).
- SAV: GNU PSPP Developers Guide, "System File Format": file header (ncases known here), variable
  records (type 2, with continuation records for strings over 8 bytes and 255-byte segments for
  very long strings, subtype 14), value labels (type 3/4 for numbers and short strings, subtype 21
  for long strings), a missing range (-2), machine records (subtypes 3 and 4), long names
  (subtype 13), the character encoding (subtype 20, UTF-8), uncompressed little-endian data.
- DTA 118: StataCorp, "Stata 14 dta file format" (help dta): tagged sections, a map of offsets,
  fixed-width rows (doubles, str1–str2045, strL for longer text kept in GSO records), value labels
  at the end, extended missing values ``.a``–``.z`` as 0x7FE0010000000000 + (n << 40).

Every file declares its string widths before the first row, and XPT declares no row count, so
each table is read once (in chunks of columns, reports.dataset.Table.iter_chunks) into a spool: a
temporary file of marshalled chunks of columns, converted to plain numbers and bytes as they
arrive, while the widths are measured. Then each file is written from the spool chunk by chunk
with numpy (one vectorised operation per column and chunk). Memory holds one chunk, whatever the
size of the trial; the three formats share one read.
"""

from __future__ import annotations

import datetime as dt
import itertools
import marshal
import re
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crf.dictionary import Column

from .missing import SPSS_RANGE, column_rules

# XPT v5 holds at most 200 bytes per character value (TS-140); longer text is cut at a UTF-8
# character boundary and the data dictionary says so (the CSV and the ODM keep the whole text).
XPT_MAX_BYTES = 200
# Stata str# holds up to 2045 bytes; longer text is a strL (help dta, "variable_types").
DTA_MAX_STR = 2045
# Per PSPP: a string over 255 bytes is a very long string of 252-byte segments.
SAV_MAX_SEGMENT = 255

_UNIX = dt.date(1970, 1, 1).toordinal()
_SAS_EPOCH = dt.date(1960, 1, 1).toordinal()  # SAS and Stata dates: days since 1 January 1960
_SPSS_EPOCH = dt.date(1582, 10, 14).toordinal()  # SPSS: seconds since the Gregorian calendar began
_EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def cut(text: str, limit: int = XPT_MAX_BYTES) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def _cut_bytes(data: bytes, limit: int) -> bytes:
    return data if len(data) <= limit else data[:limit].decode("utf-8", "ignore").encode("utf-8")


def dta_codes(column: Column) -> dict[str, int]:
    """Stata labels only numbers: a coded text column is written as 1, 2, ... in code-list order."""
    return {value: n for n, (value, _label) in enumerate(column.codes, start=1)}


def numeric_codes(column: Column) -> bool:
    return column.kind in ("integer", "float") and all(re.fullmatch(r"-?[0-9]+", v) for v, _ in column.codes)


# --- the spool: one read of the table, cells converted to numbers and bytes --------------------------

NUMERIC, DATE, DATETIME, TEXT = "numeric", "date", "datetime", "text"


def _storage(column: Column) -> str:
    if column.kind in ("integer", "float", "boolean"):
        return NUMERIC
    if column.kind in ("date", "datetime"):
        return column.kind
    return TEXT


# Column converters: a whole column of a chunk at once (one list comprehension per column and
# chunk, the common type tested first), which costs a third of a function call per cell.


def _numbers(values):
    return [None if v is None else float(v) if v.__class__ is not str else (float(v) if v else None) for v in values]


def _days(values):
    # A datetime is a date too, but a date column never holds one (the database types them).
    date = dt.date
    return [v.toordinal() if v.__class__ is date else (v.toordinal() if isinstance(v, date) else None) for v in values]


def _seconds(value):
    """Seconds since 1970-01-01 UTC (microseconds kept), or None."""
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - _EPOCH_UTC) / dt.timedelta(microseconds=1) / 1e6


def _all_seconds(values):
    return [None if v is None else _seconds(v) for v in values]


def _texts(to_text):
    def texts(values):
        return [v.encode("utf-8") if v.__class__ is str else to_text(v).encode("utf-8") for v in values]

    return texts


@dataclass
class Spool:
    """A table read once: ``count`` rows in chunks of columns (numbers, day numbers, seconds, UTF-8
    bytes), the widest text of each column, and for each column whose empty cells are coded by a
    rule of more than one code, the index of the code of each row (reports.missing)."""

    columns: list[Column]
    rules: list
    storage: list[str]
    count: int = 0
    widths: list[int] = field(default_factory=list)
    coded_rows: list[int] = field(default_factory=list)  # column indexes with a per-row code
    file: object = None

    def write(self, columns) -> None:
        data = marshal.dumps(columns)
        self.file.write(struct.pack("<Q", len(data)))
        self.file.write(data)

    def chunks(self):
        """The chunks in order (each a list of columns): length-prefixed, read whole (marshal.load
        on a file reads it in small pieces)."""
        self.file.seek(0)
        while size := self.file.read(8):
            yield marshal.loads(self.file.read(struct.unpack("<Q", size)[0]))  # noqa: S302 - our own file

    def close(self):
        if self.file is not None:
            self.file.close()


def spool(table, text_formatter) -> Spool:
    """Read ``table`` once (its rows in chunks, as they come from the cursor) into a spool file.
    ``text_formatter(kind)``: the CSV's text of a value (reports.dataset.plain_formatter)."""
    columns = list(table.columns)
    rules = column_rules(table)
    storage = [_storage(c) for c in columns]
    converters = []
    for column, kind in zip(columns, storage, strict=True):
        if kind == NUMERIC:
            converters.append(_numbers)
        elif kind == DATE:
            converters.append(_days)
        elif kind == DATETIME:
            converters.append(_all_seconds)
        else:
            converters.append(_texts(text_formatter(column.kind)))
    result = Spool(columns, rules, storage, widths=[0] * len(columns))
    # A rule with one code gives that code to every empty cell: only rules of several codes need
    # the row (Rule.code(row)), computed as the row is read.
    result.coded_rows = [i for i, rule in enumerate(rules) if rule is not None and len(rule.codes) > 1]
    coded = [rules[i] for i in result.coded_rows]
    text_indexes = [i for i, kind in enumerate(storage) if kind == TEXT]
    result.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by Spool.close
    for raw in itertools.chain(table.iter_chunks(), [None]):
        if raw is None:  # the end: an empty table still gets one (empty) chunk
            if result.count:
                break
            raw = [() for _ in columns]
        cols = [convert(values) for convert, values in zip(converters, raw, strict=True)]
        for i in text_indexes:
            if cols[i]:
                result.widths[i] = max(result.widths[i], max(map(len, cols[i])))
        if coded:
            rows = list(zip(*raw, strict=True))
            for rule in coded:
                index = rule.codes.index
                cols.append([index(rule.code(row)) for row in rows])
        result.write(cols)
        result.count += len(raw[0]) if raw else 0
    return result


# --- column plans shared by the writers --------------------------------------------------------------


@dataclass
class Plan:
    """How one column is written in one format."""

    index: int
    name: str
    label: str
    storage: str  # numeric, date, datetime, text, or "code" (Stata: coded text as 1, 2, ...)
    width: int = 8  # bytes of text (text columns)
    fmt: str = ""
    value_labels: dict = field(default_factory=dict)
    missing_codes: tuple = ()  # the rule's codes, when empty cells carry them
    code_column: int | None = None  # the spool's code column, when the rule has several codes
    dta_map: dict | None = None
    segments: list = field(default_factory=list)  # SPSS: the widths of a string's segments
    # SPSS: values of a text variable that stand for a code (Rule.value_codes: an outcome "unknown",
    # "NA" for a question not asked), declared discrete user-missing values (at most three).
    missing_values: tuple = ()


def _plans(sp: Spool, fmt: str, names: list[str]) -> list[Plan]:
    plans = []
    code_columns = {i: len(sp.columns) + n for n, i in enumerate(sp.coded_rows)}
    for index, (column, name, rule, kind) in enumerate(zip(sp.columns, names, sp.rules, sp.storage, strict=True)):
        label = column.label + (" (UTC)" if column.kind == "datetime" else "")
        plan = Plan(index, name, cut(label, 40) if fmt == "xpt" else label[:80], kind)
        # XPT: numbers and dates carry the code as a SAS special missing value (.A-.E); its text
        # cannot (an empty string is the only missing text in SAS).
        coded = rule is not None and (
            kind in (NUMERIC, DATE) or (fmt == "dta" and kind == TEXT and bool(column.codes))
        )
        if coded:
            plan.missing_codes = tuple(rule.codes)
            plan.code_column = code_columns.get(index)
        if kind == NUMERIC:
            if column.kind == "boolean":
                plan.value_labels = {0: "No", 1: "Yes"}
            elif column.codes and numeric_codes(column):
                plan.value_labels = {int(v): label for v, label in column.codes}
        elif kind == DATE:
            plan.fmt = {"xpt": "DATE9", "sav": "DATE11", "dta": "%td"}[fmt]
        elif kind == DATETIME:
            plan.fmt = {"xpt": "DATETIME20", "sav": "DATETIME20", "dta": "%tc"}[fmt]
        elif fmt == "dta" and column.codes:
            plan.storage = "code"
            codes = dta_codes(column)
            # A value standing for a code is written as that code (an extended missing value), not
            # as its number: left out of the map, it is empty, and the rule gives it its code.
            stands_for = {value for value, _code in rule.value_codes} if rule is not None else set()
            plan.dta_map = {value.encode("utf-8"): float(n) for value, n in codes.items() if value not in stands_for}
            plan.value_labels = {n: label for (value, label), n in zip(column.codes, codes.values(), strict=True)}
        else:
            width = sp.widths[index]
            if fmt == "sav" and column.codes:
                plan.value_labels = dict(column.codes)
                # A value label needs the value to fit the variable.
                width = max([width, *(len(v.encode("utf-8")) for v in plan.value_labels)])
            if fmt == "sav" and rule is not None and rule.value_codes:
                plan.missing_values = tuple(value.encode("utf-8") for value, _code in rule.value_codes[:3])
                width = max([width, *map(len, plan.missing_values)])
            plan.width = max(1, min(width, XPT_MAX_BYTES) if fmt == "xpt" else width)
        if coded and fmt != "xpt" and (kind != DATE or fmt == "sav"):
            plan.value_labels = {
                **plan.value_labels,
                **{(c.spss if fmt == "sav" else c.stata): c.label for c in rule.codes},
            }
        plans.append(plan)
    return plans


def _floats(values) -> np.ndarray:
    return np.array(values, dtype=np.float64) if values else np.zeros(0, dtype=np.float64)


def _text_matrix(values, width: int, pad: int) -> np.ndarray:
    """Bytes values as an (n, width) uint8 matrix padded with ``pad`` (the values fit ``width``)."""
    n = len(values)
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    matrix = np.array(values, dtype=f"S{width}").view(np.uint8).reshape(n, width)
    if pad:
        matrix = matrix.copy()
        # PostgreSQL text holds no NUL byte: every NUL here is numpy's padding.
        matrix[matrix == 0] = pad
    return matrix


def _code_values(plan: Plan, chunk, missing, value_of):
    """The code of each missing cell of ``plan``'s column in this chunk, as ``value_of(code)``."""
    if plan.code_column is None:
        return value_of(plan.missing_codes[0])
    table = np.array([value_of(c) for c in plan.missing_codes])
    return table[np.array(chunk[plan.code_column], dtype=np.int64)[missing]]


# --- SAS transport v5 -------------------------------------------------------------------------------


def _record(text: str | bytes) -> bytes:
    data = text.encode("ascii") if isinstance(text, str) else text
    return data.ljust(80, b" ")


def _header(name: str, numbers: str = "0" * 30) -> bytes:
    return _record(f"HEADER RECORD*******{name:<8}HEADER RECORD!!!!!!!{numbers}")


def ibm_doubles(values: np.ndarray) -> np.ndarray:
    """IEEE doubles as IBM System/370 doubles (TS-140), big-endian bytes, NaN as SAS missing ``.``.

    IBM: sign, 7-bit excess-64 exponent of 16, 56-bit fraction. An IEEE double's 53-bit mantissa M
    (with the implicit 1) times 2^(e-1075) is rewritten as F = M << s times 16^(E-64) / 2^56 with
    s = (e + 1) mod 4 and E = (e - s - 763) / 4: exact, no rounding (56 bits hold 53)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    bits = values.view(np.uint64)
    sign = bits >> np.uint64(63)
    exponent = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    mantissa = (bits & np.uint64((1 << 52) - 1)) | np.uint64(1 << 52)
    shift = (exponent + 1) % 4
    ibm_exponent = (exponent - shift - 763) // 4
    out = (sign << np.uint64(63)) | (ibm_exponent.clip(0, 127).astype(np.uint64) << np.uint64(56))
    out |= mantissa << shift.astype(np.uint64)
    # Zero (and the subnormals, far below IBM's range) is all zero bits; below 16^-65, zero too.
    out[(exponent == 0) | (ibm_exponent < 0)] = 0
    out[np.isnan(values)] = 0x2E << 56
    return out.astype(">u8").view(np.uint8).reshape(-1, 8)


def write_xpt(sp: Spool, path: Path, *, dataset: str, names: list[str], label: str, when: dt.datetime) -> None:
    plans = _plans(sp, "xpt", names)
    stamp = when.strftime("%d%b%y:%H:%M:%S").upper()
    with path.open("wb", buffering=1 << 20) as f:
        f.write(_header("LIBRARY"))
        f.write(_record(f"{'SAS':<8}{'SAS':<8}{'SASLIB':<8}{'9.4':<8}{'Linux':<8}{'':24}{stamp}"))
        f.write(_record(stamp))
        f.write(_header("MEMBER", "0" * 17 + "160" + "0" * 7 + "140"))
        f.write(_header("DSCRPTR"))
        f.write(_record(f"{'SAS':<8}{dataset:<8}{'SASDATA':<8}{'9.4':<8}{'Linux':<8}{'':24}{stamp}"))
        f.write(_record(stamp.ljust(32).encode("ascii") + cut(label, 40).encode("utf-8").ljust(40) + b" " * 8))
        f.write(_header("NAMESTR", f"000000{len(plans):04d}" + "0" * 20))
        namestrs = b""
        position = 0
        for number, plan in enumerate(plans, start=1):
            text = plan.storage == TEXT
            length = plan.width if text else 8
            form, width = ("DATETIME", 20) if plan.fmt == "DATETIME20" else ("DATE", 9) if plan.fmt else ("", 0)
            namestrs += struct.pack(
                ">hhhh8s40s8shhh2s8shhi52s",
                2 if text else 1,
                0,
                length,
                number,
                plan.name.encode("ascii").ljust(8),
                plan.label.encode("utf-8").ljust(40),
                form.encode("ascii").ljust(8),
                width,
                0,
                0 if text else 1,
                b"\0\0",
                b" " * 8,
                0,
                0,
                position,
                b"\0" * 52,
            )
            position += length
        f.write(namestrs + b" " * (-len(namestrs) % 80))
        f.write(_header("OBS"))
        written = 0
        for chunk in sp.chunks():
            parts = []
            for plan in plans:
                values = chunk[plan.index]
                if plan.storage == TEXT:
                    if sp.widths[plan.index] > XPT_MAX_BYTES:
                        values = [_cut_bytes(v, XPT_MAX_BYTES) for v in values]
                    parts.append(_text_matrix(values, plan.width, 0x20))
                    continue
                numbers = _floats(values)
                if plan.storage == DATE:
                    numbers -= _SAS_EPOCH
                elif plan.storage == DATETIME:
                    numbers += (_UNIX - _SAS_EPOCH) * 86400.0
                doubles = ibm_doubles(numbers)
                if plan.missing_codes:
                    missing = np.isnan(numbers)
                    if missing.any():
                        # TS-140: a special missing value is its letter, then zeros (already zero).
                        doubles[missing, 0] = _code_values(plan, chunk, missing, lambda c: ord(c.sas))
                parts.append(doubles)
            if parts and len(parts[0]):
                data = np.concatenate(parts, axis=1).tobytes()
                f.write(data)
                written += len(data)
        f.write(b" " * (-written % 80))


# --- SPSS system file --------------------------------------------------------------------------------

_SYSMIS = -np.finfo(np.float64).max
_FORMAT = {"F": 5, "A": 1, "DATE": 20, "DATETIME": 22}


def _spss_format(kind: str, width: int, decimals: int = 0) -> int:
    return (_FORMAT[kind] << 16) | (min(width, 255) << 8) | decimals


def _segments(width: int) -> list[int]:
    """The widths of the segments of a string variable (PSPP, "Very Long String Record")."""
    if width <= SAV_MAX_SEGMENT:
        return [width]
    n = (width + 251) // 252
    return [SAV_MAX_SEGMENT] * (n - 1) + [width - (n - 1) * 252]


def _padded(data: bytes, multiple: int, pad: bytes = b" ") -> bytes:
    return data + pad * (-len(data) % multiple)


def write_sav(sp: Spool, path: Path, *, names: list[str], label: str, when: dt.datetime) -> None:
    plans = _plans(sp, "sav", names)
    taken: set[str] = set()
    records, long_names, very_long, short_labels, long_labels, long_missing = [], [], [], [], [], []
    index = 1  # the dictionary index of the next variable record (continuations count)
    for plan in plans:
        segments = _segments(plan.width) if plan.storage == TEXT else [0]
        plan.segments = segments
        for n, seg in enumerate(segments):
            short = _short(plan.name if n == 0 else plan.name[:5], taken)
            if n == 0:
                long_names.append(f"{short}={plan.name}")
                if len(segments) > 1:
                    very_long.append(f"{short}={plan.width:05d}".encode("ascii") + b"\0\t")
                if plan.value_labels:
                    if plan.storage == TEXT and plan.width > 8:
                        long_labels.append(plan)
                    else:
                        short_labels.append((plan, index))
            if plan.storage == TEXT:
                fmt = _spss_format("A", seg)
            elif plan.storage == DATE:
                fmt = _spss_format("DATE", 11)
            elif plan.storage == DATETIME:
                fmt = _spss_format("DATETIME", 20)
            else:
                fmt = _spss_format("F", 8, 2 if sp.columns[plan.index].kind == "float" else 0)
            label_bytes = cut(plan.label, 255).encode("utf-8") if n == 0 else b""
            # A range of missing values (n_missing_values -2: lo, hi): the -991 … -995 codes.
            missing_range = n == 0 and bool(plan.missing_codes)
            # Discrete missing values of a string: in its variable record when it is 8 bytes or
            # narrower, else in the long string missing values record (PSPP, record 7 subtype 22).
            missing_texts = plan.missing_values if n == 0 and plan.width <= 8 else ()
            if n == 0 and plan.missing_values and plan.width > 8:
                long_missing.append(plan)
            record = struct.pack(
                "<iiiiii8s",
                2,
                seg,
                1 if label_bytes else 0,
                -2 if missing_range else len(missing_texts),
                fmt,
                fmt,
                short.encode().ljust(8),
            )
            if label_bytes:
                record += struct.pack("<i", len(label_bytes)) + _padded(label_bytes, 4)
            if missing_range:
                record += struct.pack("<dd", SPSS_RANGE["lo"], SPSS_RANGE["hi"])
            for value in missing_texts:
                record += value.ljust(8)
            records.append(record)
            index += 1
            for _ in range(((seg + 7) // 8 if plan.storage == TEXT else 1) - 1):
                records.append(struct.pack("<iiiiii8s", 2, -1, 0, 0, 0, 0, b" " * 8))
                index += 1
    case_size = index - 1
    file_label = cut(label, 64).encode("utf-8")
    header = struct.pack(
        "<4s60siiiiid9s8s64s3s",
        b"$FL2",
        b"@(#) SPSS DATA FILE - NELMAS EDC (reports/statfiles.py)".ljust(60),
        2,
        case_size,
        0,
        0,
        sp.count,
        100.0,
        when.strftime("%d %b %y").encode("ascii"),
        when.strftime("%H:%M:%S").encode("ascii"),
        file_label.ljust(64),
        b"\0\0\0",
    )
    out = [header, *records]
    for plan, dict_index in short_labels:
        entries = b""
        for value, text in sorted(plan.value_labels.items(), key=lambda item: _sort_key(item[0])):
            raw = struct.pack("<d", float(value)) if plan.storage != TEXT else str(value).encode("utf-8").ljust(8)
            text_bytes = cut(str(text), 120).encode("utf-8")
            entries += raw + _padded(bytes([len(text_bytes)]) + text_bytes, 8)
        out.append(struct.pack("<ii", 3, len(plan.value_labels)) + entries)
        out.append(struct.pack("<iii", 4, 1, dict_index))
    machine = struct.pack("<8i", 20, 0, 0, -1, 1, 1, 2, 65001)
    out.append(struct.pack("<iiii", 7, 3, 4, 8) + machine)
    floats = struct.pack("<3d", _SYSMIS, np.finfo(np.float64).max, np.nextafter(_SYSMIS, 0))
    out.append(struct.pack("<iiii", 7, 4, 8, 3) + floats)
    names_record = "\t".join(long_names).encode("utf-8")
    out.append(struct.pack("<iiii", 7, 13, 1, len(names_record)) + names_record)
    if very_long:
        data = b"".join(very_long)
        out.append(struct.pack("<iiii", 7, 14, 1, len(data)) + data)
    out.append(struct.pack("<iiii", 7, 20, 1, 5) + b"UTF-8")
    if long_labels:
        data = b""
        for plan in long_labels:
            name = plan.name.encode("utf-8")
            data += struct.pack("<i", len(name)) + name + struct.pack("<ii", plan.width, len(plan.value_labels))
            for value, text in plan.value_labels.items():
                raw = str(value).encode("utf-8").ljust(plan.width)
                text_bytes = cut(str(text), 120).encode("utf-8")
                data += struct.pack("<i", len(raw)) + raw + struct.pack("<i", len(text_bytes)) + text_bytes
        out.append(struct.pack("<iiii", 7, 21, 1, len(data)) + data)
    if long_missing:
        # Each value 8 bytes: only the first 8 bytes of a long string's missing value may be
        # other than spaces (PSPP, "Long String Missing Values Record").
        data = b""
        for plan in long_missing:
            name = plan.name.encode("utf-8")
            values = [value[:8].ljust(8) for value in plan.missing_values]
            data += struct.pack("<i", len(name)) + name + struct.pack("<Bi", len(values), 8) + b"".join(values)
        out.append(struct.pack("<iiii", 7, 22, 1, len(data)) + data)
    out.append(struct.pack("<ii", 999, 0))
    with path.open("wb", buffering=1 << 20) as f:
        f.write(b"".join(out))
        for chunk in sp.chunks():
            parts = []
            for plan in plans:
                values = chunk[plan.index]
                if plan.storage == TEXT:
                    matrix = _text_matrix(values, plan.width, 0x20)
                    parts += _sav_segments(matrix, plan.segments)
                    continue
                numbers = _floats(values)
                if plan.storage == DATE:
                    numbers = (numbers - _SPSS_EPOCH) * 86400.0
                elif plan.storage == DATETIME:
                    numbers += (_UNIX - _SPSS_EPOCH) * 86400.0
                missing = np.isnan(numbers)
                if plan.missing_codes and missing.any():
                    numbers[missing] = _code_values(plan, chunk, missing, lambda code: float(code.spss))
                numbers[np.isnan(numbers)] = _SYSMIS
                parts.append(numbers.astype("<f8").view(np.uint8).reshape(-1, 8))
            if parts and len(parts[0]):
                f.write(np.concatenate(parts, axis=1).tobytes())


def _sort_key(value):
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))


def _sav_segments(matrix: np.ndarray, segments: list[int]) -> list[np.ndarray]:
    """A string's bytes laid into its segments: 255 bytes each, each stored in a multiple of 8."""
    n = matrix.shape[0]
    total = sum(segments[:-1]) + segments[-1]
    if matrix.shape[1] < total:
        matrix = np.concatenate([matrix, np.full((n, total - matrix.shape[1]), 0x20, np.uint8)], axis=1)
    parts, start = [], 0
    for seg in segments:
        piece = matrix[:, start : start + seg]
        pad = -seg % 8
        parts.append(piece if not pad else np.concatenate([piece, np.full((n, pad), 0x20, np.uint8)], axis=1))
        start += seg
    return parts


def _short(name: str, taken: set[str]) -> str:
    """A unique SPSS short name: 8 upper-case letters or digits, starting with a letter."""
    base = "".join(ch for ch in name.upper() if ch.isascii() and ch.isalnum())[:8] or "V"
    if not base[0].isalpha():
        base = ("V" + base)[:8]
    candidate, n = base, 1
    while candidate in taken:
        suffix = str(n)
        candidate, n = base[: 8 - len(suffix)] + suffix, n + 1
    taken.add(candidate)
    return candidate


# --- Stata 118 ---------------------------------------------------------------------------------------

_DTA_MISSING = 0x7FE0000000000000  # "." as a double
_DTA_LONG_MISSING = 2147483621  # "." as a long: .a is 2147483622, … (value labels of missing values)


def _dta_missing(letter: str) -> int:
    return _DTA_MISSING + ((ord(letter) - ord("a") + 1) << 40)


def _tag(name: str, content: bytes) -> bytes:
    return f"<{name}>".encode() + content + f"</{name}>".encode()


def write_dta(sp: Spool, path: Path, *, names: list[str], label: str, when: dt.datetime) -> None:
    plans = _plans(sp, "dta", names)
    k = len(plans)
    types, formats, widths = [], [], []
    for plan in plans:
        if plan.storage == TEXT and plan.width > DTA_MAX_STR:
            types.append(32768)  # strL
            formats.append("%9s")
            widths.append(8)
        elif plan.storage == TEXT:
            types.append(plan.width)
            formats.append(f"%{min(plan.width, 2045)}s")
            widths.append(plan.width)
        else:
            types.append(65526)  # double
            formats.append(plan.fmt or ("%10.0g" if sp.columns[plan.index].kind == "float" else "%8.0g"))
            widths.append(8)
    file_label = label[:80].encode("utf-8")
    stamp = when.strftime("%d %b %Y %H:%M").encode("ascii")
    header = _tag(
        "header",
        _tag("release", b"118")
        + _tag("byteorder", b"LSF")
        + _tag("K", struct.pack("<H", k))
        + _tag("N", struct.pack("<Q", sp.count))
        + _tag("label", struct.pack("<H", len(file_label)) + file_label)
        + _tag("timestamp", bytes([len(stamp)]) + stamp),
    )
    sections = [
        ("variable_types", b"".join(struct.pack("<H", t) for t in types)),
        ("varnames", b"".join(p.name.encode("utf-8").ljust(129, b"\0") for p in plans)),
        ("sortlist", b"\0\0" * (k + 1)),
        ("formats", b"".join(f.encode("ascii").ljust(57, b"\0") for f in formats)),
        (
            "value_label_names",
            b"".join((p.name.encode("utf-8") if p.value_labels else b"").ljust(129, b"\0") for p in plans),
        ),
        ("variable_labels", b"".join(p.label.encode("utf-8")[:320].ljust(321, b"\0") for p in plans)),
        ("characteristics", b""),
    ]
    offsets = [0]
    start = b"<stata_dta>" + header
    map_at = len(start)
    position = map_at + len(_tag("map", b"\0" * 8 * 14))
    offsets.append(map_at)
    body = b""
    for name, content in sections:
        offsets.append(position + len(body))
        body += _tag(name, content)
    with path.open("w+b", buffering=1 << 20) as f:
        f.write(start + _tag("map", b"\0" * 8 * 14) + body)
        offsets.append(f.tell())  # <data>
        f.write(b"<data>")
        with tempfile.TemporaryFile() as strls:
            row = 0
            for chunk in sp.chunks():
                parts = []
                for plan, typ in zip(plans, types, strict=True):
                    values = chunk[plan.index]
                    if plan.storage == TEXT and typ == 32768:
                        parts.append(_strl_refs(values, plan.index + 1, row, strls))
                        continue
                    if plan.storage == TEXT:
                        parts.append(_text_matrix(values, plan.width, 0))
                        continue
                    if plan.storage == "code":
                        numbers = _floats([plan.dta_map.get(v) for v in values])
                    else:
                        numbers = _floats(values)
                    if plan.storage == DATE:
                        numbers -= _SAS_EPOCH
                    elif plan.storage == DATETIME:
                        numbers = (numbers + (_UNIX - _SAS_EPOCH) * 86400.0) * 1000.0
                    missing = np.isnan(numbers)
                    bits = numbers.view(np.uint64)
                    if plan.missing_codes and missing.any():
                        bits[missing] = _code_values(plan, chunk, missing, lambda code: _dta_missing(code.stata))
                        missing = np.isnan(numbers)
                    bits[missing] = _DTA_MISSING
                    parts.append(numbers.astype("<f8").view(np.uint8).reshape(-1, 8))
                if parts and len(parts[0]):
                    f.write(np.concatenate(parts, axis=1).tobytes())
                    row += len(parts[0])
            f.write(b"</data>")
            offsets.append(f.tell())  # <strls>
            f.write(b"<strls>")
            strls.seek(0)
            while block := strls.read(1 << 20):
                f.write(block)
            f.write(b"</strls>")
        offsets.append(f.tell())  # <value_labels>
        f.write(b"<value_labels>")
        for plan in plans:
            if plan.value_labels:
                table = _dta_label_table(plan.value_labels)
                name = plan.name.encode("utf-8").ljust(129, b"\0")
                f.write(_tag("lbl", struct.pack("<i", len(table)) + name + b"\0\0\0" + table))
        f.write(b"</value_labels>")
        offsets.append(f.tell())  # </stata_dta>
        f.write(b"</stata_dta>")
        offsets.append(f.tell())  # end of file
        f.seek(map_at + len(b"<map>"))
        f.write(struct.pack("<14Q", *offsets))


def _strl_refs(values, variable: int, first_row: int, strls) -> np.ndarray:
    """strL cells (help dta, "strls"): (v, o) references, the text in GSO records; "" is (0, 0)."""
    refs = np.zeros((len(values), 8), dtype=np.uint8)
    for n, value in enumerate(values):
        if not value:
            continue
        observation = first_row + n + 1
        refs[n] = np.frombuffer(struct.pack("<HQ", variable, observation)[:8], dtype=np.uint8)
        strls.write(b"GSO" + struct.pack("<IQBI", variable, observation, 130, len(value) + 1) + value + b"\0")
    return refs


def _dta_label_table(labels: dict) -> bytes:
    """A value-label table: n, text length, offsets, values, NUL-ended texts (values ascending)."""
    entries = []
    for value, text in labels.items():
        number = _DTA_LONG_MISSING + ord(value) - ord("a") + 1 if isinstance(value, str) else int(value)
        entries.append((number, str(text).encode("utf-8")[:32000] + b"\0"))
    entries.sort()
    offsets, position, texts = [], 0, b""
    for _number, text in entries:
        offsets.append(position)
        position += len(text)
        texts += text
    n = len(entries)
    return struct.pack(f"<ii{n}i{n}i", n, len(texts), *offsets, *(e[0] for e in entries)) + texts


WRITERS = {"xpt": write_xpt, "sav": write_sav, "dta": write_dta}
