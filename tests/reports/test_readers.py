"""The R, SAS and Stata reader programs shipped with the CSV export (issue 25, build 6: "an R script and
a SAS/Stata program that read the CSVs with types and labels") agree with the data dictionary, read
from the dictionary file here, column by column. R, SAS and Stata are not installed on the build
machine: these tests check the programs' text, they do not run them."""

import csv
import io
import re

import pytest

from crf import services as crf
from crf.models import Demographics
from reports.dataset import export_dataset
from tests.crf.factories import scheduled_patient

pytestmark = [pytest.mark.django_db, pytest.mark.requirement("URS-EXP-002")]

R_CLASS = {"text": "character", "integer": "integer", "float": "numeric", "boolean": "integer"}


@pytest.fixture
def export(world, tmp_path):
    patient = scheduled_patient(world.site_a, sex="F")
    crf.crf_save(
        model=Demographics, visit=patient.visits.get(code="RAND"), data={"height_cm": 170}, actor=world.nurse_a
    )
    export_dataset(formats=["csv"], out=tmp_path, allow_unlocked=True)
    dictionary = list(csv.DictReader(io.StringIO((tmp_path / "NOT-LOCKED-data_dictionary.csv").read_text())))
    tables: dict[str, list[dict]] = {}
    for row in dictionary:
        tables.setdefault(row["dataset"], []).append(row)
    return tmp_path, tables


def _blocks(text: str, marker: str) -> dict[str, str]:
    """The program's text per table, split at its ``<marker> <table>:`` comments."""
    parts = re.split(rf"^{re.escape(marker)} ([a-z0-9_]+): .*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_the_three_programs_come_with_the_csv_and_cover_every_table(export):
    out, tables = export
    for name in ("read_nelmas.R", "read_nelmas.sas", "read_nelmas.do"):
        text = (out / f"NOT-LOCKED-{name}").read_text()
        for table in tables:
            assert f"NOT-LOCKED-{table}.csv" in text, (name, table)
            assert (out / f"NOT-LOCKED-{table}.csv").exists()


def test_r_script_types_labels_and_value_labels_are_the_dictionarys(export):
    out, tables = export
    blocks = _blocks((out / "NOT-LOCKED-read_nelmas.R").read_text(), "#")
    assert set(blocks) == set(tables)
    for table, rows in tables.items():
        block = blocks[table]
        classes = re.search(r"colClasses = c\((.*?)\),\n", block).group(1)
        assert re.findall(r'"([^"]+)" = "', classes) == [r["variable"] for r in rows], table
        for row in rows:
            ref = f'd[["{row["variable"]}"]]'
            expected_class = R_CLASS.get(row["type"], "character")
            assert f'"{row["variable"]}" = "{expected_class}"' in classes
            label = row["label"].replace('"', '\\"')
            assert f'attr({ref}, "label") <- "{label}"' in block, (table, row["variable"])
            if row["type"] == "date":
                assert f"{ref} <- as.Date({ref})" in block
            if row["type"] == "datetime":
                assert f'{ref} <- as.POSIXct({ref}, format = "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")' in block
            if row["code_list"]:  # "v=label; v=label" (a label may itself hold "; ")
                factor = re.search(re.escape(f"{ref} <- factor({ref}, levels = c(") + r"(.*?)\), labels", block)
                levels = re.findall(r'"((?:[^"\\]|\\.)*)"', factor.group(1))
                assert levels, (table, row["variable"])
                position = 0
                for level in levels:  # each level is a code of the dictionary's list, in its order
                    found = row["code_list"].find(f"{level}=", position)
                    assert found == 0 or row["code_list"][found - 2 : found] == "; ", (table, row["variable"], level)
                    position = found + len(level) + 1
                assert row["code_list"].count("=") >= len(levels)


def test_sas_program_reads_every_column_with_its_informat_format_and_label(export):
    out, tables = export
    blocks = _blocks((out / "NOT-LOCKED-read_nelmas.sas").read_text(), "/*")
    for table, rows in tables.items():
        block = blocks[table]
        inputs = re.search(r"^  input (.*);$", block, flags=re.M).group(1).replace(" $", "").split()
        names = [r["stata_variable"] for r in rows]
        assert inputs == names, table
        for row, name in zip(rows, names, strict=True):
            label = row["label"][:256].replace("'", "''")
            assert f"{name} = '{label}'" in block, (table, name)
            if row["type"] == "date":
                assert f"{name} yymmdd10." in block and f"{name} date9." in block
            if row["type"] == "datetime":
                assert f"{name} e8601dz20." in block and f"{name} datetime20." in block


def test_stata_do_file_renames_converts_and_labels_as_the_dictionary_says(export):
    out, tables = export
    blocks = _blocks((out / "NOT-LOCKED-read_nelmas.do").read_text(), "*")
    for table, rows in tables.items():
        block = blocks[table]
        for index, row in enumerate(rows, start=1):
            name = row["stata_variable"]
            assert f"rename v{index} {name}\n" in block, (table, name)
            assert f'label variable {name} `"{row["label"][:80].replace(chr(34), chr(39))}"\'' in block
            if row["type"] == "date":
                assert f'generate double _t = date({name}, "YMD")' in block
            if row["type"] in ("integer", "float", "boolean"):
                assert f"destring {name}, replace" in block
            if row["stata_codes"]:  # "1=F; 2=M": the numbers the Stata files use too
                for pair in row["stata_codes"].split("; "):
                    number, value = pair.split("=", 1)
                    assert f'replace _t = {number} if {name} == `"{value}"\'' in block, (table, name)
