"""The streaming SAS, SPSS and Stata writers (reports.statfiles) read back by pyreadstat and pandas.

Expected values are written here by hand from the specifications, not from what the writers print:
- IBM System/370 doubles (SAS TS-140, "numbers are stored in IBM mainframe floating point"):
  1.0 = 41 10 00 00 00 00 00 00 (16^1 × 1/16); -118.625 = C2 76 A0 00 … (the classic example:
  -(7×16 + 6 + 10/16) = -0x76.A → exponent 64+2 = 0x42, sign set); 0.1 = 40 19 99 99 99 99 99 9A
  (IEEE's 53-bit mantissa of 0.1, 0x1999999999999A, unchanged); SAS missing "." = 2E 00 … .
- SAS and Stata dates count days from 1 January 1960 (31 December 1959 is -1); SPSS dates count
  seconds from 14 October 1582.
- XPT v5 character values hold at most 200 bytes (TS-140); the export cuts longer UTF-8 text at a
  character boundary, so 200 bytes of "é" stay whole and one more byte drops the last "é".
- Missing-data codes (reports.missing's documented table): not entered -991/.a/.A, visit missed
  -993/.c/.C, not applicable -994/.d/.D (SPSS / Stata / SAS).
"""

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from crf import services as crf
from crf.dictionary import Column
from crf.models import Demographics
from reports import dataset, statfiles
from reports.dataset import Table, collect, write_stat_table
from tests.crf.factories import scheduled_patient

WHEN = dt.datetime(2026, 11, 24, 16, 30, 1, tzinfo=dt.UTC)

CONTEXT = [
    Column("trial_number", "Trial number", "text"),
    Column("site", "Site", "text"),
    Column("visit", "Visit", "text"),
    Column("entry", "Entry of a repeating form", "integer"),
    Column("form_status", "Form status", "text"),
    Column("form_version", "Form version", "integer"),
    Column("missing_reason", "Reason data missing", "text"),
    Column("not_applicable_why", "Why not applicable", "text"),
]
FIELDS = [
    Column("weight_kg", "Weight", "float"),
    Column("sex", "Sex", "text", codes=(("F", "Female"), ("M", "Male"))),
    Column("smoker", "Smoker", "boolean"),
    Column("visit_date", "Date of visit", "date"),
    Column("entered_at", "Entered at", "datetime"),
    Column("notes", "Notes", "text"),
    Column("never", "Never filled in", "float"),
]
# One row per case, in the order the database would give them (context columns, then fields).
ROWS = [
    ("N-001", "GB01", "RAND", None, "complete", 1, "", "", Decimal("-2.5"), "F", True, dt.date(1959, 12, 31),
     dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "é" * 100, None),
    ("N-002", "GB01", "RAND", None, "complete", 1, "", "", Decimal("0.1"), "M", False, dt.date(1900, 3, 1),
     None, "a" + "é" * 100, None),
    ("N-003", "GB02", "RAND", None, "incomplete", 2, "", "", None, "", None, None,
     dt.datetime(1959, 12, 31, 23, 59, 59, tzinfo=dt.UTC), "", None),
]  # fmt: skip


def _table(rows, name="demographics"):
    return Table(name, "Demographics", CONTEXT + FIELDS, None, lambda: iter(rows))


def _export(tmp_path, rows, name="demographics", formats=("xpt", "sav", "dta")):
    table = _table(rows, name)
    names = {
        table.name: (
            "DEMOGRAP",
            ["TRIALNUM", "SITE", "VISIT", "ENTRY", "FORMSTAT", "FORMVERS", "MISSREAS", "NAWHY", "WEIGHTKG", "SEX",
             "SMOKER", "VISITDAT",
             "ENTERED", "NOTES", "NEVER"],
            [c.name for c in table.columns],
        )
    }  # fmt: skip
    paths, count = write_stat_table(table, tmp_path, list(formats), WHEN, "NOT-LOCKED-", names)
    return {p.suffix[1:]: p for p in paths}, count


