"""The page of `pixrescue serve` in a real browser: headless Chromium driven by Selenium.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); skipped
without them.  ``PIXRESCUE_WEB_SCREENSHOT=docs/web.png`` also saves a screenshot of the
page with its result (the README's picture).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("selenium")

from helpers import chelsea, jpeg_bytes  # noqa: E402

DRIVER = "/usr/bin/chromedriver"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    BROWSER is None or not os.path.exists(DRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver; .ci/run does)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real uvicorn server on a free localhost port, in a thread."""
    import uvicorn

    from pixrescue.web.app import create_app
    from pixrescue.web.jobs import Settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(Settings(folder=tmp_path_factory.mktemp("server"), workers=1))
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    end = time.time() + 30
    while not running.started:
        assert time.time() < end and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1000,1300"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.downloads = downloads
    yield driver
    driver.quit()


def test_fix_a_picture_in_the_page(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    picture = tmp_path / "cat.jpg"
    picture.write_bytes(jpeg_bytes(chelsea(), 10))
    browser.get(server + "/")
    browser.find_element(By.ID, "files").send_keys(str(picture))
    job = WebDriverWait(browser, 180).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#queue .job.done .facts:not([hidden])")).find_element(By.XPATH, "..")
    assert job.find_element(By.CSS_SELECTOR, ".name").text == "cat.jpg"
    assert "JPEG quality\n10" in job.find_element(By.CSS_SELECTOR, ".facts").text
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "return [...arguments[0].querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)", job))

    clip = job.find_element(By.CSS_SELECTOR, ".clip")
    assert clip.value_of_css_property("clip-path") == "inset(0px 0px 0px 50%)"
    slider = job.find_element(By.CSS_SELECTOR, ".slider")
    slider.send_keys(Keys.ARROW_LEFT * 20)
    assert slider.get_attribute("value") == "30"
    assert clip.value_of_css_property("clip-path") == "inset(0px 0px 0px 30%)"
    job.find_element(By.CSS_SELECTOR, ".zoom-in").click()
    assert job.find_element(By.CSS_SELECTOR, ".zoom").text == "150 %"
    assert not browser.find_element(By.ID, "all").is_displayed()  # one result: no zip
    if os.environ.get("PIXRESCUE_WEB_SCREENSHOT"):
        browser.set_window_size(1000, browser.execute_script("return document.body.scrollHeight") + 140)
        browser.save_screenshot(os.environ["PIXRESCUE_WEB_SCREENSHOT"])

    link = job.find_element(By.CSS_SELECTOR, ".download")
    assert link.get_attribute("download") == "cat.fixed.png"
    link.click()
    saved = Path(browser.downloads) / "cat.fixed.png"
    WebDriverWait(browser, 30).until(lambda d: saved.exists() and not list(saved.parent.glob("*.crdownload")))
    with urllib.request.urlopen(link.get_attribute("href")) as response:
        assert saved.read_bytes() == response.read()

    # A text file, dropped on the page and pasted into it: the server's error in its line.
    for event in ("new DragEvent('drop', {dataTransfer: data, bubbles: true})",
                  "new ClipboardEvent('paste', {clipboardData: data, bubbles: true})"):
        browser.execute_script(f"""
            const data = new DataTransfer();
            data.items.add(new File(['not a picture\\n'.repeat(10)], 'notes.txt', {{type: 'text/plain'}}));
            document.getElementById('drop').dispatchEvent({event});""")
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#queue .job.failed")) == 2)
    failed = browser.find_elements(By.CSS_SELECTOR, "#queue .job.failed")
    for line in failed:
        assert line.find_element(By.CSS_SELECTOR, ".name").text == "notes.txt"
        assert line.find_element(By.CSS_SELECTOR, ".state").text == (
            "Failed: not an image file, or a format that is not supported")
