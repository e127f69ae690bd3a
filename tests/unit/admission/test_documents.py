"""Which files an excuse request takes: what their bytes are, not what their names or the
browser say; names made safe to show and offer."""

from __future__ import annotations

import pytest

from admission.documents import (
    DocumentKind,
    DocumentProblem,
    DocumentRefused,
    Limits,
    Upload,
    check_documents,
    clean_name,
    kind_of,
)

PDF, JPEG, PNG = b"%PDF-1.5\n...", b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\x89PNG\r\n\x1a\n\x00"


def test_a_file_is_what_its_first_bytes_say() -> None:
    assert kind_of(PDF) is DocumentKind.PDF
    assert kind_of(JPEG) is DocumentKind.JPEG
    assert kind_of(PNG) is DocumentKind.PNG
    for other in (b"", b"PK\x03\x04", b"GIF89a", b"<svg", b"<html>%PDF-", b" %PDF-"):
        assert kind_of(other) is None, other


@pytest.mark.parametrize(
    ("raw", "kind", "kept"),
    [
        ("Справка 095-у.pdf", DocumentKind.PDF, "Справка 095-у.pdf"),
        ("C:\\Users\\me\\скан.JPEG", DocumentKind.JPEG, "скан.jpg"),
        ("../../etc/passwd", DocumentKind.PNG, "passwd.png"),
        ("a\u202egnp.exe.png", DocumentKind.PNG, "agnp.exe.png"),  # no bidi override
        ("line\r\nbreak.pdf", DocumentKind.PDF, "linebreak.pdf"),
        ("%D1%84%D0%BE%D1%82%D0%BE.png", DocumentKind.PNG, "фото.png"),  # escaped by the client
        ("справка от 12.05.2024", DocumentKind.PDF, "справка от 12.05.2024.pdf"),
        ("...", DocumentKind.PDF, "document.pdf"),
        ("x" * 500 + ".pdf", DocumentKind.PDF, "x" * 116 + ".pdf"),
    ],
)
def test_names_are_made_safe(raw: str, kind: DocumentKind, kept: str) -> None:
    assert clean_name(raw, kind) == kept


def test_a_name_that_is_not_text_is_refused() -> None:
    for raw in ("справка".encode("cp1251") + b".pdf", "\udcf1\udcef.pdf", "%F1%EF.pdf"):
        with pytest.raises(DocumentRefused) as refused:
            clean_name(raw, DocumentKind.PDF)
        assert refused.value.problem is DocumentProblem.BAD_NAME


def test_the_limits_and_lies_name_the_file() -> None:
    limits = Limits(files=2, file_bytes=100, total_bytes=150)

    def refused(*uploads: Upload, needed: bool = False) -> tuple[DocumentProblem, str]:
        with pytest.raises(DocumentRefused) as exc:
            check_documents(uploads, limits, needed=needed)
        return exc.value.problem, exc.value.name

    assert refused(needed=True) == (DocumentProblem.NONE, "")
    assert refused(*[Upload("a.pdf", PDF)] * 3)[0] is DocumentProblem.TOO_MANY
    assert refused(Upload("big.pdf", PDF + b"x" * 100)) == (DocumentProblem.TOO_LARGE, "big.pdf")
    assert refused(Upload("a.pdf", PDF + b"x" * 80), Upload("b.pdf", PDF + b"x" * 80))[0] is (
        DocumentProblem.TOTAL_TOO_LARGE
    )
    assert refused(Upload("скан.pdf", PNG)) == (DocumentProblem.WRONG_TYPE, "скан.pdf")
    assert refused(Upload("photo.jpg", PNG)) == (DocumentProblem.WRONG_TYPE, "photo.jpg")
    assert refused(Upload("report.exe", PDF)) == (DocumentProblem.WRONG_TYPE, "report.exe")
    assert refused(Upload("empty.pdf", b"")) == (DocumentProblem.EMPTY, "empty.pdf")
    taken = check_documents([Upload("scan", JPEG), Upload("a.JPEG", JPEG)], limits, needed=True)
    assert [(c.name, c.kind, c.size) for c in taken] == [
        ("scan.jpg", DocumentKind.JPEG, len(JPEG)),
        ("a.jpg", DocumentKind.JPEG, len(JPEG)),
    ]
