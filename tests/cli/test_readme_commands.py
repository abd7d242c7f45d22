"""Every `python -m saeviz ...` command in the README's code blocks parses, so the documented commands
cannot rot (an option renamed, a subcommand gone): argparse is what a user meets first."""

import re
import shlex
from pathlib import Path

import pytest

from saeviz.cli.main import parse

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[str]:
    text = README.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    commands = []
    for block in blocks:
        block = block.replace("\\\n", " ")  # continued lines
        variables = dict(re.findall(r"^([A-Z])=\"([^\"]*)\"", block, flags=re.M))
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            m = re.match(r"^(?:\$P|\S*python\S*) -m saeviz (.*)$", line)
            if not m:
                continue
            rest = re.sub(r"\$([A-Z])\b", lambda v: variables.get(v.group(1), v.group(0)), m.group(1))
            commands.append(re.sub(r"\[(--[a-z-]+)\]", r"\1", rest))  # [--short]: an optional flag
    return commands


def test_the_readme_documents_commands():
    commands = readme_commands()
    assert len(commands) >= 20 and any(c.startswith("tokens ") for c in commands)


@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_parses(command):
    args = parse(shlex.split(command))
    assert args.func is not None
