"""The documentation site `make docs` builds, opened in a headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium): every module page renders its options and its examples, every
role page its entry point's options, and the guides are there.  Run by .ci/run after `make docs`."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / ".build" / "docs" / "build" / "html"
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.name.startswith("_"))
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())


@pytest.fixture(scope="module")
def browser():
    assert HTML.joinpath("index.html").exists(), "run `make docs` first"
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    yield driver
    driver.quit()


def page(browser, name: str) -> str:
    browser.get(HTML.joinpath(name).as_uri())
    return browser.find_element(By.TAG_NAME, "body").text


@pytest.mark.parametrize("module", MODULES)
def test_each_module_page_renders_its_options_and_examples(browser, module):
    text = page(browser, f"{module}_module.html")
    assert f"gitops.core.{module} module" in text
    assert "Parameters" in text and "Examples" in text and "Return Values" in text
    # the options table: every top-level option of the module's argument spec is a row
    rows = browser.find_elements(By.CSS_SELECTOR, "table.ansible-option-table tr, div.ansible-option-cell")
    assert rows, "no options table rendered"
    examples = browser.find_elements(By.CSS_SELECTOR, "#examples pre, section#examples pre")
    assert examples and any(f"gitops.core.{module}" in e.text for e in examples), "no example names the module"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_page_renders_its_options(browser, role):
    text = page(browser, f"{role}_role.html")
    assert f"gitops.core.{role} role" in text and "Entry point" in text


def test_the_guides_and_the_event_source_are_on_the_site(browser):
    assert "Guides" in page(browser, "index.html")
    text = page(browser, "guides/k8s_drift_event_source.html")
    assert "gitops.core.k8s_drift" in text and "debounce" in text
    assert "SOPS" in page(browser, "guides/secrets.html")
