"""Configuration: defaults, one line per mistake naming the key, and the generated example."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from mailbot.cli import hoist_global_options, main
from mailbot.config import Config, ConfigError, load_config, parse_config
from mailbot.config_example import example_config
from mailbot.procedure.policy import Policy

ROOT = Path(__file__).resolve().parents[1]
BOX = {"name": "cs", "address": "cs@example.org", "host": "imap.example.org", "username": "cs"}


def test_defaults_need_no_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILBOT_CONFIG", raising=False)
    config = load_config(None)
    assert config.database.url == "sqlite:///mailbot.db"
    assert config.cases.default_category == "General - Customer Feedback"
    assert config.mailboxes == ()


def test_mailbox_defaults_are_safe():
    box = parse_config({"mailbox": [BOX]}).mailboxes[0]
    assert (box.tls, box.effective_port, box.folders, box.after) == (
        "imaps",
        993,
        ("INBOX",),
        "flag",
    )
    starttls = parse_config({"mailbox": [{**BOX, "tls": "starttls"}]}).mailboxes[0]
    assert starttls.effective_port == 143


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"mailbox": [{**BOX, "port": "imap"}]},
            'mailbox[0].port: must be a whole number, got "imap"',
        ),
        (
            {"mailbox": [{**BOX, "tls": "ssl"}]},
            "mailbox[0].tls: must be one of 'imaps', 'starttls' or 'none', got \"ssl\"",
        ),
        (
            {"mailbox": [{**BOX, "adress": "x@y"}]},
            "mailbox[0].adress: unknown key; did you mean 'address'?",
        ),
        (
            {"mailbox": [{k: v for k, v in BOX.items() if k != "host"}]},
            "mailbox[0].host: required key is missing",
        ),
        (
            {"mailbox": [{**BOX, "address": "nobody"}]},
            'mailbox[0].address: "nobody" is not an email address',
        ),
        (
            {"organisation": {"timezone": "Mars/Olympus"}},
            'organisation.timezone: unknown timezone "Mars/Olympus"',
        ),
        ({"database": {"url": "mysql://x"}}, "database.url: use sqlite:///PATH"),
        ({"smtp": {"tls": "maybe"}}, "smtp.tls: must be one of 'smtps'"),
        ({"cases": {"prefix": "cs-1"}}, "cases.prefix: use capital letters"),
        ({"mailbox": [BOX, BOX]}, 'mailbox[1].name: "cs" is used twice'),
        ({"databse": {}}, "databse: unknown key; did you mean 'database'?"),
    ],
)
def test_mistakes_are_one_line_naming_the_key(data, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(expected), message


def test_passwords_come_from_env_or_file(monkeypatch, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("from-file\nignored\n")
    box = parse_config({"mailbox": [{**BOX, "password_file": str(secret)}]}).mailboxes[0]
    assert box.resolve_password("mailbox[0]") == "from-file"
    monkeypatch.setenv("CS_PW", "from-env")
    box = parse_config({"mailbox": [{**BOX, "password_env": "CS_PW"}]}).mailboxes[0]
    assert box.resolve_password("mailbox[0]") == "from-env"
    missing = parse_config({"mailbox": [{**BOX, "password_env": "NOPE_PW"}]}).mailboxes[0]
    with pytest.raises(
        ConfigError,
        match=r"mailbox\[0\].password_env: environment variable "
        "NOPE_PW is not set",
    ):
        missing.resolve_password("mailbox[0]")


def test_bad_toml_and_missing_file_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[database\nurl = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "missing.toml")


def test_config_check_cli_reports_each_mistake_on_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("MISSING_PW", raising=False)
    path = tmp_path / "mailbot.toml"
    path.write_text(
        '[[mailbox]]\nname="cs"\naddress="cs@example.org"\nhost="h"\n'
        'username="u"\npassword_env="MISSING_PW"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(path), "config", "check"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: config: mailbox[0].password_env: environment variable MISSING_PW is not set; "
        "export it or use password_file\n"
    )


def test_config_check_reports_every_mistake_not_just_the_first(tmp_path):
    path = tmp_path / "mailbot.toml"
    path.write_text(
        "[[mailbox]]\n"
        'name = "cs"\n'
        'address = "cs@example.org"\n'
        'username = "cs"\n'
        'pasword_env = "CS_PW"\n'  # a typo
        'port = "imap"\n'  # a wrong type
        # and host, which is required, is missing
    )
    result = CliRunner().invoke(main, ["--config", str(path), "config", "check"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert sorted(result.output.splitlines()) == [
        "Error: config: mailbox[0].host: required key is missing; add it (see config.example.toml)",
        "Error: config: mailbox[0].pasword_env: unknown key; did you mean 'password_env'?",
        'Error: config: mailbox[0].port: must be a whole number, got "imap"',
    ]


def test_policy_mistakes_are_reported_with_the_rest_of_the_config():
    with pytest.raises(ConfigError) as err:
        parse_config({"databse": {}, "policy": {"name": 3, "pause_on_hold": "x"}})
    assert err.value.problems == (
        "databse: unknown key; did you mean 'database'?",
        "policy.name: must be a string in quotes, got 3",
        'policy.pause_on_hold: must be true or false, got "x"',
    )
    assert str(err.value).endswith("(and 2 more problems)")


def test_the_example_config_is_valid_and_documents_every_key():
    data = tomllib.loads((ROOT / "config.example.toml").read_text())
    config = parse_config(data)
    assert [b.name for b in config.mailboxes] == ["customerservices", "info"]
    example = (ROOT / "config.example.toml").read_text()
    missing = [
        key
        # The policy is documented by its own help strings, `mailbot policy check` and the
        # packs in examples/policies/.
        for key in _all_keys(Config) - _all_keys(Policy)
        if not re.search(rf"^#?\s*{key}\s*=", example, re.MULTILINE)
    ]
    assert missing == [], f"config.example.toml does not document: {missing}"


def test_the_example_config_is_generated_from_the_settings():
    on_disk = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert on_disk == example_config(), (
        "config.example.toml is stale: run  mailbot config example > config.example.toml"
    )
    result = CliRunner().invoke(main, ["config", "example"])
    assert result.exit_code == 0
    assert result.output == on_disk


def test_the_generated_example_parses_and_its_passwords_resolve(monkeypatch):
    config = parse_config(tomllib.loads(example_config()), source="config.example.toml")
    assert config.mailboxes[1].password_file == "/run/secrets/mailbot-info"
    monkeypatch.setenv("MAILBOT_CUSTOMERSERVICES_PASSWORD", "secret")
    assert config.mailboxes[0].resolve_password("mailbox[0]") == "secret"
    assert config.mailbox("info").sender == "info@example.org"


def test_every_example_value_in_the_generated_example_is_valid():
    """Uncomment every `# key = example` line (in place of the default) and every commented
    [[table]] entry: the result still parses."""
    lines: list[str] = []
    optional_table = False  # a commented-out [table] (e.g. oauth2): tests/test_oauth.py
    for line in example_config().splitlines():
        optional_table = bool(re.match(r"^# \[[a-z0-9_.]+\]$", line)) or (optional_table and line)
        example = re.match(r"^# ([a-z_]+) = (.+)$", line)
        if optional_table:
            continue
        if example:
            key = example.group(1)
            live = next(
                (i for i in range(len(lines) - 1, -1, -1) if not lines[i].startswith("#")), None
            )
            if live is not None and lines[live].startswith(f"{key} = "):
                lines[live] = line[2:]
            else:
                lines.append(line[2:])
        elif re.match(r"^# \[\[[a-z_.]+\]\]$", line):
            lines.append(line[2:])
        else:
            lines.append(line)
    text = "\n".join(lines)
    assert "[[classifier.staff]]" in text and "\nmodel_path = " in text
    config = parse_config(tomllib.loads(text))
    assert config.classifier.staff[0].department == "Housing"
    assert config.contacts.service_manager_for("housing") == "housing.manager@example.org"


def test_a_policy_pack_can_be_named_or_written_inline(tmp_path):
    pack = Path(__file__).resolve().parents[1] / "examples" / "policies" / "xpertex.toml"
    named = parse_config({"policy_file": str(pack)})
    assert named.policy.grade("urgent").resolve_within == Policy().grade("urgent").resolve_within
    (tmp_path / "mailbot.toml").write_text(f'policy_file = "{pack}"\n[policy]\nname = "x"\n')
    with pytest.raises(ConfigError, match="policy_file: set either policy_file or a \\[policy\\]"):
        load_config(tmp_path / "mailbot.toml")
    with pytest.raises(ConfigError, match=r"^policy.priorities.urgent.acknowledge_within: "):
        parse_config({"policy": {"priorities": {"urgent": {"acknowledge_within": "three"}}}})


def test_every_key_has_a_help_string():
    undocumented = [
        f"{model.__name__}.{name}"
        for model, name, field in _fields(Config)
        if not field.description
    ]
    assert undocumented == []


def _fields(model: type[BaseModel]):  # type: ignore[no-untyped-def]
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        yield model, name, field
        for sub in _submodels(field.annotation):
            yield from _fields(sub)


def _submodels(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [
        a
        for a in getattr(annotation, "__args__", ())
        if isinstance(a, type) and issubclass(a, BaseModel)
    ]


def _all_keys(model: type[BaseModel]) -> set[str]:
    return {name for m, name, field in _fields(model) if not _submodels(field.annotation)}


def test_config_may_follow_the_command(tmp_path):
    path = tmp_path / "mailbot.toml"
    path.write_text('[[mailbox]]\nname = 3\nhost = "h"\naddress = "a@b"\nusername = "u"\n')
    for args in (
        ["config", "check", "--config", str(path)],
        ["config", "check", f"--config={path}", "-v"],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        assert (
            result.output == "Error: config: mailbox[0].name: must be a string in quotes, got 3\n"
        )
    # After `--` it is an argument, not the option.
    assert hoist_global_options(["classify", "--", "--config"]) == ["classify", "--", "--config"]


def test_a_classifier_that_cannot_load_is_one_line(tmp_path):
    path = tmp_path / "mailbot.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "m.db"}"\n'
        f'[classifier]\nmodel_path = "{tmp_path / "no-model"}"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(path), "poll", "--once"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: [classifier]: cannot load the spaCy classifier")
    assert result.output.strip().count("\n") == 0


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite:////no/such/directory/mailbot.db", "unable to open database file"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/mailbot", "Connection refused"),
    ],
)
@pytest.mark.parametrize("command", [["cases"], ["outbox"]])
def test_a_database_that_cannot_be_reached_is_one_line_naming_the_key(
    tmp_path: Path, url: str, says: str, command: list[str]
) -> None:
    # `cases` reads on the driver's own connection, `outbox` through SQLAlchemy: both fail
    # the same way, with the key to fix rather than a driver's traceback.
    path = tmp_path / "mailbot.toml"
    path.write_text(f'[database]\nurl = "{url}"\n')
    result = CliRunner().invoke(main, ["--config", str(path), *command])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: [database] url: cannot use the database (") and says in line
