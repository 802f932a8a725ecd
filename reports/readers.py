"""Reader programs shipped with the CSV export: an R script, a SAS program and a Stata do-file that
read every CSV of the export with its types, variable labels and value labels, generated from the
same tables and columns as the data dictionary (one source: reports.dataset.Table/Column and the
name mapping stat_names/dta_codes), so they cannot disagree with it.

Written by hand: no library generates R/SAS/Stata readers from a dictionary. The programs carry no
timestamp, so a lock's export stays byte-identical. They are checked for consistency with the
dictionary in the tests; R, SAS and Stata are not installed on the build machine, so they are not
run there.

CSV conventions they rely on (reports.dataset): UTF-8, a header row, "" for a missing value, ISO
dates (YYYY-MM-DD), UTC datetimes (YYYY-MM-DDThh:mm:ssZ), booleans 1/0; a text cell starting like
a spreadsheet formula (= + - @) is prefixed with an apostrophe, which the programs remove again.
"""

from __future__ import annotations

from pathlib import Path

from .dataset import Table, dta_codes, stat_names

R_CLASSES = {
    "text": "character",
    "integer": "integer",
    "float": "numeric",
    "date": "character",
    "datetime": "character",
    "time": "character",
    "boolean": "integer",
}


def _r_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _sas_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _stata_string(text: str) -> str:
    return '`"' + text.replace('"', "'").replace("`", "'") + "\"'"


def r_script(tables: list[Table], prefix: str = "") -> str:
    out = [
        "# Reads the NELMAS dataset export (CSV) into R with types, labels and value labels.",
        "# Generated from the data dictionary (data_dictionary.csv); base R only.",
        "# Usage: setwd() to the export's folder, then source() this file: a list `nelmas` of data frames.",
        "",
        'nelmas_unformula <- function(x) sub("^\'([=+@-])", "\\\\1", x)',
        "nelmas <- list()",
    ]
    for table in tables:
        classes = ", ".join(f"{_r_string(c.name)} = {_r_string(R_CLASSES[c.kind])}" for c in table.columns)
        out += [
            "",
            f"# {table.name}: {table.label}",
            f"d <- read.csv({_r_string(prefix + table.name + '.csv')}, colClasses = c({classes}),",
            '              na.strings = "", fileEncoding = "UTF-8", check.names = FALSE)',
        ]
        for c in table.columns:
            ref = f"d[[{_r_string(c.name)}]]"
            if c.kind == "text":
                out.append(f"{ref} <- nelmas_unformula({ref})")
            if c.kind == "date":
                out.append(f"{ref} <- as.Date({ref})")
            elif c.kind == "datetime":
                out.append(f'{ref} <- as.POSIXct({ref}, format = "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")')
            elif c.kind == "boolean":
                out.append(f"{ref} <- as.logical({ref})")
            if c.codes:
                levels = ", ".join(_r_string(v) for v, _label in c.codes)
                labels = ", ".join(_r_string(label) for _v, label in c.codes)
                out.append(f"{ref} <- factor({ref}, levels = c({levels}), labels = c({labels}))")
            out.append(f'attr({ref}, "label") <- {_r_string(c.label)}')
        out.append(f"nelmas[[{_r_string(table.name)}]] <- d")
    out.append("rm(d)")
    return "\n".join(out) + "\n"


def _sas_format_name(t: int, c: int, text: bool) -> str:
    return f"{'$' if text else ''}T{t}C{c}F"


