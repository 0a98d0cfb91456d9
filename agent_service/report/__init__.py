"""`python -m agent_service report`: one self-contained HTML file of evaluation results.

- `store.py` reads the runs' trajectories through StoreService (and finds the latest run);
- `summary.py` turns them into what the charts and tables show (success per task type with 95%
  Wilson intervals, distributions, runs compared game by game with McNemar's exact p: see
  README.md), counting with `alfagent_common.run_stats`; `settings.py` the runs' settings;
- `viewer.py` the step-by-step data of the trajectory viewer; `expert.py` the expert plans beside it;
- `page.py` writes the HTML: plotly.js once (vendored from npm in `static/vendor/`), the data
  once, the page's own script and style (`static/`); `build.py` joins the parts; `cli.py` is
  the command.

It needs no package beyond the agent's own: the agent's image can write reports too.
"""