def test_ibm_doubles_match_the_hand_encoded_vectors():
    out = statfiles.ibm_doubles(np.array([1.0, -118.625, 0.1, 0.0, np.nan]))
    assert [bytes(r).hex() for r in out] == [
        "4110000000000000",
        "c276a00000000000",
        "401999999999999a",
        "0000000000000000",
        "2e00000000000000",
    ]


@pytest.mark.parametrize("chunk", [2, 3, 1000])
def test_values_types_dates_and_text_read_back_equal_across_chunk_boundaries(tmp_path, monkeypatch, chunk):
    # Chunks of 2 rows: the 3 rows span two chunks, the last one partial; of 3: exactly one full chunk.
    monkeypatch.setattr(dataset, "CHUNK", chunk)
    files, count = _export(tmp_path, ROWS)
    assert count == 3
    sav, sav_meta = pyreadstat.read_sav(str(files["sav"]))
    dta, dta_meta = pyreadstat.read_dta(str(files["dta"]))
    xpt, xpt_meta = pyreadstat.read_xport(str(files["xpt"]))
    assert list(sav["weight_kg"].iloc[:2]) == [-2.5, 0.1] and np.isnan(sav["weight_kg"].iloc[2])
    assert list(dta["weight_kg"].iloc[:2]) == [-2.5, 0.1] and np.isnan(dta["weight_kg"].iloc[2])
    assert list(xpt["WEIGHTKG"].iloc[:2]) == [-2.5, 0.1] and np.isnan(xpt["WEIGHTKG"].iloc[2])
    for frame, column in ((sav, "visit_date"), (dta, "visit_date"), (xpt, "VISITDAT")):
        assert list(frame[column].iloc[:2]) == [dt.date(1959, 12, 31), dt.date(1900, 3, 1)], column
    for frame, column in ((sav, "entered_at"), (dta, "entered_at"), (xpt, "ENTERED")):
        assert frame[column].iloc[0] == dt.datetime(2026, 1, 2, 3, 4, 5), column
        assert frame[column].iloc[2] == dt.datetime(1959, 12, 31, 23, 59, 59), column
    # Whole text in SPSS and Stata; XPT keeps 200 bytes, cut at a character boundary.
    assert list(sav["notes"]) == ["é" * 100, "a" + "é" * 100, ""]
    assert list(dta["notes"]) == ["é" * 100, "a" + "é" * 100, ""]
    xpt_text = pd.read_sas(str(files["xpt"]), format="xport", encoding="utf-8")
    assert list(xpt_text["NOTES"].fillna("")) == ["é" * 100, "a" + "é" * 99, ""]
    assert list(xpt_text["TRIALNUM"]) == ["N-001", "N-002", "N-003"]
    # Stata holds the coded text as labelled numbers, SPSS as labelled text.
    assert list(dta["sex"].iloc[:2]) == [1, 2]
    # A scheduled form's field may stand for any of the form's codes (reports.missing), each labelled.
    assert dta_meta.variable_value_labels["sex"] == {
        1: "Female",
        2: "Male",
        "a": "Not entered",
        "b": "Not done (reason recorded)",
        "c": "Visit missed (reason recorded)",
        "d": "Not applicable (arm, sex, consent or withdrawal)",
    }
    assert list(sav["sex"]) == ["F", "M", ""] and sav_meta.variable_value_labels["sex"] == {"F": "Female", "M": "Male"}
    assert list(sav["smoker"].iloc[:2]) == [1, 0] and sav_meta.variable_value_labels["smoker"][1] == "Yes"
    # Formats, labels, the file label with the not-locked prefix.
    assert xpt_meta.original_variable_types["VISITDAT"] == "DATE9"
    assert xpt_meta.original_variable_types["ENTERED"] == "DATETIME20"
    assert sav_meta.original_variable_types["visit_date"] == "DATE11"
    assert sav_meta.original_variable_types["entered_at"] == "DATETIME20"
    assert dta_meta.original_variable_types["visit_date"] == "%td"
    assert dta_meta.original_variable_types["entered_at"] == "%tc"
    assert sav_meta.column_names_to_labels["entered_at"] == "Entered at (UTC)"
    assert xpt_meta.column_names_to_labels["WEIGHTKG"] == "Weight"
    for meta in (sav_meta, dta_meta, xpt_meta):
        assert meta.file_label == "NOT-LOCKED-Demographics"
        assert meta.number_rows == 3


