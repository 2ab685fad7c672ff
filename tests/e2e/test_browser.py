"""The app in a real browser (Debian's chromium through Playwright) against the real server:
a cited chat answer, one graded interview question, a batch run, the progress page, with
screenshots of every tab at a wide and a narrow width in tests/artifacts/.

Waits are for elements, never for network idle: Gradio's heartbeat keeps a request open.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from coach.config import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.model]

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = REPO_ROOT / "scripts" / "install_chromium.sh"
APT_MISSING = 3  # install_chromium.sh's exit code when apt-get is not there
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}
# Guards against a hung page only; a real answer on 2 busy cores takes seconds to a minute.
MODEL_WAIT_MS = 240_000
UI_WAIT_MS = 30_000
XSS = '<img src=x onerror="window.__xss=1">'
LONG_QUESTION = "Explain in detail how to deal with overfitting, with every technique the guide mentions."


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True)
        if done.returncode == APT_MISSING:
            pytest.skip(f"chromium is not installed and apt-get is not available: {done.stderr.strip()}")
        assert done.returncode == 0, f"installing chromium failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh user-data dir
            executable_path=str(chromium), headless=True, args=ARGS, viewport=WIDE,
        )
        yield context
        context.close()


@pytest.fixture
def page(browser, app_server):
    page = browser.new_page()
    page.set_default_timeout(UI_WAIT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    page.goto(app_server.url)
    page.locator("#chat-input textarea").wait_for()
    yield page
    page.close()


def shot(page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def ask(page, question: str) -> None:
    """Ask and wait for the final answer: the sources panel numbers answers (data-turn)."""
    turn = page.locator("#chat-history .user-row").count() + 1
    page.locator("#chat-input textarea").fill(question)
    page.locator("#chat-ask").click()
    page.locator(f'#chat-sources [data-turn="{turn}"] .coach-card').first.wait_for(timeout=MODEL_WAIT_MS)


def test_chat_shows_a_cited_answer_with_source_cards(page, artifacts):
    shot(page, artifacts, "wide-chat-empty")
    ask(page, "Explain gradient descent.")
    bubble = page.locator("#chat-history .bot-row").last
    text = bubble.inner_text()
    cards = page.locator("#chat-sources .coach-card")
    ids = [cards.nth(i).get_attribute("data-source") for i in range(cards.count())]
    assert ids and "Sources (" in page.locator("#chat-sources").inner_text()
    assert all(f"[{i}]" in text or i in text for i in ids), (ids, text)
    assert "q03" in ids
    first = cards.first
    assert first.get_attribute("open") is not None  # the first cited passage starts open
    first.locator("summary").click()
    assert first.get_attribute("open") is None  # and folds on a click
    first.locator("summary").click()
    shot(page, artifacts, "wide-chat-answer")


def test_chat_renders_user_text_as_text_and_shows_a_long_answer(page, artifacts):
    ask(page, f"{XSS} What is dropout?")
    assert page.evaluate("window.__xss === undefined")
    assert XSS in page.locator("#chat-history").inner_text()  # shown literally, not run
    assert page.dialogs == []
    ask(page, LONG_QUESTION)
    shot(page, artifacts, "wide-chat-long-answer")


def test_one_interview_question_gets_a_score(page, artifacts):
    open_tab(page, "Mock interview")
    page.locator("#interview-status .coach-empty").wait_for()
    shot(page, artifacts, "wide-interview-setup")
    page.locator("#coach-user textarea").fill("browser-ann")
    page.locator("#interview-length").get_by_text("3", exact=True).click()
    page.locator("#interview-start").click()
    card = page.locator("#interview-question-card .coach-question")
    card.wait_for(timeout=MODEL_WAIT_MS)
    assert "Question 1 of 3" in card.inner_text()
    shot(page, artifacts, "wide-interview-question")
    page.locator("#interview-answer textarea").fill(
        "You adjust the weights to reduce the loss: compare predictions with the actual values, compute the "
        "error with a loss function, and update the weights with gradient descent until the loss decreases."
    )
    page.locator("#interview-submit").click()
    score = page.locator("#interview-grade .coach-score")
    score.wait_for(timeout=MODEL_WAIT_MS)
    assert re.fullmatch(r"\d{1,2}\.\d / 10", score.inner_text().strip())
    assert page.locator("#interview-grade .coach-points li").count() >= 1
    assert page.locator("#interview-next").is_visible()
    shot(page, artifacts, "wide-interview-grade")
    # Finish the question (a partial answer gets one follow-up first), then the next one is asked.
    if "follow-up" in page.locator("#interview-next").inner_text():
        page.locator("#interview-next").click()
        card.get_by_text("Follow-up on").wait_for()  # the same update clears the previous grade
        page.locator("#interview-answer textarea").fill(
            "The choice of loss depends on the task: classification losses for classification, regression "
            "losses for regression, and the loss should decrease as the network learns."
        )
        page.locator("#interview-submit").click()
        score.wait_for(timeout=MODEL_WAIT_MS)
    page.locator("#interview-next").click()
    page.get_by_text("Question 2 of 3").wait_for(timeout=MODEL_WAIT_MS)


def test_batch_evaluation_and_progress_pages(page, artifacts, tmp_path):
    open_tab(page, "Batch evaluation")
    page.locator("#batch-status .coach-empty").wait_for()
    shot(page, artifacts, "wide-batch-empty")
    path = tmp_path / "answers.csv"
    path.write_text("question,answer,human_score\n"
                    '4,"Batch normalization normalizes layer inputs with the batch mean and standard deviation.",8\n'
                    '3,"Gradient descent follows the negative gradient of the cost function.",7\n'
                    '9,"No idea.",1\n', encoding="utf-8")
    page.locator("#batch-file input[type=file]").set_input_files(str(path))
    page.locator("#batch-run").click()
    page.locator("#batch-summary .coach-stats").first.wait_for(timeout=MODEL_WAIT_MS)
    assert "Agreement with the human scores" in page.locator("#batch-summary").inner_text()
    page.locator("#batch-downloads").wait_for()
    shot(page, artifacts, "wide-batch-results")

    open_tab(page, "Progress")
    page.locator("#progress-body .coach-empty").wait_for()
    shot(page, artifacts, "wide-progress-empty")
    page.locator("#coach-user textarea").fill("browser-ann")  # who answered in the interview test
    page.locator("#progress-show").click()
    page.locator("#progress-body .coach-chart").wait_for(timeout=MODEL_WAIT_MS)
    assert "Deep Learning Fundamentals" in page.locator("#progress-body").inner_text()
    shot(page, artifacts, "wide-progress")

    # Last, so its error toast is in no screenshot: an upload over the limit is refused with a message.
    open_tab(page, "Batch evaluation")
    page.locator('#batch-file button[aria-label="Clear"]').click()
    too_big = tmp_path / "too-big.csv"  # the server's upload limit is the default 20 MB
    too_big.write_bytes(b"question,answer\n" + b"4,x\n" * (21 * 2**20 // 4))
    page.locator("#batch-file input[type=file]").set_input_files(str(too_big))
    page.get_by_text("exceed the maximum allowed size").first.wait_for()


def test_narrow_window(browser, app_server, artifacts):
    page = browser.new_page()
    page.set_viewport_size(NARROW)
    page.set_default_timeout(UI_WAIT_MS)
    try:
        page.goto(app_server.url)
        page.locator("#chat-input textarea").wait_for()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW["width"], "the page must not scroll sideways on a phone"
        for tab in ("Chat", "Mock interview", "Batch evaluation", "Progress"):
            assert page.get_by_role("tab", name=tab).is_visible(), f"tab {tab} is hidden at 390 px"
        shot(page, artifacts, "narrow-chat-empty")
        ask(page, "What is transfer learning?")
        shot(page, artifacts, "narrow-chat-answer")
        page.locator("#coach-user textarea").fill("browser-ann")
        open_tab(page, "Progress")
        page.locator("#progress-body .coach-chart").wait_for(timeout=MODEL_WAIT_MS)
        shot(page, artifacts, "narrow-progress")
        open_tab(page, "Mock interview")
        page.locator("#interview-resume").click()
        page.locator("#interview-question-card .coach-question").wait_for(timeout=MODEL_WAIT_MS)
        shot(page, artifacts, "narrow-interview-resumed")
        open_tab(page, "Batch evaluation")
        page.locator("#batch-run").wait_for()
        shot(page, artifacts, "narrow-batch-empty")
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    finally:
        page.close()
