"""A case's inventory (внутренняя опись документов дела) for people: as PDF and as an ODS spreadsheet.

The columns follow the internal inventory of a case's documents (Rules of organising the storage of archival
documents, Order of Rosarchiv No. 77 of 31.07.2023): number in order, registration number, date, title, sheets of
the paper original, notes (files kept, destruction). Both forms are made from the same rows as the JSON answer.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edms_runtime.errors import Unavailable

HEADERS = ("№", "Рег. номер", "Дата", "Заголовок документа", "Листов", "Примечание")


def rows(case: Mapping[str, Any]) -> list[tuple[object, ...]]:
    """One row per document, in the inventory's order."""
    out: list[tuple[object, ...]] = []
    for position, line in enumerate(case["inventory"], 1):
        notes = []
        if line.get("files"):
            notes.append(f"файлов: {line['files']}")
        if line.get("destroyed_on"):
            notes.append(f"уничтожен {line['destroyed_on']}")
        out.append(
            (
                position,
                line.get("reg_number") or "",
                str(line.get("reg_date") or ""),
                line.get("title") or "",
                line.get("sheets") if line.get("sheets") is not None else "",
                "; ".join(notes),
            )
        )
    return out


def heading(case: Mapping[str, Any]) -> list[str]:
    volume = f", том {case['volume']}" if case.get("volume", 1) > 1 else ""
    lines = [
        f"Внутренняя опись документов дела № {case['case_index']} ({case['year']}{volume})",
        str(case["title"]),
        f"Срок хранения: {case['retention']}, ст. {case.get('article') or '—'}",
    ]
    if case.get("closed_on"):
        lines.append(f"Дело закрыто {case['closed_on']}; документов: {case['documents']}, листов: {case['sheets']}")
    return lines


def as_pdf(case: Mapping[str, Any], font: str) -> bytes:
    """A4 landscape, one table; `font` must be a TrueType font with Cyrillic (DejaVu Sans by default)."""
    from fpdf import FPDF  # imported here: only this answer needs it
    from fpdf.fonts import FontFace

    if not Path(font).is_file():
        raise Unavailable(
            f"no font for PDF inventories at {font}; install fonts-dejavu-core or set EDMS_ARCHIVE_PDF_FONT"
        )
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_title(heading(case)[0])
    pdf.add_font("Inventory", fname=font)
    pdf.set_font("Inventory", size=11)
    pdf.add_page()
    for line in heading(case):
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Inventory", size=9)
    headings = FontFace(emphasis="", fill_color=(225, 225, 225))  # one font file: no bold face needed
    with pdf.table(col_widths=(10, 35, 25, 140, 18, 45), text_align="LEFT", headings_style=headings) as table:
        for values in (HEADERS, *rows(case)):
            row = table.row()
            for value in values:
                row.cell(str(value))
    return bytes(pdf.output())


def as_ods(case: Mapping[str, Any]) -> bytes:
    """One sheet: the heading lines, then the table; numbers stay numbers."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    sheet = Table(name="Опись")

    def add(values: Sequence[object]) -> None:
        row = TableRow()
        for value in values:
            if isinstance(value, int) and not isinstance(value, bool):
                cell = TableCell(valuetype="float", value=value)
            else:
                cell = TableCell(valuetype="string")
            cell.addElement(P(text=str(value)))
            row.addElement(cell)
        sheet.addElement(row)

    for line in heading(case):
        add([line])
    add([])
    for values in (HEADERS, *rows(case)):
        add(values)
    document.spreadsheet.addElement(sheet)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()
