"""The console end to end in headless Chromium: sign in, the sample drafts, citations, edit and approve (one
delivery), reject with a reason, the conflict view in a second browser, a viewer without buttons, a whole
approval from the keyboard, bulk approve, new drafts arriving without losing an edit, a cross-workspace 404."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlmodel import Session, col, select

from desk.models import Delivery, Draft
from testkit.live import wait_for
from tests.console.browser import chrome, missing, screenshots
from tests.console.conftest import Console, csrf_of

if reason := missing():
    pytest.skip(reason, allow_module_level=True)

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.browser
Browser = Callable[[], Any]


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A factory of headless Chromium windows (each its own profile, so its own cookies); all closed after."""
    made: list[Any] = []

    def make() -> Any:
        driver = chrome()
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.quit()


def wait(driver: Any, timeout: float = 30) -> WebDriverWait:
    return WebDriverWait(driver, timeout)


def sign_in(driver: Any, console: Console, key: str, next_path: str = "/") -> None:
    driver.get(f"{console.base_url}/signin?next={next_path}")
    field = wait(driver).until(seen.element_to_be_clickable((By.ID, "api_key")))
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form[action='/signin'] button[type=submit]").click()
    wait(driver).until(seen.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=role]")))


def open_draft(driver: Any, console: Console, draft_id: int) -> None:
    driver.get(f"{console.base_url}/drafts/{draft_id}")
    wait(driver).until(seen.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=version]")))


def deliveries(console: Console, draft_id: int) -> list[Delivery]:
    with Session(console.live.engine) as session:
        return list(session.exec(select(Delivery).where(col(Delivery.draft_id) == draft_id)).all())


def sample_draft_with_citations(console: Console) -> int:
    with Session(console.live.engine) as session:
        for draft in session.exec(select(Draft).where(col(Draft.status) == "pending").order_by(col(Draft.id))):
            if draft.citations and not draft.graph_thread.startswith("console-"):
                return int(draft.id or 0)
    raise AssertionError("no sample draft cites a source")


def test_sign_in_and_the_queue_shows_the_sample_drafts(console: Console, browser: Browser) -> None:
    driver = browser()
    sign_in(driver, console, console.key("cm", name="Robin"))
    assert driver.find_element(By.CSS_SELECTOR, "[data-testid=role]").text == "cm"
    rows = driver.find_elements(By.CSS_SELECTOR, "#queue-rows tr.row")
    assert rows, "the queue is empty"
    text = driver.find_element(By.ID, "queue").text
    assert "@dani_pedals" in text or "Dani R." in text  # the first sample message's author
    screenshots(driver, "queue")


def test_read_a_citation_edit_and_approve_delivers_once(console: Console, browser: Browser) -> None:
    draft_id = sample_draft_with_citations(console)
    driver = browser()
    sign_in(driver, console, console.key("cm", name="Robin"))
    open_draft(driver, console, draft_id)
    screenshots(driver, "draft")
    citation = driver.find_element(By.CSS_SELECTOR, "[data-testid=citation] summary")
    citation.click()
    chunk = wait(driver).until(seen.visibility_of_element_located((By.CSS_SELECTOR, "[data-testid=chunk-text]")))
    assert chunk.text.strip()
    editor = driver.find_element(By.ID, "reply-text")
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys("Thanks for asking! Checked against our FAQ.")
    wait(driver).until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=char-count]"), "43"))
    driver.find_element(By.CSS_SELECTOR, "[data-testid=approve]").click()
    wait(driver).until(seen.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=flash]")))
    sent = wait_for(lambda: [d for d in deliveries(console, draft_id) if d.status == "delivered"] or None)
    assert [d.text for d in sent] == ["Thanks for asking! Checked against our FAQ."]
    assert len(deliveries(console, draft_id)) == 1
    assert console.draft(draft_id).status == "delivered"


def test_reject_with_a_reason(console: Console, browser: Browser) -> None:
    [draft_id] = console.drafts(1)
    driver = browser()
    sign_in(driver, console, console.key("cm"))
    open_draft(driver, console, draft_id)
    Select(driver.find_element(By.ID, "reject-category")).select_by_value("incomplete")
    driver.find_element(By.ID, "reject-note").send_keys("does not say when")
    driver.find_element(By.CSS_SELECTOR, "[data-testid=reject]").click()
    wait(driver).until(seen.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=flash]")))
    draft = console.draft(draft_id)
    assert (draft.status, draft.reject_category, draft.reject_reason) == ("rejected", "incomplete", "does not say when")


