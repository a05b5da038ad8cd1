"""Small sample files of every format the registry extracts text from, made with the same libraries that read them
(python-docx, odfpy), fpdf2 for a PDF with Cyrillic text (a TrueType font), and by hand (a minimal PDF, RTF)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

#: Debian's fonts-dejavu-core: a TrueType font with Cyrillic (the archive's inventories use it too).
CYRILLIC_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def handwritten_pdf(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 with a text layer in Helvetica (Latin text), its cross-reference table computed."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({_pdf_escape(line)}) '" for line in lines) + " ET"
    stream = content.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def cyrillic_pdf(lines: list[str]) -> bytes:
    """A PDF with Cyrillic text (fpdf2 embeds the font with its ToUnicode map, so the text can be extracted)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("DejaVu", fname=str(CYRILLIC_FONT))
    pdf.set_font("DejaVu", size=12)
    for line in lines:
        pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def odt(heading: str, paragraphs: list[str]) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text=heading))
    for paragraph in paragraphs:
        document.text.addElement(P(text=paragraph))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sample.odt"
        document.save(str(path))
        return path.read_bytes()


def rtf(text: str, codepage: int = 1251) -> bytes:
    """RTF as Word writes Cyrillic: the code page declared, each non-ASCII byte as \\'xx."""
    body = "".join(
        ch if ord(ch) < 128 else "".join(f"\\'{byte:02x}" for byte in ch.encode(f"cp{codepage}")) for ch in text
    )
    head = f"{{\\rtf1\\ansi\\ansicpg{codepage}\\deff0{{\\fonttbl{{\\f0 Times New Roman;}}}}\\f0\\fs24 "
    return (head + body.replace("\n", "\\par\n") + "}").encode("ascii")


def docx_bomb(megabytes: int) -> bytes:
    """A DOCX of a few hundred KB whose document.xml inflates to `megabytes` MB (a decompression bomb)."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(docx(["x"])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename != "word/document.xml":
                bomb.writestr(info, data)
                continue
            head, _, tail = data.decode().partition("<w:body>")
            chunk = ("<w:p><w:r><w:t>бомба</w:t></w:r></w:p>" * 10000).encode()
            with bomb.open(info.filename, "w", force_zip64=True) as target:
                target.write(f"{head}<w:body>".encode())
                for _ in range((megabytes << 20) // len(chunk)):
                    target.write(chunk)
                target.write(tail.encode())
    return out.getvalue()
