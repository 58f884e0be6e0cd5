"""The examples the README and docs/agents.md point to run against the real daemon and do what they say."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.game
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(daemon, script, *args) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLES / script), "--server", daemon.grpc, *args],
                            capture_output=True, text=True, timeout=300, cwd=EXAMPLES)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_random_agent(daemon):
    out = run(daemon, "random_agent.py", "--steps", "200")
    assert re.search(r"random agent: 200 steps, reward [+-]\d+", out), out


def test_scripted_agent_frags_skill_one_bots_in_five_minutes(daemon):
    out = run(daemon, "scripted_agent.py", "--minutes", "5", "--seed", "7")  # seeded: the same match every run
    score = int(re.search(r"the scripted agent scored (-?\d+)", out).group(1))
    assert score >= 3, out


def test_team_2v2(daemon):
    out = run(daemon, "team_2v2.py", "--steps", "600")
    m = re.search(r"after 600 steps: agents' frags \{.*\}; team scores: red (\d+), blue (\d+)", out)
    assert m, out
    assert int(m.group(1)) + int(m.group(2)) > 0, out  # somebody scored


def test_behavioural_cloning_runs_end_to_end_at_a_small_size(daemon):
    out = run(daemon, "behavioural_cloning.py", "--matches", "1", "--frames", "1200", "--epochs", "2",
              "--eval-matches", "1", "--eval-steps", "100")
    assert re.search(r"exported [\d,]+ bot steps \(1 matches\)", out), out
    assert re.search(r"epoch 2/2: squared error \d", out), out
    for who in ("cloned policy", "random agent"):
        assert re.search(rf"{who}: -?\d+ frags, \d+ deaths in 0.3 minutes of play", out), out