def test_a_second_browser_approving_the_same_draft_gets_the_conflict_view(console: Console, browser: Browser) -> None:
    [draft_id] = console.drafts(1)
    first, second = browser(), browser()
    sign_in(first, console, console.key("cm", name="Alex"))
    sign_in(second, console, console.key("cm", name="Sam"))
    open_draft(first, console, draft_id)
    open_draft(second, console, draft_id)
    editor = second.find_element(By.ID, "reply-text")
    editor.send_keys(" Sam adds a line.")
    first.find_element(By.CSS_SELECTOR, "[data-testid=approve]").click()
    wait(first).until(seen.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=flash]")))
    second.find_element(By.CSS_SELECTOR, "[data-testid=approve]").click()
    box = wait(second).until(seen.visibility_of_element_located((By.CSS_SELECTOR, "[data-testid=conflict]")))
    assert "changed while you were working" in box.text and "approve by Alex" in box.text
    kept = second.find_element(By.CSS_SELECTOR, "[data-testid=kept-text]").get_attribute("value")
    assert kept.endswith("Sam adds a line.")
    assert len(deliveries(console, draft_id)) == 1


def test_a_viewer_sees_no_action_buttons(console: Console, browser: Browser) -> None:
    [draft_id] = console.drafts(1)
    driver = browser()
    sign_in(driver, console, console.key("viewer"))
    assert not driver.find_elements(By.CSS_SELECTOR, "[data-testid=bulk-approve], input[name=pick]")
    open_draft(driver, console, draft_id)
    assert driver.find_element(By.CSS_SELECTOR, "[data-testid=role]").text == "viewer"
    assert not driver.find_elements(By.CSS_SELECTOR, "main form, main button, textarea")
    assert driver.find_element(By.CSS_SELECTOR, "[data-testid=reply-text]").text


def test_a_whole_approval_with_the_keyboard_only(console: Console, browser: Browser) -> None:
    first, second = console.drafts(2, workspace="keys")
    driver = browser()
    driver.get(f"{console.base_url}/signin?next=/")
    field = wait(driver).until(seen.element_to_be_clickable((By.ID, "api_key")))
    assert driver.switch_to.active_element == field  # the key field has focus on arrival
    ActionChains(driver).send_keys(console.key("cm", "keys"), Keys.ENTER).perform()
    wait(driver).until(seen.presence_of_element_located((By.CSS_SELECTOR, "#queue-rows tr.row")))
    ActionChains(driver).send_keys("?").perform()
    wait(driver).until(seen.visibility_of_element_located((By.ID, "help")))
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait(driver).until(seen.invisibility_of_element_located((By.ID, "help")))
    ActionChains(driver).send_keys("j").perform()
    selected = driver.find_element(By.CSS_SELECTOR, "#queue-rows tr.row.selected")
    chosen = int(selected.get_attribute("data-id"))
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait(driver).until(seen.url_contains(f"/drafts/{chosen}"))
    ActionChains(driver).send_keys("c").perform()  # claim: the page comes back saying so
    wait(driver).until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=flash]"), "You hold"))
    assert console.draft(chosen).assignee is not None
    ActionChains(driver).send_keys("e").perform()
    assert driver.switch_to.active_element.get_attribute("id") == "reply-text"
    ActionChains(driver).send_keys(Keys.END, " Typed only.", Keys.ESCAPE, "a").perform()
    following = second if chosen == first else first
    wait(driver).until(seen.url_contains(f"/drafts/{following}"))  # approve-and-next
    assert console.draft(chosen).status in ("approved", "delivered")
    assert console.draft(chosen).text.endswith("Typed only.")


def test_bulk_approve_with_a_result_per_draft(console: Console, browser: Browser) -> None:
    drafts = console.drafts(3, workspace="bulk")
    driver = browser()
    sign_in(driver, console, console.key("cm", "bulk"))
    for draft_id in drafts:
        driver.find_element(By.ID, f"pick-{draft_id}").click()
    driver.find_element(By.CSS_SELECTOR, "[data-testid=bulk-approve]").click()
    wait(driver).until(seen.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=bulk-result]")))
    results = driver.find_elements(By.CSS_SELECTOR, "[data-testid=bulk-result]")
    assert len(results) == 3 and all("done" in r.text for r in results)
    assert "3 done, 0 not" in driver.find_element(By.TAG_NAME, "h1").text
    assert all(console.draft(d).status in ("approved", "delivered") for d in drafts)


