# SPDX-License-Identifier: MIT
"""Docs consistency: README.md, packaging/jupyter-keepalive.1 and config/agent.ini say what
the code does. No servers.

The sources of truth are the code:
  - config keys: the schema table `keys[]` in agent/config.c;
  - flags and exit-code wording: `agent --help` (the option table in agent/cli.c);
  - exit code numbers: `enum exit_code` in agent/supervisor.h.
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MAN = REPO / "packaging" / "jupyter-keepalive.1"
INI = REPO / "config" / "agent.ini"
CONFIG_C = REPO / "agent" / "config.c"
EXIT_H = REPO / "agent" / "supervisor.h"


# ---- the code ----

def schema():
    """[(section, key)] from config.c's schema table, section "agent" or "target"."""
    text = CONFIG_C.read_text()
    m = re.search(r"static const struct key keys\[\] = \{(.*?)\n\};", text, re.S)
    assert m, "schema table `static const struct key keys[]` not found in agent/config.c"
    rows = re.findall(r'\{\s*S_(AGENT|TARGET)\s*,\s*"([a-z0-9_]+)"', m.group(1))
    assert len(rows) > 10, "too few schema rows parsed: %r" % rows
    return [(s.lower(), k) for s, k in rows]


def all_keys():
    return sorted({k for _, k in schema()})


def config_default(name):
    m = re.search(r"#define\s+%s\s+(\d+)L?\b" % name, CONFIG_C.read_text())
    assert m, "%s not found in agent/config.c" % name
    return int(m.group(1))


def exit_enum():
    """{code: NAME} from supervisor.h's enum exit_code."""
    m = re.search(r"enum exit_code \{(.*?)\};", EXIT_H.read_text(), re.S)
    assert m, "enum exit_code not found in agent/supervisor.h"
    return {int(v): n for n, v in re.findall(r"(EXIT_\w+)\s*=\s*(\d+)", m.group(1))}


