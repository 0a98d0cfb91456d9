// The report page: draws the embedded data with Plotly and runs the trajectory viewer.
// Every text from the data goes into the page as a text node (el() below), never as HTML: a
// trajectory that holds "<script>" or "<img onerror=...>" is shown, not run.
"use strict";

const DATA = JSON.parse(document.getElementById("report-data").textContent);
const RUNS = DATA.runs;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const PLOT_CONFIG = { displaylogo: false, responsive: true };

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Plotly reads <b>, <a href=…> and entities in names and labels as its own markup: text from the
// data is written with entities, so a model named "<b>x</b>" shows as typed.
function plotText(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function runLabel(index) {
  const run = RUNS[index];
  const model = run.models.length ? " · " + run.models.join(", ") : "";
  return `${run.run_id} (${run.policy}${model})`;
}

function percent(value) {
  return (100 * value).toFixed(1) + "%";
}

function layout(title, extra) {
  return Object.assign(
    {
      title: { text: title, font: { size: 15 } },
      margin: { t: 48, r: 16, b: 64, l: 60 },
      // Shown for one run too: the legend says which run a colour is.
      showlegend: true,
      legend: { orientation: "h", y: -0.22 },
      height: 340,
    },
    extra || {},
  );
}

function emptyNote(text) {
  return [{ text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { color: "#888" } }];
}

// ---- charts ---------------------------------------------------------------------------------

function chartSuccess() {
  const types = [...DATA.task_types, "all"];
  const traces = RUNS.map((run, index) => {
    const rows = Object.fromEntries(run.success.map((row) => [row.task_type, row]));
    const present = types.filter((type) => rows[type]);
    return {
      type: "bar",
      name: plotText(runLabel(index)),
      marker: { color: COLORS[index % COLORS.length] },
      x: present.map(plotText),
      y: present.map((type) => rows[type].rate),
      error_y: {
        type: "data",
        symmetric: false,
        array: present.map((type) => rows[type].high - rows[type].rate),
        arrayminus: present.map((type) => rows[type].rate - rows[type].low),
      },
      customdata: present.map((type) => [rows[type].wins, rows[type].episodes, rows[type].low, rows[type].high]),
      hovertemplate:
        "%{x}: %{y:.1%} (%{customdata[0]}/%{customdata[1]}), 95% CI %{customdata[2]:.1%}–%{customdata[3]:.1%}<extra></extra>",
    };
  });
  const title = DATA.generated ? "Success rate — GENERATED games, not comparable to published ALFWorld" : "Success rate";
  Plotly.newPlot(
    "chart-success",
    traces,
    layout(title, {
      barmode: "group",
      xaxis: { type: "category", categoryorder: "array", categoryarray: types.map(plotText) },
      yaxis: { range: [0, 1.05], tickformat: ".0%" },
      height: 380,
    }),
    PLOT_CONFIG,
  );
}

function episodesOf(run) {
  return DATA.episodes.filter((episode) => episode.run === run);
}

function chartStepsToWin() {
  const traces = RUNS.map((_, index) => ({
    type: "histogram",
    name: plotText(runLabel(index)),
    x: episodesOf(index).filter((e) => e.won).map((e) => e.steps),
    opacity: 0.65,
    marker: { color: COLORS[index % COLORS.length] },
  }));
  const none = traces.every((trace) => trace.x.length === 0);
  Plotly.newPlot(
    "chart-steps-to-win",
    traces,
    layout("Steps to win (won episodes)", {
      barmode: "overlay",
      xaxis: { title: { text: "steps" }, visible: !none },
      yaxis: { title: { text: "episodes" }, visible: !none },
      annotations: none ? emptyNote("no episode was won") : [],
    }),
    PLOT_CONFIG,
  );
}

function chartGoalProgress() {
  const traces = RUNS.map((run, index) => ({
    type: "scatter",
    // Markers too: a run whose episodes took one step has a one-point curve.
    mode: "lines+markers",
    marker: { size: 4 },
    name: plotText(runLabel(index)),
    x: run.goal_progress_curve.map((_, step) => step + 1),
    y: run.goal_progress_curve,
    line: { color: COLORS[index % COLORS.length] },
  }));
  Plotly.newPlot(
    "chart-goal-progress",
    traces,
    layout("Mean goal progress after each step (ended episodes keep their last value)", {
      xaxis: { title: { text: "step" } },
      yaxis: { range: [0, 1.02], tickformat: ".0%" },
    }),
    PLOT_CONFIG,
  );
}

function countsChart(target, title, countsOf, emptyText) {
  const keys = [...new Set(RUNS.flatMap((run) => Object.keys(countsOf(run))))].sort();
  const traces = RUNS.map((run, index) => ({
    type: "bar",
    name: plotText(runLabel(index)),
    x: keys.map(plotText),
    y: keys.map((key) => countsOf(run)[key] || 0),
    marker: { color: COLORS[index % COLORS.length] },
  }));
  Plotly.newPlot(
    target,
    traces,
    layout(title, {
      barmode: "group",
      annotations: keys.length ? [] : emptyNote(emptyText),
      // "category": causes such as "503" would otherwise turn the axis numeric and hide the rest.
      xaxis: { visible: keys.length > 0, type: "category" },
      yaxis: { visible: keys.length > 0 },
    }),
    PLOT_CONFIG,
  );
}

function boxChart(target, title, valueOf, unit, emptyText) {
  const traces = RUNS.map((_, index) => ({
    type: "box",
    name: plotText(runLabel(index)),
    y: episodesOf(index).map(valueOf),
    boxpoints: "outliers",
    marker: { color: COLORS[index % COLORS.length] },
  }));
  const allZero = traces.every((trace) => trace.y.every((value) => !value));
  Plotly.newPlot(
    target,
    traces,
    layout(title, {
      showlegend: false,
      yaxis: { title: { text: unit }, rangemode: "tozero" },
      annotations: allZero ? emptyNote(emptyText) : [],
    }),
    PLOT_CONFIG,
  );
}

// ---- tables ---------------------------------------------------------------------------------

function successTable() {
  const header = el("tr", {}, el("th", {}, "task type"), RUNS.map((_, index) => el("th", {}, runLabel(index))));
  const rows = [...DATA.task_types, "all"].map((type) =>
    el(
      "tr",
      {},
      el("td", {}, type),
      RUNS.map((run) => {
        const row = run.success.find((candidate) => candidate.task_type === type);
        if (!row) return el("td", { className: "num" }, "–");
        return el(
          "td",
          { className: "num" },
          `${percent(row.rate)} (${row.wins}/${row.episodes}) [${percent(row.low)}–${percent(row.high)}]`,
        );
      }),
    ),
  );
  document.getElementById("success-table").append(el("table", {}, header, rows));
}

// A link that opens the run's episode of the game in the viewer.
function viewLink(run, game, outcome) {
  const link = el("a", { href: "#viewer", className: "view-link" }, `[${outcome} in ${RUNS[run].run_id}]`);
  link.addEventListener("click", () => {
    const position = DATA.episodes.findIndex((episode) => episode.run === run && episode.game === game);
    if (position >= 0) openEpisode(position);
  });
  return link;
}

// "p = 0.0215" (three significant digits, halves rounded up) or "p < 0.001"; bench_llm compare
// writes p the same way (bench/run_comparison.py).
function pValue(value) {
  return value < 0.001 ? "p < 0.001" : `p = ${Number(value.toPrecision(3))}`;
}

// How each run's commands went: one column per run.
function behaviourTable() {
  const lines = [
    ["episodes counted", (b) => b.episodes],
    ["steps", (b) => b.steps],
    ["commands not admissible", (b) => `${percent(b.not_admissible_rate)} (${b.not_admissible}/${b.steps})`],
    [
      `episodes with one command ${RUNS.length ? RUNS[0].behaviour.repeat_streak : 3}+ times in a row`,
      (b) => `${percent(b.repeat_rate)} (${b.repeated}/${b.episodes})`,
    ],
    ["longest run of one command", (b) => b.longest_streak],
    ["model calls per step", (b) => b.model_calls_per_step.toFixed(2)],
    ["tokens per step (prompt + completion)", (b) => Math.round(b.tokens_per_step).toLocaleString("en-US")],
  ];
  const header = el("tr", {}, el("th", {}, ""), RUNS.map((_, index) => el("th", {}, runLabel(index))));
  const rows = lines.map(([label, valueOf]) =>
    el("tr", {}, el("th", {}, label), RUNS.map((run) => el("td", { className: "num" }, valueOf(run.behaviour)))),
  );
  return el("table", { id: "behaviour-table" }, header, rows);
}

// Two runs on the games both played: McNemar's table, the paired rates by task type.
function pairedSummary(flip) {
  const a = RUNS[flip.a].run_id;
  const b = RUNS[flip.b].run_id;
  const discordant = flip.won_in_a_only.length + flip.won_in_b_only.length;
  const text =
    `On the ${flip.common} games both played: ${a} won ${flip.a_wins}, ${b} won ${flip.b_wins}; ` +
    `both won ${flip.won_in_both}, neither ${flip.won_in_neither}, ` +
    `${a} only ${flip.won_in_a_only.length}, ${b} only ${flip.won_in_b_only.length}. ` +
    `Exact McNemar ${pValue(flip.p_value)} (two-sided, over the ${discordant} games won in one run only).`;
  const header = el(
    "tr",
    {},
    ["task type", "games", `won in ${a}`, `won in ${b}`, `${a} only`, `${b} only`].map((label) => el("th", {}, label)),
  );
  const rows = flip.by_task_type.map((row) =>
    el(
      "tr",
      {},
      el("td", {}, row.task_type),
      [row.games, row.a_wins, row.b_wins, row.a_only, row.b_only].map((value) => el("td", { className: "num" }, value)),
    ),
  );
  return [el("p", { className: "mcnemar" }, text), el("table", { className: "paired" }, header, rows)];
}

function flipsSection() {
  const body = document.getElementById("flips-body");
  body.append(behaviourTable());
  if (RUNS.length < 2) {
    body.append(el("p", { className: "note" }, "Give two runs on the same games to compare them game by game."));
    return;
  }
  if (!DATA.flips.length) {
    body.append(el("p", { className: "note" }, "The runs given share no game."));
    return;
  }
  for (const flip of DATA.flips) {
    body.append(el("h3", {}, `${runLabel(flip.a)} vs ${runLabel(flip.b)} — ${flip.common} games in common`));
    body.append(...pairedSummary(flip));
    const list = (games, wonIn, lostIn) =>
      el(
        "div",
        { className: "flip-list" },
        el("p", {}, `Won in ${RUNS[wonIn].run_id}, lost in ${RUNS[lostIn].run_id}: ${games.length}`),
        games.length
          ? el(
              "ul",
              {},
              games.map((game) =>
                el(
                  "li",
                  {},
                  `${DATA.games[game].task_type} · ${DATA.games[game].id} `,
                  viewLink(wonIn, game, "won"),
                  " ",
                  viewLink(lostIn, game, "lost"),
                ),
              ),
            )
          : null,
      );
    body.append(list(flip.won_in_a_only, flip.a, flip.b), list(flip.won_in_b_only, flip.b, flip.a));
  }
}

function settingsTable() {
  const labels = [...new Set(RUNS.flatMap((run) => run.settings.map(([label]) => label)))];
  const header = el("tr", {}, el("th", {}, "setting"), RUNS.map((run) => el("th", {}, run.run_id)));
  const rows = labels.map((label) =>
    el(
      "tr",
      {},
      el("th", {}, label),
      RUNS.map((run) => {
        const found = run.settings.find(([candidate]) => candidate === label);
        return el("td", {}, found ? found[1] : "–");
      }),
    ),
  );
  document.getElementById("settings-table").append(el("table", {}, header, rows));
}

// ---- trajectory viewer ----------------------------------------------------------------------

// The trajectories: one line per chunk of DATA.trajectories.chunk_size episodes, each line gzip +
// base64 of a JSON list of episodes whose steps are rows of DATA.trajectories.step_fields. A chunk
// is inflated the first time one of its episodes is shown, so opening the page inflates one.
const TRAJECTORY_CHUNKS = document.getElementById("report-trajectories").textContent.trim().split("\n");
const inflatedChunks = new Map();

async function inflate(line) {
  const packed = atob(line);
  const bytes = new Uint8Array(packed.length);
  for (let i = 0; i < packed.length; i++) bytes[i] = packed.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

async function episodeDetail(position) {
  const { chunk_size: size, step_fields: fields } = DATA.trajectories;
  const chunk = Math.floor(position / size);
  if (!inflatedChunks.has(chunk)) inflatedChunks.set(chunk, inflate(TRAJECTORY_CHUNKS[chunk]));
  const episode = (await inflatedChunks.get(chunk))[position % size];
  const steps = episode.steps.map((row) => Object.fromEntries(fields.map((name, i) => [name, row[i]])));
  return { ...episode, steps };
}

function groundingBadge(step) {
  switch (step.grounding) {
    case "normalised":
    case "nearest":
      return el("span", { className: "badge changed", title: "grounding changed the model's command" }, `changed by grounding: ${step.grounding}`);
    case "none":
      return el("span", { className: "badge unmatched", title: "not an admissible command; sent as written" }, "sent unmatched");
    case "exact":
      return el("span", { className: "badge" }, "as written");
    case "skill":
      return el("span", { className: "badge", title: "sent by the agent as part of a skill call" }, "from a skill call");
    default:
      return step.admissible === false ? el("span", { className: "badge unmatched" }, "not admissible") : null;
  }
}

function field(label, text, className) {
  if (text === "" || text === undefined || text === null) return null;
  return el("div", { className: "field" }, el("span", { className: "label" }, label), el("span", { className: "text " + (className || "") }, text));
}

function progressBar(value) {
  const bar = el("span", { className: "progress", title: percent(value) }, el("span", {}));
  bar.firstChild.style.width = `${Math.round(100 * value)}%`;
  return bar;
}

function admissibleList(commands) {
  // Filled when opened: 1,000 episodes × 50 steps × 30 commands would be a heavy page otherwise.
  const details = el("details", { className: "admissible" }, el("summary", {}, `admissible commands (${commands.length})`));
  details.addEventListener("toggle", () => {
    if (details.open && details.children.length === 1) details.append(el("ul", {}, commands.map((c) => el("li", {}, c))));
  });
  return details;
}

function stepCard(step) {
  const head = el(
    "div",
    { className: "step-head" },
    el("span", { className: "number" }, `step ${step.index}`),
    el("span", {}, "goal progress ", progressBar(step.goal_progress), ` ${percent(step.goal_progress)}`),
    step.tokens ? el("span", {}, `${step.tokens} tokens`) : null,
    step.llm_ms ? el("span", {}, `LLM ${(step.llm_ms / 1000).toFixed(1)} s`) : null,
    step.retries ? el("span", {}, `${step.retries} retries`) : null,
  );
  const command = el(
    "div",
    { className: "field" },
    el("span", { className: "label" }, "command sent"),
    el("span", { className: "text action" }, step.action),
    groundingBadge(step),
  );
  return el(
    "div",
    { className: "step", "data-step": String(step.index) },
    head,
    field("thought", step.thought, "thought"),
    field("model output", step.raw_output),
    field("skill call", step.skill),
    command,
    field("observation", step.observation),
    field("skills shown", (step.skills_shown || []).join(", ")),
    admissibleList(step.admissible_commands),
  );
}

function expertPanel(episode, detail) {
  const game = DATA.games[episode.game];
  const panel = document.getElementById("expert");
  panel.replaceChildren(el("h3", {}, "Expert plan"));
  if (!game.plan) {
    panel.append(el("p", { className: "note" }, "No expert plan for this game: give an EXPERT run of the same games, or --env, when writing the report."));
    return;
  }
  panel.append(
    el("p", { className: "note" }, `from ${game.plan_source}; ${game.plan.length} commands`),
    // The commands the episode played at the same position are marked: where it left the plan shows.
    el(
      "ol",
      {},
      game.plan.map((command, index) => {
        const played = detail.steps[index] && detail.steps[index].action === command;
        return el("li", played ? { className: "played", title: "played at this step" } : {}, command);
      }),
    ),
  );
}

let shownRequest = 0;
// Set by setUpViewer: shows the episode at this position of DATA.episodes, its run chosen.
let openEpisode = async (position) => {};

async function showEpisode(position) {
  const request = ++shownRequest;
  const detail = await episodeDetail(position);
  if (request !== shownRequest) return; // another choice was made meanwhile
  const episode = DATA.episodes[position];
  const game = DATA.games[episode.game];
  const outcome = episode.won ? el("span", { className: "won" }, "won") : el("span", { className: "lost" }, "lost");
  const head = el(
    "div",
    { className: "episode-head" },
    el("div", {}, el("strong", {}, game.task || game.id)),
    el("div", { className: "note" }, `${game.id} · ${game.task_type} · ${game.source} · trajectory ${episode.id}, attempt ${episode.attempt}`),
    el(
      "div",
      {},
      outcome,
      ` · ${episode.end} · ${episode.steps} steps · goal progress ${percent(episode.progress)} · ${episode.tokens} tokens · ${episode.seconds.toFixed(1)} s`,
      episode.retries ? ` · ${episode.retries} LLM retries` : "",
      detail.dropped_turns ? ` · ${detail.dropped_turns} turns left out of the prompt` : "",
    ),
    detail.error ? el("div", { className: "error" }, detail.error) : null,
  );
  const opening = el(
    "div",
    { className: "step", "data-step": "0" },
    el("div", { className: "step-head" }, el("span", { className: "number" }, "start")),
    field("observation", detail.initial_observation),
    admissibleList(detail.initial_admissible_commands),
  );
  const shown = document.getElementById("episode");
  shown.replaceChildren(head, opening, ...detail.steps.map(stepCard));
  expertPanel(episode, detail);
  shown.dataset.shown = String(position); // tests wait for this
}

async function setUpViewer() {
  const runSelect = document.getElementById("viewer-run");
  const filterSelect = document.getElementById("viewer-filter");
  const gameSelect = document.getElementById("viewer-game");
  RUNS.forEach((_, index) => runSelect.append(el("option", { value: String(index) }, runLabel(index))));
  const fillGames = async (chosen) => {
    const run = Number(runSelect.value);
    const filter = filterSelect.value;
    const options = [];
    DATA.episodes.forEach((episode, position) => {
      if (episode.run !== run || (filter === "won" && !episode.won) || (filter === "lost" && episode.won)) return;
      const game = DATA.games[episode.game];
      const mark = episode.won ? "✓" : "✗";
      const attempt = episode.attempt ? ` (attempt ${episode.attempt})` : "";
      options.push(el("option", { value: String(position) }, `${mark} ${game.task_type} · ${game.id}${attempt}`));
    });
    gameSelect.replaceChildren(...options);
    if (chosen !== undefined) gameSelect.value = String(chosen);
    if (options.length) await showEpisode(Number(gameSelect.value));
    else document.getElementById("episode").replaceChildren(el("p", { className: "note" }, "No episode matches."));
  };
  runSelect.addEventListener("change", () => fillGames());
  filterSelect.addEventListener("change", () => fillGames());
  openEpisode = async (position) => {
    runSelect.value = String(DATA.episodes[position].run);
    filterSelect.value = "all";
    await fillGames(position);
  };
  gameSelect.addEventListener("change", () => showEpisode(Number(gameSelect.value)));
  await fillGames();
}

// ---- start ----------------------------------------------------------------------------------

// performance.mark()s name each phase of opening, for bench/bench_report.py and the curious.
async function main() {
  performance.mark("report:script");
  document.getElementById("generated-note").textContent =
    `Written ${DATA.generated_at} by alfagent ${DATA.alfagent_version} from ${DATA.episodes.length} episodes of ${RUNS.length} run(s).` +
    (DATA.warnings.length ? " " + DATA.warnings.join(" ") : "");
  document.getElementById("not-comparable").hidden = !DATA.generated;
  chartSuccess();
  chartStepsToWin();
  chartGoalProgress();
  countsChart("chart-end-reasons", "End reasons", (run) => run.end_reasons, "no episodes");
  countsChart("chart-retries", "LLM retries by cause", (run) => run.retry_causes, "no LLM call was retried");
  boxChart("chart-tokens", "Tokens per episode (prompt + completion)", (e) => e.tokens, "tokens", "no tokens used (no LLM episode)");
  boxChart("chart-seconds", "Seconds per episode", (e) => e.seconds, "seconds", "no time recorded");
  performance.mark("report:charts");
  successTable();
  flipsSection();
  settingsTable();
  performance.mark("report:tables");
  await setUpViewer();
  performance.mark("report:viewer");
  document.getElementById("viewer-status").textContent = `${DATA.episodes.length} episodes.`;
  // Tests and the benchmark wait for this: every chart drawn and the viewer ready.
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  document.getElementById("viewer-status").textContent = `The report could not be shown: ${error}`;
  console.error(error);
});