def test_new_drafts_appear_without_losing_an_edit_in_progress(console: Console, browser: Browser) -> None:
    console.drafts(2, workspace="live")
    driver = browser()
    sign_in(driver, console, console.key("cm", "live"))
    note = driver.find_element(By.NAME, "note")
    note.send_keys("half-typed note")
    [arrived] = console.drafts(1, workspace="live")
    wait(driver, 60).until(seen.presence_of_element_located((By.CSS_SELECTOR, f"tr.row[data-id='{arrived}']")))
    assert driver.find_element(By.NAME, "note").get_attribute("value") == "half-typed note"
    assert driver.switch_to.active_element.get_attribute("name") == "note"
    assert "1 new draft" in driver.find_element(By.ID, "live-status").text


def test_a_cross_workspace_url_answers_not_found(console: Console, browser: Browser) -> None:
    [other] = console.drafts(1, workspace="elsewhere")
    driver = browser()
    sign_in(driver, console, console.key("cm", "mine"))
    driver.get(f"{console.base_url}/drafts/{other}")
    heading = wait(driver).until(seen.presence_of_element_located((By.TAG_NAME, "h1")))
    assert "Not found" in heading.text and "404" in heading.text
    assert not driver.find_elements(By.ID, "reply-text")


def test_upload_documents_and_find_one_in_the_playground(console: Console, browser: Browser, tmp_path: Any) -> None:
    good = tmp_path / "kickstand-plates.md"
    good.write_text("# Kickstand plates for soft ground\n\nOn sand or a festival field, clip the wide kickstand "
                    "plate under the stand foot so the parked bike does not sink and tip over.\n")
    bad = tmp_path / "notes.exe"
    bad.write_bytes(b"MZ\x00\x01")
    driver = browser()
    sign_in(driver, console, console.key("admin", name="Kim"), "/knowledge")
    driver.find_element(By.ID, "files").send_keys(f"{good}\n{bad}")
    driver.find_element(By.CSS_SELECTOR, "#upload button[type=submit]").click()
    wait(driver).until(seen.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=upload-results]")))
    rows = driver.find_elements(By.CSS_SELECTOR, "[data-testid=upload-result]")
    results = {r.text.split(":")[0]: r.text for r in rows}
    assert "ingested" in results["kickstand-plates.md"]
    assert "refused" in results["notes.exe"] and "unsupported file type" in results["notes.exe"]
    assert "upload/kickstand-plates.md" in driver.find_element(By.TAG_NAME, "main").text
    query = driver.find_element(By.ID, "q")
    query.send_keys("my parked bike sinks into the sand at festivals, what can I do?")
    driver.find_element(By.CSS_SELECTOR, "#playground button[type=submit]").click()
    hits = wait(driver).until(seen.presence_of_all_elements_located((By.CSS_SELECTOR, "[data-testid=hit]")))
    assert "upload/kickstand-plates.md" in hits[0].text
    screenshots(driver, "knowledge")


def test_insights_and_admin_pages(console: Console, browser: Browser) -> None:
    driver = browser()
    sign_in(driver, console, console.key("admin", name="Kim"), "/insights")
    wait(driver).until(seen.presence_of_element_located((By.CSS_SELECTOR, "figure.chart svg")))
    assert driver.find_element(By.CSS_SELECTOR, "[data-testid=messages]").text.isdigit()
    screenshots(driver, "insights")
    driver.get(f"{console.base_url}/admin")
    wait(driver).until(seen.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=key-row]")))
    screenshots(driver, "admin")


def test_the_draft_page_says_when_someone_else_moved_the_draft_on(console: Console, browser: Browser) -> None:
    [draft_id] = console.drafts(1)
    driver = browser()
    sign_in(driver, console, console.key("cm", name="Sam"))
    open_draft(driver, console, draft_id)
    driver.find_element(By.ID, "reply-text").send_keys(" Sam's unsent words.")
    alex = console.sign_in(console.key("cm", name="Alex"))
    page = alex.get(f"/drafts/{draft_id}")
    alex.post(f"/drafts/{draft_id}/edit", data={"csrf_token": csrf_of(page), "version": "1", "text": "Alex's."})
    notice = wait(driver).until(seen.visibility_of_element_located((By.ID, "moved-on")))
    assert "changed (version 2, by Alex)" in notice.text
    assert driver.find_element(By.ID, "reply-text").get_attribute("value").endswith("Sam's unsent words.")