def test_an_all_missing_column_and_the_not_entered_code(tmp_path):
    files, _count = _export(tmp_path, ROWS)
    sav, meta = pyreadstat.read_sav(str(files["sav"]), user_missing=True)
    assert list(sav["never"]) == [-991, -991, -991]  # a form's field left empty: not entered
    assert list(sav["weight_kg"])[2] == -991
    assert meta.missing_ranges["never"] == [{"lo": -995.0, "hi": -991.0}]
    assert meta.variable_value_labels["never"][-991] == "Not entered"
    dta, meta = pyreadstat.read_dta(str(files["dta"]), user_missing=True)
    assert list(dta["never"]) == ["a", "a", "a"]
    assert dta["sex"].iloc[2] == "a"  # coded text left empty: .a, labelled
    assert meta.variable_value_labels["sex"]["a"] == "Not entered"
    xpt, _meta = pyreadstat.read_xport(str(files["xpt"]))
    assert xpt["NEVER"].isna().all()


VISIT_COLUMNS = [
    Column("trial_number", "Trial number", "text"),
    Column("done_on", "Date done", "date"),
    Column("visit_status", "Visit status", "text"),
    Column("missed_reason", "Reason missed", "text"),
    Column("not_applicable_reason", "Why not applicable", "text"),
]


def _export_visits(tmp_path, done_on, formats):
    """A visits table of a visit done on ``done_on``, then one missed, one not entered and one not
    applicable (reports.missing codes them by visit_status)."""
    rows = [
        ("N-001", done_on, "done", "", ""),
        ("N-001", None, "missed", "In hospital", ""),
        ("N-001", None, "not_done_yet", "", ""),
        ("N-001", None, "not_applicable", "", "Arm A"),
    ]
    table = Table("visits", "Visits", VISIT_COLUMNS, None, lambda: iter(rows))
    short = ["TRIALNUM", "DONEON", "VISITSTA", "MISSEDRE", "NOTAPPLI"]
    mapping = {"visits": ("VISITS", short, [c.name for c in VISIT_COLUMNS])}
    return {p.suffix[1:]: p for p in write_stat_table(table, tmp_path, formats, WHEN, "", mapping)[0]}


def test_visit_missed_and_not_entered_are_told_apart_by_the_row(tmp_path):
    """reports.missing: a visit with no date is missed (reason), not applicable or not entered."""
    files = _export_visits(tmp_path, dt.date(2026, 3, 1), ["sav", "dta"])
    sav, _meta = pyreadstat.read_sav(str(files["sav"]), user_missing=True, disable_datetime_conversion=True)
    assert list(sav["done_on"])[1:] == [-993, -991, -994]
    dta, _meta = pyreadstat.read_dta(str(files["dta"]), user_missing=True)
    assert list(dta["done_on"])[1:] == ["c", "a", "d"]
    assert dta["done_on"].iloc[0] == dt.date(2026, 3, 1)


