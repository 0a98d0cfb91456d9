"""Opening a report in the browser the way a person does, and what the page then shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import BrowserContext, ConsoleMessage, Page

# The chart containers of report.html, each of which Plotly must fill with its SVG.
CHARTS = (
    "chart-success",
    "chart-steps-to-win",
    "chart-goal-progress",
    "chart-end-reasons",
    "chart-retries",
    "chart-tokens",
    "chart-seconds",
)


@dataclass
class OpenedReport:
    page: Page
    errors: list[str] = field(default_factory=list)

    def chart_texts(self, chart: str) -> str:
        return self.page.locator(f"#{chart}").inner_text()

    def charts_drawn(self) -> dict[str, int]:
        """Plotted traces per chart (Plotly's own count on the element it drew into)."""
        return {
            chart: self.page.evaluate(f"document.getElementById('{chart}').data?.length ?? -1")
            for chart in CHARTS
        }

    def choose(self, run_id: str, game_id: str) -> None:
        """Pick a run, then the game, in the viewer's selects, as a person would."""
        run = self.page.locator("#viewer-run option", has_text=run_id).first.get_attribute("value")
        assert run is not None, f"no run {run_id} in the viewer"
        self.page.select_option("#viewer-run", run)
        game = self.page.locator("#viewer-game option", has_text=game_id).first.get_attribute("value")
        assert game is not None, f"no game {game_id} in the viewer"
        self.page.select_option("#viewer-game", game)
        # The episode's chunk may be inflated first: the page marks the episode once it shows it.
        self.page.wait_for_selector(f'#episode[data-shown="{game}"]', state="attached")


def open_report(browser: BrowserContext, path: Path, timeout_ms: float = 30_000) -> OpenedReport:
    """A new tab on file://…, until the page says every chart is drawn and the viewer is ready."""
    page = browser.new_page()
    opened = OpenedReport(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            opened.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
    # Any request at all would be a report that is not self-contained.
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith(("file:", "data:", "blob:"))
            else opened.errors.append(f"request: {request.url}")
        ),
    )
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=timeout_ms)
    return opened