@pytest.fixture(scope="module")
def help_text(agent_bin):
    r = subprocess.run([str(agent_bin), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout


def help_specs(help_text):
    """Option lines of --help as written: ["-c, --config FILE", "--url URL", "--once", ...]."""
    specs = []
    for line in help_text.splitlines():
        m = re.match(r"^ {2,}((?:-[A-Za-z], )?--[a-z][a-z-]*(?: \S+)?)(?: {2,}|$)", line)
        if m:
            specs.append(m.group(1))
    assert len(specs) >= 15, "too few options parsed from --help: %r" % specs
    return specs


def flags_of(text):
    """Every -x and --long-flag in text."""
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*[a-z]|-[A-Za-z])(?![\w-])", text))


def help_exit_codes(help_text):
    """{code: phrase} from the "Exit codes:" paragraph of --help."""
    i = help_text.index("Exit codes:")
    para = " ".join(help_text[i + len("Exit codes:"):].split())
    found = dict((int(c), p) for c, p in re.findall(r"(\d+) (.*?)(?=, \d+ |\.$)", para))
    assert found, "no exit codes parsed from: %r" % para
    return found


# ---- README (markdown) ----

def md_section(text, heading):
    """The body under a heading (any level) up to the next heading of the same or higher level."""
    m = re.search(r"^(#+) %s[ \t]*$" % re.escape(heading), text, re.M)
    assert m, "README has no heading %r" % heading
    level = len(m.group(1))
    rest = text[m.end():]
    end = re.search(r"^#{1,%d} " % level, rest, re.M)
    return rest[:end.start()] if end else rest


def md_first_cells(section):
    """First cell of every table row, without backticks (header and rule rows excluded)."""
    cells = []
    for line in section.splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*[-:]+\s*\|", line):
            cells.append(line.split("|")[1].strip())
    return [c.strip("`") for c in cells[1:]] if cells else []


def md_rows(section):
    """{first cell: rest of the row} for a table, backticks removed."""
    rows = {}
    for line in section.splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*[-:]+\s*\|", line):
            parts = [p.strip() for p in line.strip().strip("|").split("|")]
            rows[parts[0].strip("`")] = " | ".join(parts[1:]).replace("`", "")
    return rows


# ---- man page (roff) ----

ALTERNATING = {"BR", "RB", "BI", "IB", "IR", "RI"}


def roff_args(s):
    return [a[1:-1] if a.startswith('"') else a for a in re.findall(r'"[^"]*"|\S+', s)]


def roff_plain(s):
    s = re.sub(r"\\f(?:\[[A-Z]*\]|[BIRP])", "", s)
    return (s.replace("\\-", "-").replace("\\(dq", '"').replace("\\~", " ")
            .replace("\\&", "").replace("\\e", "\\"))


def roff_line(line):
    """One roff line as text: font macros' arguments joined as troff would."""
    m = re.match(r"^\.(BR|RB|BI|IB|IR|RI|SM|B|I)(?:\s+(.*))?$", line)
    if m:
        args = roff_args(m.group(2) or "")
        line = ("" if m.group(1) in ALTERNATING else " ").join(args)
    elif line.startswith("."):
        return ""
    return roff_plain(line)


def man_section(name):
    text = MAN.read_text()
    m = re.search(r'^\.SH "?%s"?\s*$' % re.escape(name), text, re.M)
    assert m, "man page has no .SH %s" % name
    rest = text[m.end():]
    end = re.search(r"^\.SH ", rest, re.M)
    return rest[:end.start()] if end else rest


def man_tp_items(section):
    """[(heading text, bold words of the heading, body text)] for each .TP item."""
    items = []
    lines = section.splitlines()
    for i, line in enumerate(lines):
        if line.strip() != ".TP" or i + 1 >= len(lines):
            continue
        head = lines[i + 1]
        bold = []
        m = re.match(r"^\.(B|BR|BI)\s+(.*)$", head)
        if m:
            args = roff_args(m.group(2))
            bold = [roff_plain(a).strip() for j, a in enumerate(args)
                    if m.group(1) == "B" or j % 2 == 0]
        body = []
        for b in lines[i + 2:]:
            if b.startswith((".TP", ".SS", ".PP", ".SH")):
                break
            body.append(roff_line(b))
        items.append((roff_line(head).strip(), bold, " ".join(" ".join(body).split())))
    return items


def man_text():
    return "\n".join(roff_line(l) for l in MAN.read_text().splitlines())


# ---- config keys ----

def test_every_schema_key_is_in_the_example_ini():
    ini = INI.read_text()
    missing = [k for k in all_keys() if not re.search(r"^[;#]?\s*%s\s*=" % k, ini, re.M)]
    assert not missing, "config/agent.ini does not show these keys: %s" % missing


def test_every_schema_key_is_in_the_readme_reference():
    ref = md_section(README.read_text(), "Configuration reference")
    agent_rows = md_rows(md_section(ref, "`[agent]`"))
    target_rows = {}
    for h in ("Jupyter targets (`url =`)", "Ping targets (`ping_url =`)", "Both kinds of target"):
        target_rows.update(md_rows(md_section(ref, h)))
    missing = [(s, k) for s, k in schema()
               if k not in (agent_rows if s == "agent" else target_rows)]
    assert not missing, "README's configuration reference lacks rows for %s" % missing
    known = set(all_keys())
    invented = [k for k in list(agent_rows) + list(target_rows) if k not in known | {"key"}]
    assert not invented, "README documents keys the schema does not have: %s" % invented


def test_every_schema_key_is_in_the_man_page():
    items = man_tp_items(man_section("CONFIGURATION"))
    documented = {w for _, bold, _ in items for w in bold}
    missing = [k for k in all_keys() if k not in documented]
    assert not missing, "jupyter-keepalive.1 CONFIGURATION lacks %s" % missing
    keyish = {w for w in documented if re.fullmatch(r"[a-z][a-z0-9_]*", w)}
    invented = sorted(keyish - set(all_keys()))
    assert not invented, "jupyter-keepalive.1 documents keys the schema does not have: %s" % invented


@pytest.mark.parametrize("key,define,shown", [
    ("interval", "DEFAULT_INTERVAL_MS", lambda v: "%ds" % (v // 1000)),
    ("jitter", "DEFAULT_JITTER_PCT", lambda v: "%d%%" % v),
    ("timeout", "DEFAULT_TIMEOUT_MS", lambda v: "%ds" % (v // 1000)),
    ("max_4xx", "DEFAULT_MAX_4XX", str),
])
def test_defaults_match_the_code(key, define, shown):
    want = shown(config_default(define))
    ref = md_section(README.read_text(), "Configuration reference")
    rows = {}
    for h in ("`[agent]`", "Ping targets (`ping_url =`)"):
        rows.update(md_rows(md_section(ref, h)))
    assert want in rows[key].split(" | ")[1], \
        "README says %s defaults to %r; the code says %s" % (key, rows[key], want)
    heads = [h for h, bold, _ in man_tp_items(man_section("CONFIGURATION")) if key in bold]
    assert any("(default %s)" % want in h for h in heads), \
        "jupyter-keepalive.1 does not give %s's default as %s: %r" % (key, want, heads)


# ---- flags ----

def test_every_help_flag_is_in_readme_and_man_page(help_text):
    flags = {f for f in flags_of(help_text) if f.startswith("--")}
    readme, man = README.read_text(), man_text()
    assert not [f for f in flags if f not in readme], "README lacks flags"
    missing = sorted(f for f in flags if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(f), man))
    assert not missing, "jupyter-keepalive.1 lacks %s" % missing


def test_readme_command_line_table_matches_help(help_text):
    want = help_specs(help_text)
    got = md_first_cells(md_section(README.read_text(), "Command line"))
    assert sorted(got) == sorted(want), (
        "README's option table differs from --help\n  only in README: %s\n  only in --help: %s"
        % (sorted(set(got) - set(want)), sorted(set(want) - set(got))))


def test_man_options_match_help(help_text):
    want = help_specs(help_text)
    heads = [h for h, _, _ in man_tp_items(man_section("OPTIONS"))]
    assert sorted(heads) == sorted(want), (
        "jupyter-keepalive.1 OPTIONS differ from --help\n  only in jupyter-keepalive.1: %s\n  only in --help: %s"
        % (sorted(set(heads) - set(want)), sorted(set(want) - set(heads))))
    known = flags_of(help_text)
    unknown = sorted(flags_of(" ".join(heads)) - known)
    assert not unknown, "jupyter-keepalive.1 OPTIONS documents flags --help does not have: %s" % unknown


def test_synopsis_flags_exist(help_text):
    synopsis = "\n".join(roff_line(l) for l in man_section("SYNOPSIS").splitlines())
    unknown = sorted(flags_of(synopsis) - flags_of(help_text))
    assert not unknown, "jupyter-keepalive.1 SYNOPSIS has flags --help does not have: %s" % unknown


# ---- exit codes ----

def test_exit_codes_match_the_code(help_text):
    assert sorted(exit_enum()) == list(range(6)), exit_enum()
    assert sorted(help_exit_codes(help_text)) == sorted(exit_enum())


def test_readme_exit_codes_match_help(help_text):
    rows = md_rows(md_section(README.read_text(), "Exit codes"))
    for code, phrase in help_exit_codes(help_text).items():
        assert str(code) in rows, "README's exit code table lacks %d" % code
        assert rows[str(code)].lower().startswith(phrase.lower()), \
            "README exit %d: %r does not start with --help's %r" % (code, rows[str(code)], phrase)
    assert set(rows) - {"code"} == {str(c) for c in exit_enum()}


def test_man_exit_status_matches_help(help_text):
    items = {h: body for h, _, body in man_tp_items(man_section("EXIT STATUS"))}
    for code, phrase in help_exit_codes(help_text).items():
        assert str(code) in items, "jupyter-keepalive.1 EXIT STATUS lacks %d" % code
        assert items[str(code)].lower().startswith(phrase.lower()), \
            "jupyter-keepalive.1 exit %d: %r does not start with --help's %r" % (code, items[str(code)], phrase)
    assert set(items) == {str(c) for c in exit_enum()}


# ---- the man page renders ----

@pytest.mark.skipif(not shutil.which("groff"), reason="groff is not installed (groff-base)")
def test_man_page_renders_without_warnings():
    r = subprocess.run(["groff", "-man", "-ww", "-z", str(MAN)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


# ---- environment variables ----

ENV_NAME = re.compile(r'"((?:JUPYTER|JPY|COLAB|KMP|XDG|AGENT|HOME)[A-Z_]*|[a-z]+_proxy|[A-Z]+_PROXY)"')


def env_vars_read():
    """Every environment variable the agent's sources name as a string
    literal (getenv, the discovery env hook, the proxy rules)."""
    names = set()
    for src in (REPO / "agent").glob("*.c"):
        names.update(ENV_NAME.findall(src.read_text()))
    # "JUPYTER_" style prefixes and file names are not variables
    names = {n for n in names if not n.endswith("_") and n not in ("HOME_",)}
    assert len(names) > 10, names
    return sorted(names)


def test_every_environment_variable_is_in_the_readme():
    readme = README.read_text()
    missing = [n for n in env_vars_read() if "`%s`" % n not in readme]
    assert not missing, "README's Files and environment lacks %s" % missing
