"""The web page at / in a real browser: headless Chromium (Debian's, driven by chromedriver through
Selenium) uploads a clip, then records a fake microphone fed by a dev clip and shows the live
transcript that /v1/realtime sends. The test keeps a screenshot of the page."""

from __future__ import annotations

import time
import wave
from pathlib import Path

import pytest

import realtime_client as rt
import report
from server_process import ServerProcess
from wer import wer

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def fake_microphone(clip: Path, folder: Path) -> Path:
    """The clip at 48 kHz with 2 s of silence after it (so the server's VAD ends the turn)."""
    pcm = rt.pcm16(clip, 48000) + rt.silence(2.0, 48000)
    path = folder / "microphone.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(pcm)
    return path


@pytest.fixture()
def browser_for(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    for tool in (CHROMIUM, CHROMEDRIVER):
        if not tool.is_file():
            pytest.fail(f"{tool} is missing: run scripts/setup.sh (Debian's chromium, "
                        "chromium-driver)", pytrace=False)
    drivers = []

    def start(microphone: Path):
        options = Options()
        options.binary_location = str(CHROMIUM)
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1000,900",
                         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                         f"--use-file-for-fake-audio-capture={microphone}%noloop",
                         f"--user-data-dir={tmp_path / 'profile'}"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


def test_page_uploads_and_transcribes_the_microphone_live(amanuensis, tiny_model, vad_model_env,
                                                          manifest, repo_root, tmp_path,
                                                          browser_for):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    clip = next(c for c in manifest if c.id == "jfk")
    with ServerProcess(amanuensis, tiny_model) as server:
        driver = browser_for(fake_microphone(clip.path, tmp_path))
        driver.get(server.url + "/")
        wait = WebDriverWait(driver, 60)
        assert driver.title == "Amanuensis"

        # A file, uploaded through the form.
        driver.find_element(By.ID, "file").send_keys(str(clip.path))
        driver.find_element(By.ID, "upload").click()
        wait.until(lambda d: d.find_element(By.ID, "upload-result").text.strip())
        uploaded = driver.find_element(By.ID, "upload-result").text
        assert wer(clip.reference, uploaded) < 0.1, uploaded

        # The microphone, live: words appear while the clip plays, then the line completes.
        driver.find_element(By.ID, "record").click()
        clicked = time.monotonic()
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#live .line")))
        wait.until(lambda d: d.find_element(By.ID, "live-status").text == "Listening…")
        # The clip has played (it ends in silence) and every turn's line has completed.
        wait.until(lambda d: time.monotonic() > clicked + clip.seconds + 2.5
                   and not d.find_elements(By.CSS_SELECTOR, "#live .line:not(.done)"))
        live = driver.find_element(By.ID, "live").text
        status = driver.find_element(By.ID, "live-status").text
        shot = repo_root / "build" / "e2e-artifacts" / "web_page_live.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shot))
        report.SUMMARY_LINES.append(f"web page screenshot (live transcript of {clip.id}): {shot}")
        print(f"screenshot: {shot}")
        assert "error" not in driver.find_element(By.ID, "live-status").get_attribute("class"), status
        assert wer(clip.reference, live) < 0.15, live
        driver.find_element(By.ID, "record").click()  # stop
