"""The streamed exports: a fixed number of SQL queries whatever the number of patients, the ODM
written subject by subject equal to pretty-printing the whole document (and valid), the fast
per-column formatters equal to plain() and csv_safe() they replace, and the ODM's hand-written
XML escaping equal to lxml's."""

import datetime as dt
import re
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree

from core.exports import csv_safe
from crf import services as crf
from crf.registry import FORMS
from reports.dataset import Column, Table, cell_formatter, export_dataset, plain, plain_formatter, write_csv_table
from reports.odm import _iso, validate_odm, xml_attr, xml_text
from tests.crf.factories import scheduled_patient

KINDS = ("text", "integer", "float", "date", "datetime", "time", "boolean")
VALUES = [
    None,
    "",
    "plain text",
    "=SUM(A1)",
    "+1",
    "-2",
    "@x",
    "\tx",
    "\rx",
    "Fish & <chips> \"'",
    0,
    7,
    -3,
    True,
    False,
    Decimal("1.50"),
    Decimal("-2.000"),
    Decimal("0E-3"),
    Decimal("12.345"),
    dt.date(2026, 2, 3),
    dt.time(9, 5, 1),
    dt.datetime(2026, 2, 3, 1, 2, 3, 999, tzinfo=zoneinfo.ZoneInfo("Europe/Amsterdam")),
    dt.datetime(2026, 2, 3, 1, 2, 3, tzinfo=dt.UTC),
    dt.datetime(2026, 2, 3, 1, 2, 3, 999999, tzinfo=dt.UTC),
    dt.datetime(999, 2, 3, 1, 2, 3, tzinfo=dt.UTC),
    dt.datetime(2026, 2, 3, 1, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
]


@pytest.mark.parametrize("kind", KINDS)
def test_formatters_equal_plain_and_csv_safe_numbers_kept(kind):
    for value in VALUES:
        try:
            expected = plain(value, kind)
        except (AttributeError, TypeError, ValueError):
            continue  # a value plain() cannot show for this kind is not one the database gives
        assert plain_formatter(kind)(value) == expected, (kind, value)
        # Numbers in numeric columns stay numbers ("-3"); everything else is neutralised as text.
        number = kind in ("integer", "float") and re.fullmatch(r"-?\d+(\.\d+)?", expected)
        assert cell_formatter(kind)(value) == (expected if number else csv_safe(expected)), (kind, value)


AWKWARD = [
    "",
    "plain",
    "Fish & <chips> \"quoted\" 'single'",
    "tab\there, line\nfeed, carriage\rreturn, both\r\n",
    "]]> not a CDATA end",
    "é€😀 \u2028 \ufeff \x7f\x85",
    "  leading and trailing  ",
    "&amp; already escaped &#13;",
    "nul\x00",
    "bell\x07",
    "form feed\x0c",
    "\ufffe",
    "\uffff",
    "surrogate \ud800",
]


def _lxml_attr(value):
    written = etree.tostring(etree.Element("E", A=value), encoding="UTF-8").decode()
    assert written.startswith('<E A="') and written.endswith('"/>')
    return written[len('<E A="') : -len('"/>')]


def _lxml_text(value):
    element = etree.Element("E")
    element.text = value
    written = etree.tostring(element, encoding="UTF-8").decode()
    assert written.startswith("<E>") and written.endswith("</E>")
    return written[len("<E>") : -len("</E>")]


def _same_as_lxml(ours, theirs, value):
    try:
        expected = theirs(value)
    except ValueError:  # lxml refuses characters XML cannot hold (and lone surrogates)
        with pytest.raises(ValueError):
            ours(value)
        return
    assert ours(value) == expected, value


# Any character (lone surrogates included), often one of those that need escaping or are refused.
TEXT = st.text(st.one_of(st.characters(exclude_categories=()), st.sampled_from("&<>\"'\t\n\r]\x00\x1f\ufffe")))


@given(TEXT)
@example('\r\n\t"&<>]]>')
def test_attribute_escaping_is_lxmls(value):
    _same_as_lxml(xml_attr, _lxml_attr, value)


@given(TEXT)
@example('\r\n\t"&<>]]>')
def test_text_escaping_is_lxmls(value):
    _same_as_lxml(xml_text, _lxml_text, value)


@pytest.mark.parametrize("value", AWKWARD)
def test_escaping_of_awkward_strings_is_lxmls(value):
    _same_as_lxml(xml_attr, _lxml_attr, value)
    _same_as_lxml(xml_text, _lxml_text, value)


def test_odm_timestamps_are_utc_seconds():
    for value in VALUES:
        if isinstance(value, dt.datetime):
            assert _iso(value) == value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"), value


class _Rows(list):
    """Rows standing in for a query: what write_csv_table iterates."""

    def iterator(self, chunk_size):
        return iter(self)


def test_csv_numeric_columns_hold_plain_negative_numbers_and_text_is_neutralised(tmp_path):
    """Analysts read these files with R, SAS or Stata: a negative number must stay a number. Only
    text cells starting like a formula (= + - @) are neutralised with a quote (OWASP CSV injection)."""
    assert cell_formatter("integer")(-3) == "-3"
    assert cell_formatter("float")(Decimal("-0.5")) == "-0.5"
    assert cell_formatter("float")(Decimal("-2.000")) == "-2"
    assert cell_formatter("text")("-3") == "'-3"
    assert cell_formatter("text")("=1+2") == "'=1+2"
    columns = [Column("name", "Name", "text"), Column("change", "Change", "float"), Column("n", "N", "integer")]
    rows = _Rows([("-1", Decimal("-0.50"), -3), ("@x", Decimal("1.25"), 4), ("+44", None, None)])
    write_csv_table(Table("t", "T", columns, rows), tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == "name,change,n\n'-1,-0.50,-3\n'@x,1.25,4\n'+44,,\n"


def _add_patients(world, count, start):
    for n in range(count):
        patient = scheduled_patient(world.site_a if n % 2 else world.site_b)
        nurse = world.nurse_a if n % 2 else world.nurse_b
        for entry in range(2):
            crf.crf_save(
                model=FORMS["con_med"],
                visit=patient.visits.get(code="LOG"),
                data={"drug": f"Drug {start + n}.{entry} & <co>\n2nd line", "indication": "-1", "dose": "@5"},
                actor=nurse,
            )


def _export(tmp_path, name):
    out = tmp_path / name
    with CaptureQueriesContext(connection) as ctx:
        manifest = export_dataset(formats=["csv", "odm"], out=out, allow_unlocked=True)
    return out, manifest, len(ctx.captured_queries)


def _is_whole_tree_pretty_print(path):
    """Parsing without the layout and pretty-printing the whole document gives the file's bytes."""
    tree = etree.parse(str(path), etree.XMLParser(remove_blank_text=True))
    whole = etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return whole == path.read_bytes()


@pytest.mark.django_db
def test_export_queries_do_not_grow_with_patients_and_odm_streams_as_one_document(world, tmp_path):
    out, manifest, none = _export(tmp_path, "empty")
    assert manifest["tables"]["patients"] == 0
    validate_odm(out / "NOT-LOCKED-nelmas-odm.xml")
    assert _is_whole_tree_pretty_print(out / "NOT-LOCKED-nelmas-odm.xml")  # an empty ClinicalData

    _add_patients(world, 2, 0)
    out, manifest, few = _export(tmp_path, "few")
    assert manifest["tables"]["patients"] == 2 and manifest["tables"]["con_med"] == 4
    _add_patients(world, 5, 2)
    out, manifest, more = _export(tmp_path, "more")
    assert manifest["tables"]["patients"] == 7 and manifest["tables"]["con_med"] == 14
    assert few == more  # with no patients at all the per-form queries of the ODM are not run
    assert none < few

    odm = out / "NOT-LOCKED-nelmas-odm.xml"
    validate_odm(odm)
    assert _is_whole_tree_pretty_print(odm)
    ns = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
    tree = etree.parse(str(odm))
    assert len(tree.findall(".//o:SubjectData", ns)) == 7
    # The archive's audit trail is per value (ODM 1.3.2 Transactional): each drug entered once, so
    # one Insert with its AuditRecord per con med form.
    drug_audits = tree.findall(".//o:ItemData[@ItemOID='I.con_med.drug']/o:AuditRecord", ns)
    assert len(drug_audits) == 14
    assert {a.getparent().get("TransactionType") for a in drug_audits} == {"Insert"}
    drugs = tree.xpath(".//o:ItemData[@ItemOID='I.con_med.drug']/@Value", namespaces=ns)
    assert "Drug 6.1 & <co>\n2nd line" in drugs
    text = (out / "NOT-LOCKED-con_med.csv").read_text()
    assert '"Drug 6.1 & <co>\n2nd line"' in text and ",'-1,'@5" in text


@pytest.mark.django_db
def test_odm_written_by_hand_is_lxmls_for_awkward_text(world, tmp_path):
    """Values and reasons for change that need escaping come out as lxml writes them: re-serialising
    the whole parsed document with lxml gives the same bytes, and they read back unchanged."""
    patient = scheduled_patient(world.site_a)
    model = FORMS["con_med"]
    visit = patient.visits.get(code="LOG")
    for drug in AWKWARD[2:8]:
        # The awkward reason is written with the history row itself: the audit tables refuse a
        # later UPDATE (core/append_only.py), which is how this test used to set it.
        form = model(patient=patient, visit=visit, drug=drug, indication="x", dose="1")
        form._change_reason, form._history_user = drug, world.nurse_a
        form.save()
    stored = list(model.objects.filter(patient=patient).order_by("pk").values_list("drug", flat=True))
    assert len(stored) == 6 and any("\r" in d for d in stored) and any('"' in d for d in stored)

    out, _manifest, _queries = _export(tmp_path, "awkward")
    odm = out / "NOT-LOCKED-nelmas-odm.xml"
    validate_odm(odm)
    assert _is_whole_tree_pretty_print(odm)
    ns = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
    tree = etree.parse(str(odm))
    assert tree.xpath(".//o:ItemData[@ItemOID='I.con_med.drug']/@Value", namespaces=ns) == stored
    reasons = [
        r.text for r in tree.findall(".//o:ItemData[@ItemOID='I.con_med.drug']/o:AuditRecord/o:ReasonForChange", ns)
    ]
    # An XML parser reads a written carriage return (&#13;) back; a raw one would become a line feed.
    assert reasons == [d for d in stored if d.strip()]
