"""A learner's own excuse request in real headless Chromium: from their home page they open the
form, attach a scan and a photo, send it, and download the scan back from the request's page."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from tests.browser.test_browser import chromium, open_signed_in
from tests.conftest import Academy
from tests.integration.admission.test_excuse_documents import pdf, png
from web.core import keys


@pytest.mark.browser
@pytest.mark.timeout(60)
async def test_a_student_requests_an_excuse_with_documents_and_downloads_one(
    served: TestServer, academy: Academy, tmp_path: Path
) -> None:
    me = academy.student_ids[0]
    scan, photo = tmp_path / "Справка 095-у.pdf", tmp_path / "photo.png"
    scan_bytes = pdf()
    scan.write_bytes(scan_bytes)
    photo.write_bytes(png())
    errors: list[str] = []
    async with chromium() as browser:
        page = await open_signed_in(browser, served, me, "/", errors=errors)
        await page.get_by_role("link", name="Request an excuse").click()
        await expect(page.get_by_role("heading", name="Request an excuse")).to_be_visible()
        await page.get_by_label("Reason").select_option("illness")
        await page.get_by_label("First day").fill("2026-03-02")
        await page.get_by_label("Last day").fill("2026-03-04")
        await page.locator("input[type=file]").set_input_files([str(scan), str(photo)])
        await page.get_by_label("Details").fill("Грипп")
        await page.get_by_role("button", name="Send to the director").click()
        await expect(page.get_by_role("heading", name="Excuse request")).to_be_visible()
        await expect(page.locator(".status")).to_have_text("Awaiting the director's decision")
        link = page.get_by_role("link", name="Справка 095-у.pdf")
        async with page.expect_download() as download:
            await link.click()
        got = await download.value
        assert got.suggested_filename == "Справка 095-у.pdf"
        downloaded = await asyncio.to_thread(Path(await got.path()).read_bytes)
        assert downloaded == scan_bytes
    (r,) = served.app[keys.EXCUSES].listed(learner_id=me)
    assert [d.name for d in served.app[keys.EXCUSES].documents(r.id)] == [
        "Справка 095-у.pdf",
        "photo.png",
    ]
    assert errors == []