def _xpt_numbers(path, name):
    """The 8 raw bytes of variable ``name`` in each observation, read by TS-140's layout: 140-byte
    NAMESTR records (type, length, name at byte 8, position at byte 84), then the OBS header record,
    then the observations, each the sum of the variables' lengths (no observation here ends in blanks)."""
    data = path.read_bytes()
    start = data.index(b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!")
    count = int(data[start + 54 : start + 58])
    namestrs = [data[start + 80 + 140 * i : start + 80 + 140 * (i + 1)] for i in range(count)]
    lengths = [int.from_bytes(n[4:6], "big") for n in namestrs]
    names = [n[8:16].decode("ascii").strip() for n in namestrs]
    positions = [int.from_bytes(n[84:88], "big") for n in namestrs]
    obs = data.index(b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!") + 80
    size, at = sum(lengths), positions[names.index(name)]
    # The file ends padded with blanks to 80 bytes: a whole observation of blanks is padding.
    body = data[obs:].rstrip(b" ")
    rows = -(-len(body) // size)
    return [data[obs + r * size + at : obs + r * size + at + 8] for r in range(rows)]


def test_xpt_holds_the_codes_as_sas_special_missing_values(tmp_path):
    """SAS TS-140: a missing numeric value is its missing character (".", "A"-"Z", "_") in the
    first byte and zeros in the other seven; NE/ND/VM/NA/UNK are .A/.B/.C/.D/.E (reports.missing's
    table). Readers that do not ask for special missing values read them as missing (NaN)."""
    (path,) = _export_visits(tmp_path, dt.date(1960, 1, 2), ["xpt"]).values()
    assert _xpt_numbers(path, "DONEON") == [
        bytes.fromhex("4110000000000000"),  # 2 Jan 1960 = day 1 = IBM 1.0
        b"C" + b"\0" * 7,  # visit missed: .C
        b"A" + b"\0" * 7,  # not entered: .A
        b"D" + b"\0" * 7,  # not applicable: .D
    ]
    frame = pd.read_sas(str(path), format="xport", encoding="utf-8")
    assert frame["DONEON"].isna().tolist() == [False, True, True, True]
    frame, _meta = pyreadstat.read_xport(str(path))
    assert frame["DONEON"].iloc[0] == dt.date(1960, 1, 2) and frame["DONEON"].iloc[1:].isna().all()
    # A form's numeric field left empty is .A (not entered) in every row.
    files, _count = _export(tmp_path, ROWS, formats=("xpt",))
    assert _xpt_numbers(files["xpt"], "NEVER") == [b"A" + b"\0" * 7] * 3
    assert _xpt_numbers(files["xpt"], "WEIGHTKG")[2] == b"A" + b"\0" * 7


def test_an_empty_table_is_readable_and_keeps_its_columns(tmp_path):
    files, count = _export(tmp_path, [])
    assert count == 0
    for reader, path in ((pyreadstat.read_sav, files["sav"]), (pyreadstat.read_dta, files["dta"])):
        frame, _meta = reader(str(path))
        assert len(frame) == 0 and "weight_kg" in frame.columns, path.name
    frame, _meta = pyreadstat.read_xport(str(files["xpt"]))
    assert len(frame) == 0 and "WEIGHTKG" in frame.columns
    # pandas.read_sas raises StopIteration for any XPT without observations (its XportReader.read):
    # its reader opens the file and names the columns.
    with pd.read_sas(str(files["xpt"]), format="xport", encoding="utf-8", iterator=True) as reader:
        assert reader.nobs == 0 and "WEIGHTKG" in list(reader.columns)


def test_long_text_becomes_an_spss_very_long_string_and_a_stata_strl(tmp_path):
    text = "x" * 300 + "é" * 1200  # 2700 bytes: over SPSS's 255-byte segments and Stata's str2045
    rows = [(*ROWS[0][:13], text, None), ROWS[1]]
    files, _count = _export(tmp_path, rows, formats=("sav", "dta"))
    sav, _meta = pyreadstat.read_sav(str(files["sav"]))
    dta, _meta = pyreadstat.read_dta(str(files["dta"]))
    assert list(sav["notes"]) == [text, "a" + "é" * 100]
    assert list(dta["notes"]) == [text, "a" + "é" * 100]


def test_the_same_rows_give_the_same_bytes(tmp_path):
    first, second = tmp_path / "1", tmp_path / "2"
    first.mkdir()
    second.mkdir()
    a, _ = _export(first, ROWS)
    b, _ = _export(second, ROWS)
    assert all(a[fmt].read_bytes() == b[fmt].read_bytes() for fmt in a)
    assert b"24NOV26:16:30:01" in a["xpt"].read_bytes()[:400]
    assert b"24 Nov 2616:30:01" in a["sav"].read_bytes()[:200]
    assert b"24 Nov 2026 16:30" in a["dta"].read_bytes()[:300]


@pytest.mark.django_db
def test_every_table_read_by_columns_equals_djangos_own_rows(world, monkeypatch):
    """Table.iter_chunks (the cursor read by columns) gives exactly the rows Django's values_list
    iteration gives, in the same column order, across chunk boundaries (annotations such as the
    entry number sit between fields)."""
    for _ in range(3):
        patient = scheduled_patient(world.site_a)
        crf.crf_save(
            model=Demographics,
            visit=patient.visits.get(code="RAND"),
            data={"height_cm": Decimal("170.5")},
            actor=world.nurse_a,
        )
    monkeypatch.setattr(dataset, "CHUNK", 2)  # 3 patients: a table's rows span a full and a partial chunk
    checked = 0
    by_columns = {}
    for table in collect(lock=None):
        if table.query is None:
            continue
        # A table with a source of its own (rows standing for absent forms merged in, reports.missing)
        # is read row by row from it; the others from the cursor by columns.
        expected = list(table.iter_rows())
        got = [row for columns in table.iter_chunks() for row in zip(*columns, strict=True)]
        assert got == expected, table.name
        checked += len(expected)
        if table.source is None:
            by_columns[table.name] = len(expected)
    assert checked > 8
    assert by_columns.get("patients", 0) >= 3 and sum(by_columns.values()) > 4, by_columns


@pytest.mark.parametrize(
    ("stored", "text"),
    [
        # crf.dictionary.plain: an integral number without decimals, others as stored, never an exponent.
        ("170.00", "170"),
        ("170.50", "170.50"),
        ("-2.5", "-2.5"),
        ("100", "100"),
        ("-0.00", "-0"),
        ("0.0000001", "0.0000001"),
        ("1E+2", "100"),
        ("1.000", "1"),
        ("0.10", "0.10"),
        ("-12.05", "-12.05"),
    ],
)
def test_the_csv_writes_a_decimal_as_plain_does(stored, text):
    assert dataset.column_formatter("float")([Decimal(stored)]) == [text]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # crf.dictionary.plain: a datetime in UTC, to the second, with a Z; missing is an empty cell.
        (dt.datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=dt.UTC), "2026-03-04T05:06:07Z"),
        (dt.datetime(2026, 3, 4, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))), "2026-03-03T23:30:00Z"),
        (dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.UTC), "2026-12-31T23:59:59Z"),
        (None, ""),
    ],
)
def test_the_csv_writes_a_datetime_as_plain_does(value, text):
    assert dataset.column_formatter("datetime")([value]) == [text]


