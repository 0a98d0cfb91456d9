"""Check a game by playing it: load it like ALFWorld, ask the planner, replay the plan, require a win.

The game is loaded with textworld's PDDL environment wrapped in alfworld's AlfredDemangler and
AlfredInfos, as AlfredTWEnv does, so the names and texts checked here are the ones a player sees. The
plan is Fast Downward's (``policy_commands`` at reset); it is then replayed as plain text commands in
the full game, each of which must be admissible, and the game must be ``won`` at the end.

Why the plan may come from a smaller problem: textworld's planner (``replan``) is a uniform-cost search,
and every pickable object makes the part of the state space it explores grow (holding anything blocks
picking the target, so all objects and all openable receptacles become relevant): a kitchen
pick_two game with ~40 objects took 180 s. The generator therefore plans on the same room with only the
objects the goal names (the targets and, for look_at_obj_in_light, the lamp). Other objects can neither
help nor hinder those goals in the alfred domain (no receptacle has a capacity), so that plan is also an
optimal plan of the full game; replaying it in the full game is what proves the game is winnable.

Loading a big kitchen and planning can still take seconds, and neither can be interrupted in-process,
so the generator runs :func:`verify_in_subprocess`, which kills the check after a time limit. Run as a
module (``python -m gamegen.verify GAME.tw-pddl RESULT.json [PLANNING.pddl]``) it is that
subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# How every ALFWorld game opens when the agent stands away from all receptacles.
INTRO_START = "-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room."


@dataclass(frozen=True)
class Verdict:
    """What playing a game showed: the winning commands, the opening text, and any problem."""

    ok: bool
    walkthrough: tuple[str, ...] = ()
    intro: str = ""
    reason: str = ""
    seconds: float = 0.0


def make_env(policy_commands: bool = False) -> Any:
    """A textworld PDDL env wrapped the way alfworld's AlfredTWEnv wraps it (no domain shuffling)."""
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
    from textworld.envs.pddl import PddlEnv

    infos = textworld.EnvInfos(
        won=True, admissible_commands=True, policy_commands=policy_commands, extras=["gamefile"]
    )
    return AlfredInfos(AlfredDemangler(shuffle=False)(PddlEnv(infos)))


def play(game_file: Path, commands: list[str] | tuple[str, ...]) -> tuple[bool, str]:
    """Replay commands in a fresh env; returns (won, last observation). Used by tests too."""
    env = make_env()
    try:
        env.load(str(game_file))
        state = env.reset()
        obs = str(state.feedback)
        won = bool(state["won"])
        for command in commands:
            state, _, _ = env.step(command)
            obs = str(state.feedback)
            won = bool(state["won"])
        return won, obs
    finally:
        env.close()


def plan_game(game_data: dict[str, Any]) -> list[str]:
    """Fast Downward's plan for a game, as the text commands ALFWorld would print (``policy_commands``)."""
    env = make_env(policy_commands=True)
    try:
        env.load(game_data)
        state = env.reset()
        return [str(c) for c in state["policy_commands"]]
    finally:
        env.close()


def verify_game(game_file: Path, planning_problem: str | None = None) -> Verdict:
    """Plan, replay and check one game file in this process (may take long: see module doc).

    ``planning_problem`` is the PDDL problem to plan on instead of the game's own (see module doc).
    """
    started = time.monotonic()
    game_data = json.loads(game_file.read_text())
    planning_data = dict(game_data, pddl_problem=planning_problem or game_data["pddl_problem"])
    plan = plan_game(planning_data)
    if not plan:
        return Verdict(False, reason="the planner found no plan")
    env = make_env()
    try:
        env.load(str(game_file))
        state = env.reset()
        intro = str(state.feedback)
        if not intro.startswith(INTRO_START):
            return Verdict(False, intro=intro, reason="the agent does not start in the middle of a room")
        if state["won"]:
            return Verdict(False, intro=intro, reason="the game is won before any move")
        for index, command in enumerate(plan):
            if command not in state["admissible_commands"]:
                return Verdict(False, intro=intro, reason=f"plan step {index} {command!r} is not admissible")
            state, _, _ = env.step(command)
            if state["won"] and index != len(plan) - 1:
                return Verdict(False, intro=intro, reason=f"won early, at plan step {index}")
        if not state["won"]:
            return Verdict(False, intro=intro, reason="the replayed plan does not win")
        return Verdict(True, tuple(plan), intro, seconds=time.monotonic() - started)
    finally:
        env.close()


def verify_in_subprocess(game_data: dict[str, Any], planning_problem: str | None, timeout: float) -> Verdict:
    """Write the game to a temporary file and verify it in a child process killed after ``timeout`` s."""
    root = Path(__file__).resolve().parents[1]  # the directory holding gamegen/
    with tempfile.TemporaryDirectory(prefix="alfagent-verify-") as tmp:
        game_file = Path(tmp) / "game.tw-pddl"
        result_file = Path(tmp) / "result.json"
        game_file.write_text(json.dumps(game_data))
        args = [str(game_file), str(result_file)]
        if planning_problem is not None:
            planning_file = Path(tmp) / "planning.pddl"
            planning_file.write_text(planning_problem)
            args.append(str(planning_file))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "gamegen.verify", *args],
                cwd=root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Verdict(
                False, reason=f"timed out after {timeout:.0f} s", seconds=time.monotonic() - started
            )
        if proc.returncode != 0 or not result_file.exists():
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            return Verdict(False, reason=f"checker failed (exit {proc.returncode}): {' | '.join(tail)}")
        data = json.loads(result_file.read_text())
        return Verdict(
            ok=bool(data["ok"]),
            walkthrough=tuple(data["walkthrough"]),
            intro=str(data["intro"]),
            reason=str(data["reason"]),
            seconds=float(data["seconds"]),
        )


def _main(argv: list[str]) -> int:
    game_file, result_file = Path(argv[0]), Path(argv[1])
    planning = Path(argv[2]).read_text() if len(argv) > 2 else None
    verdict = verify_game(game_file, planning)
    result_file.write_text(
        json.dumps(
            {
                "ok": verdict.ok,
                "walkthrough": list(verdict.walkthrough),
                "intro": verdict.intro,
                "reason": verdict.reason,
                "seconds": verdict.seconds,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
