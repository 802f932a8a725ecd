"""The exports of a simulated trial code each concept one way (issue 21): the CSV tables (the CRFs,
eligibility, the analysis subjects file) and the ODM CodeLists and ItemData use the codes of the one
code list (patients.codelists), whatever form the value was entered on.

Expected codes written from protocol.md: CRF 6 primary site (stomach, pancreas, duodenum,
jejunum/ileum, appendix, colon/rectum; 'other' fails inclusion 4), WHO grade G1–G3; CRF 7 and
Eligibility margin R0, R1, R2 (debulking); Stratification: pancreas / other GEP, G1 / G2, R0 / R1.
"""

import csv
import io

import pytest
from django.core.management import call_command
from lxml import etree

from reports.dataset import export_dataset
from tests.support.built_once import outer_transaction

# One worker builds the export once for all of them (make test: pytest-xdist --dist loadgroup).
pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.xdist_group("export-codelists")]

PRIMARY_SITES = {"stomach", "pancreas", "duodenum", "jejunum_ileum", "appendix", "colon_rectum", "other"}
GRADES = {"G1", "G2", "G3"}
MARGINS = {"R0", "R1", "R2"}
NS = {"o": "http://www.cdisc.org/ns/odm/v1.3"}


def _column(folder, table: str, name: str) -> set[str]:
    rows = csv.DictReader(io.StringIO((folder / f"NOT-LOCKED-{table}.csv").read_text()))
    return {row[name] for row in rows} - {""}


@pytest.fixture(scope="module")
def exported(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once: every test here only reads it (tests/support/built_once.py)."""
    tmp_path = tmp_path_factory.mktemp("exported")
    with outer_transaction(django_db_blocker):
        with django_db_blocker.unblock():
            # 10 patients: the simulation's primary sites cycle through five, colon/rectum among them.
            call_command("simulate_trial", "--patients", "10", "--seed", "5", stdout=io.StringIO())
            export_dataset(formats=["csv", "odm"], out=tmp_path, allow_unlocked=True)
        yield tmp_path


def test_csv_exports_use_one_code_per_concept(exported):
    histopathology = _column(exported, "histopathology", "primary_site")
    eligibility = _column(exported, "eligibility", "primary_site")
    assert histopathology and eligibility
    assert histopathology <= PRIMARY_SITES and eligibility <= PRIMARY_SITES
    # The site the CRF and eligibility used to spell two ways is there, spelled once.
    assert "colon_rectum" in histopathology and "colon_rectum" in eligibility
    assert _column(exported, "histopathology", "who_grade") <= GRADES
    assert _column(exported, "eligibility", "who_grade") <= GRADES
    assert _column(exported, "liver_resection", "margin") <= MARGINS
    assert _column(exported, "eligibility", "resection_margin") <= MARGINS
    # The analysis file carries the strata: the factor levels, subsets of the same lists.
    assert _column(exported, "subjects", "primary_site") <= {"pancreas", "other"}
    assert _column(exported, "subjects", "who_grade") <= {"G1", "G2"}
    assert _column(exported, "subjects", "resection_margin") <= {"R0", "R1"}
    assert _column(exported, "subjects", "arm") <= {"A", "B"}


def test_the_data_dictionary_gives_each_concept_the_same_codes(exported):
    rows = list(csv.DictReader(io.StringIO((exported / "NOT-LOCKED-data_dictionary.csv").read_text())))
    assert rows
    by_column: dict[str, set[str]] = {}
    for row in rows:
        if row["code_list"]:
            codes = {part.split("=", 1)[0].strip() for part in row["code_list"].split(";")}
            by_column.setdefault(row["variable"], set()).add(frozenset(codes))
    assert by_column["primary_site"] >= {frozenset(PRIMARY_SITES)}
    assert frozenset({"colorectum"}) not in by_column["primary_site"]
    for codes in by_column["primary_site"]:
        assert codes in (frozenset(PRIMARY_SITES), frozenset({"pancreas", "other"})), codes


def test_odm_code_lists_and_item_data_use_one_code_per_concept(exported):
    tree = etree.parse(str(exported / "NOT-LOCKED-nelmas-odm.xml"))
    code_lists = {
        cl.get("OID"): [item.get("CodedValue") for item in cl.findall("o:CodeListItem", NS)]
        for cl in tree.findall(".//o:CodeList", NS)
    }
    refs = {
        item.get("OID"): item.find("o:CodeListRef", NS).get("CodeListOID")
        for item in tree.findall(".//o:ItemDef", NS)
        if item.find("o:CodeListRef", NS) is not None
    }
    by_name: dict[str, set[tuple[str, ...]]] = {}
    for item_oid, list_oid in refs.items():
        by_name.setdefault(item_oid.rsplit(".", 1)[1], set()).add(tuple(code_lists[list_oid]))
    assert by_name["primary_site"] == {
        ("stomach", "pancreas", "duodenum", "jejunum_ileum", "appendix", "colon_rectum", "other")
    }
    # The subject record (issue 25's ODM archive) carries the patient's stratum grade, whose code
    # list is the declared stratum subset of the one WHO grade list (protocol: G3 is not eligible):
    # the same codes, fewer of them. Every other who_grade item carries the whole list.
    stratum_items = {oid for oid in refs if oid.rsplit(".", 1)[1] == "who_grade" and ".subject." in f".{oid}."}
    assert stratum_items, sorted(refs)
    assert {tuple(code_lists[refs[oid]]) for oid in stratum_items} == {("G1", "G2")}
    assert {
        tuple(code_lists[list_oid])
        for oid, list_oid in refs.items()
        if oid.rsplit(".", 1)[1] == "who_grade" and oid not in stratum_items
    } == {("G1", "G2", "G3")}
    assert by_name["margin"] == {("R0", "R1", "R2")}
    values: dict[str, set[str]] = {}
    for data in tree.findall(".//o:ItemData", NS):
        values.setdefault(data.get("ItemOID").rsplit(".", 1)[1], set()).add(data.get("Value"))
    assert "colon_rectum" in values["primary_site"] and values["primary_site"] <= PRIMARY_SITES
    assert values["who_grade"] <= GRADES and values["margin"] <= MARGINS