def test_an_spss_string_wider_than_8_bytes_declares_unknown_missing_under_its_long_name(tmp_path):
    """PSPP's system-file format: a string variable wider than 8 bytes keeps its discrete missing
    values in the long string missing values record (record 7, subtype 22), each 8 bytes; a value
    recorded as "unknown" (reports.missing: UNK) is one of them, found by the variable's long name."""
    columns = [
        Column("trial_number", "Trial number", "text"),
        Column(
            "outcome_of_the_adverse_event",
            "Outcome",
            "text",
            codes=(("recovered_with_sequelae", "Recovered with sequelae"), ("unknown", "Unknown")),
        ),
    ]
    rows = [("N-001", "recovered_with_sequelae"), ("N-002", "unknown")]
    table = Table("adverse_events", "Adverse events", columns, None, lambda: iter(rows))
    mapping = {"adverse_events": ("AES", ["TRIALNUM", "OUTCOME"], [c.name for c in columns])}
    (path,), _count = write_stat_table(table, tmp_path, ["sav"], WHEN, "", mapping)
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    assert meta.missing_ranges == {"outcome_of_the_adverse_event": [{"lo": "unknown", "hi": "unknown"}]}
    assert list(frame["outcome_of_the_adverse_event"]) == ["recovered_with_sequelae", "unknown"]
    assert meta.variable_value_labels["outcome_of_the_adverse_event"]["unknown"] == "Unknown"
    assert b"recovered_with_sequelae" in path.read_bytes()  # the value is written whole (23 bytes)