def sas_program(tables: list[Table], prefix: str = "") -> str:
    mapping = stat_names(tables)
    out = [
        "/* Reads the NELMAS dataset export (CSV) into SAS with types, labels and formats.",
        "   Generated from the data dictionary (data_dictionary.csv).",
        "   Usage: %let dir = the export's folder; then %include this file. Datasets go to WORK. */",
        "%let dir = .;",
        "proc format;",
        "  value yesno 0 = 'No' 1 = 'Yes';",
    ]
    for t, table in enumerate(tables, start=1):
        for c, column in enumerate(table.columns, start=1):
            if column.codes and column.kind in ("text", "integer"):
                text = column.kind == "text"
                pairs = " ".join(f"{_sas_string(v) if text else v} = {_sas_string(label)}" for v, label in column.codes)
                out.append(f"  value {_sas_format_name(t, c, text)} {pairs};")
    out.append("run;")
    for t, table in enumerate(tables, start=1):
        _dataset, _xpt, names = mapping[table.name]
        lengths, informats, formats, labels, inputs = [], [], [], [], []
        for c, (column, name) in enumerate(zip(table.columns, names, strict=True), start=1):
            if column.kind in ("text", "time"):
                lengths.append(f"{name} $ 32767")
                inputs.append(f"{name} $")
            else:
                lengths.append(f"{name} 8")
                inputs.append(name)
            if column.kind == "date":
                informats.append(f"{name} yymmdd10.")
                formats.append(f"{name} date9.")
            elif column.kind == "datetime":
                informats.append(f"{name} e8601dz20.")
                formats.append(f"{name} datetime20.")
            elif column.kind == "boolean":
                formats.append(f"{name} yesno.")
            if column.codes and column.kind in ("text", "integer"):
                formats.append(f"{name} {_sas_format_name(t, c, column.kind == 'text')}.")
            labels.append(f"{name} = {_sas_string(column.label[:256])}")
        out += [
            "",
            f"/* {table.name}: {table.label} */",
            f"data work.{table.name} (label = {_sas_string(table.label[:256])} compress = yes);",
            f'  infile "&dir/{prefix}{table.name}.csv" dsd firstobs = 2 truncover encoding = "utf-8" lrecl = 10000000;',
            "  length " + " ".join(lengths) + ";",
        ]
        if informats:
            out.append("  informat " + " ".join(informats) + ";")
        out.append("  input " + " ".join(inputs) + ";")
        for column, name in zip(table.columns, names, strict=True):
            if column.kind == "text":
                out.append(f"  if prxmatch('/^''[=+@-]/', {name}) then {name} = substr({name}, 2);")
        if formats:
            out.append("  format " + " ".join(formats) + ";")
        out.append("  label " + " ".join(labels) + ";")
        out.append("run;")
    return "\n".join(out) + "\n"


def stata_do(tables: list[Table], prefix: str = "") -> str:
    mapping = stat_names(tables)
    out = [
        "* Reads the NELMAS dataset export (CSV) into Stata (16 or later) with types, labels and value labels.",
        "* Generated from the data dictionary (data_dictionary.csv): coded text is encoded with the numbers",
        "* of its stata_codes column. Run from the export's folder; each table is saved as <table>_csv.dta.",
        "version 16",
        'label define yesno 0 `"No"\' 1 `"Yes"\', replace',
    ]
    for table in tables:
        _dataset, _xpt, names = mapping[table.name]
        out += [
            "",
            f"* {table.name}: {table.label}",
            f'import delimited using "{prefix}{table.name}.csv", clear varnames(nonames) rowrange(2) '
            'stringcols(_all) encoding("utf-8") bindquote(strict) maxquotedrows(unlimited)',
        ]
        for index, (column, name) in enumerate(zip(table.columns, names, strict=True), start=1):
            out.append(f"capture confirm variable v{index}")
            out.append(f'if _rc generate str1 v{index} = ""')
            out.append(f"rename v{index} {name}")
            if column.kind == "text":
                out.append(f'replace {name} = substr({name}, 2, .) if regexm({name}, "^\'[=+@-]")')
            if column.kind in ("integer", "float", "boolean"):
                out.append(f"destring {name}, replace")
            elif column.kind == "date":
                out += [
                    f'generate double _t = date({name}, "YMD")',
                    f"drop {name}",
                    f"rename _t {name}",
                    f"format {name} %td",
                ]
            elif column.kind == "datetime":
                out += [
                    f'generate double _t = clock(substr({name}, 1, 19), "YMD#hms")',
                    f"drop {name}",
                    f"rename _t {name}",
                    f"format {name} %tc",
                ]
            if column.kind == "boolean":
                out.append(f"label values {name} yesno")
            elif column.codes and column.kind == "text":
                codes = dta_codes(column)
                label_of = dict(column.codes)
                pairs = " ".join(f"{n} {_stata_string(label_of[v])}" for v, n in codes.items())
                out.append(f"label define {name} {pairs}, replace")
                out.append("generate long _t = .")
                for value, n in codes.items():
                    out.append(f"replace _t = {n} if {name} == {_stata_string(value)}")
                out += [f"drop {name}", f"rename _t {name}", f"label values {name} {name}"]
            elif column.codes and column.kind == "integer":
                pairs = " ".join(f"{v} {_stata_string(label)}" for v, label in column.codes)
                out.append(f"label define {name} {pairs}, replace")
                out.append(f"label values {name} {name}")
            out.append(f"label variable {name} {_stata_string(column.label[:80])}")
        out.append(f"label data {_stata_string(table.label[:80])}")
        out.append(f'save "{prefix}{table.name}_csv.dta", replace')
    return "\n".join(out) + "\n"


READERS = {"read_nelmas.R": r_script, "read_nelmas.sas": sas_program, "read_nelmas.do": stata_do}


def write_readers(tables: list[Table], out: Path, prefix: str = "") -> list[Path]:
    """The three reader programs, named ``read_nelmas.*`` (the export's prefix is added later)."""
    paths = []
    for name, generate in READERS.items():
        path = out / name
        path.write_bytes(generate(tables, prefix).encode("utf-8"))
        paths.append(path)
    return paths
