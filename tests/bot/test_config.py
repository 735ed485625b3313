"""config.toml is validated whole at start-up; secrets come from the environment only."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Secrets, load_config

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_the_shipped_config_is_valid_and_documents_the_contract_keys() -> None:
    config = load_config(REPO / "config.toml", environ={})
    settings = config.settings
    assert settings.database.url == "sqlite:///shortscience.db"
    assert str(settings.arxiv.api_url) == "https://export.arxiv.org/api/query"
    assert {channel.kind for channel in settings.channels} >= {"outbox", "x"}
    x_main = next(channel for channel in settings.channels if channel.name == "x-main")
    assert x_main.require_approval is True
    assert x_main.max_items == 5
    assert (settings.console.user, settings.console.moderator) == ("", False)


def test_no_file_means_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHORTSCIENCE_CONFIG", raising=False)
    config = load_config(environ={})
    assert config.path is None
    assert config.settings.channels == []


def test_the_environment_variable_picks_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "[limits]\nsearch_results = 3\n")
    monkeypatch.setenv("SHORTSCIENCE_CONFIG", str(path))
    assert load_config(environ={}).settings.limits.search_results == 3


def test_a_named_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: no such file"):
        load_config(tmp_path / "nope.toml", environ={})


def test_sqlite_file_sits_beside_the_config(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, ""), environ={})
    assert config.base_dir == tmp_path.resolve()


def test_database_url_from_the_environment_wins(tmp_path: Path) -> None:
    url = "postgresql+psycopg://app:s3cret-pw@db.example.org/shortscience"
    config = load_config(_write(tmp_path, ""), environ={"DATABASE_URL": url})
    assert config.database_url == url


BAD_CONFIGS = [
    ("foo = 1\n", 'unknown key "foo" at the top level'),
    ("[arxiv]\napi_uri = 'x'\n", 'unknown key "api_uri" in [arxiv]; expected one of: api_url'),
    ("[arxiv]\ntimeout_seconds = 'ten'\n", "[arxiv].timeout_seconds: expected a valid number"),
    ("[arxiv]\ntimeout_seconds = -1.0\n", "[arxiv].timeout_seconds: expected greater than 0"),
    ("[arxiv]\napi_url = 'ftp://mirror'\n", "[arxiv].api_url: expected an http or https URL"),
    ("[discord]\nguild_id = '123'\n", "[discord].guild_id: expected a valid integer, got '123'"),
    ("[discord]\nmoderator_role_ids = [1, '2']\n", "[discord].moderator_role_ids[1]"),
    ("[database]\nauto_upgrade = 'yes'\n", "[database].auto_upgrade: expected a valid boolean"),
    ("[database]\nurl = 'mysql://h/db'\n", "[database].url: expected a sqlite or postgresql URL"),
    ("[limits]\ntldr_max_chars = 500\n", "[limits].tldr_max_chars: expected less than or equal"),
    (
        "[[channels]]\nname='a'\nkind='irc'\nschedule='0 9 * * *'\n",
        "[channels][0].kind: expected 'x', 'facebook'",
    ),
    (
        "[[channels]]\nname='a'\nkind='x'\nschedule='every day'\n",
        '[channels][0].schedule: expected a 5-field cron expression such as "0 9 * * *"',
    ),
    (
        "[[channels]]\nname='a'\nkind='x'\nschedule='0 25 * * *'\n",
        "[channels][0].schedule: expected a 5-field cron expression",
    ),
    (
        "[[channels]]\nname='a'\nkind='x'\nschedule='0 9 * * *'\ntimezone='Mars/Base'\n",
        '[channels][0].timezone: expected an IANA time zone such as "UTC"',
    ),
    (
        "[[channels]]\nname='Main X'\nkind='x'\nschedule='0 9 * * *'\n",
        "[channels][0].name: expected up to 64 lowercase letters",
    ),
    (
        "[[channels]]\nname='d'\nkind='discord'\nschedule='0 9 * * *'\ndiscord_channel_id=0\n",
        "[channels][0].discord_channel_id: expected greater than 0, got 0",
    ),
    (
        "[[channels]]\nname='a'\nkind='x'\nschedule='0 9 * * *'\n"
        "[[channels]]\nname='a'\nkind='outbox'\nschedule='0 9 * * *'\n",
        'channel names must be unique; "a" appears twice',
    ),
    (
        "[[channels]]\nname='a'\nkind='outbox'\norigin='discord'\n",
        "[channels][0]: origin is not set in the config file",
    ),
    (
        "[[channels]]\nname='a'\nkind='x'\nmissing=['X_API_KEY']\n",
        "[channels][0]: missing is not set in the config file",
    ),
    (
        "[[channels]]\nname='m'\nkind='mastodon'\n",
        "api_base: a channel of kind mastodon needs its instance",
    ),
    (
        "[[channels]]\nname='m'\nkind='mastodon'\napi_base='mastodon.social'\n",
        '[channels][0].api_base: expected an http or https URL such as "https://mastodon.social"',
    ),
    ("[[channels]]\nname='f'\nkind='facebook'\n", "page_id: a channel of kind facebook needs"),
    ("[[channels]]\nname='a'\nkind='x'\nmax_items='5'\n", "[channels][0].max_items"),
    ("[[channels]]\nname='t'\nkind='telegram'\n", "telegram_chat: a channel of kind telegram"),
    (
        "[[channels]]\nname='t'\nkind='telegram'\ntelegram_chat='my channel'\n",
        '[channels][0].telegram_chat: expected a channel\'s "@username" (5-32 characters) or',
    ),
    ("[[channels]]\nname='m'\nkind='matrix'\n", "matrix_room, api_base: a channel of kind"),
    (
        "[[channels]]\nname='m'\nkind='matrix'\nmatrix_room='#papers:matrix.org'\n"
        "api_base='https://matrix.org'\n",
        '[channels][0].matrix_room: expected a room id such as "!abc123:matrix.org"',
    ),
    (
        "[[channels]]\nname='s'\nkind='slack'\nslack_channel='#general'\n",
        '[channels][0].slack_channel: expected a conversation id such as "C0123456789"',
    ),
    (
        "[[channels]]\nname='s'\nkind='x'\nslack_channel='C0123456789'\n",
        "slack_channel: only a channel of kind slack has it",
    ),
    (
        "[[channels]]\nname='e'\nkind='email'\nemail_to=['a@example.org']\n",
        "email_to, email_from, smtp_host: a channel of kind email needs",
    ),
    (
        "[[channels]]\nname='e'\nkind='email'\nemail_to=['Ada <a@example.org>']\n"
        "email_from='d@example.org'\nsmtp_host='smtp.example.org'\n",
        '[channels][0].email_to[0]: expected one address such as "name@example.org"',
    ),
    (
        "[[channels]]\nname='e'\nkind='email'\nemail_to=['a@example.org']\n"
        "email_from='d@example.org'\nsmtp_host='smtp.example.org'\nsmtp_security='ssl'\n",
        "[channels][0].smtp_security: expected 'starttls', 'tls' or 'none'",
    ),
    (
        "[[channels]]\nname='e'\nkind='email'\nemail_to=['a@example.org']\n"
        "email_from='d@example.org'\nsmtp_host='smtp.example.org'\nunsubscribe='http://x.org'\n",
        'unsubscribe: an https URL or a "mailto:" address',
    ),
    ("[arxiv\n", "not valid TOML"),
    ("[console]\nuser = '" + "x" * 65 + "'\n", "[console].user: User names are at most 64"),
    ('[console]\nuser = "ad\\u001ba"\n', "[console].user: The user name contains a control"),
    ("[console]\nmoderator = 'yes'\n", "[console].moderator: expected a valid boolean"),
]


@pytest.mark.parametrize(("body", "expected"), BAD_CONFIGS)
def test_a_bad_config_gets_one_line_naming_file_and_key(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


SECRETS_IN_FILE = [
    ("[discord]\ntoken = 'MTA.abc.def'\n", "[discord].token", "DISCORD_TOKEN"),
    (
        "[[channels]]\nname='a'\nkind='x'\nschedule='0 9 * * *'\naccess_token='zz'\n",
        "[channels][0].access_token",
        "X_ACCESS_TOKEN",
    ),
    (
        "[[channels]]\nname='f'\nkind='facebook'\nschedule='0 9 * * *'\npage_token='EAAB'\n",
        "[channels][0].page_token",
        "FACEBOOK_PAGE_TOKEN",
    ),
    ("[database]\nurl = 'postgresql://app:pw@db/x'\n", "[database].url", "DATABASE_URL"),
    (
        "[[channels]]\nname='s'\nkind='slack'\nbot_token='xoxb-1'\n",
        "[channels][0].bot_token",
        "SLACK_BOT_TOKEN",
    ),
    (
        "[[channels]]\nname='e'\nkind='email'\npassword='hunter2'\n",
        "[channels][0].password",
        "SMTP_PASSWORD",
    ),
    ("[bluesky]\napp_password = 'abcd-efgh'\n", "[bluesky].app_password", "BLUESKY_APP_PASSWORD"),
]


@pytest.mark.parametrize(("body", "key", "variable"), SECRETS_IN_FILE)
def test_a_secret_in_the_file_is_refused_and_the_variable_named(
    tmp_path: Path, body: str, key: str, variable: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, body), environ={})
    message = str(caught.value)
    assert key in message
    assert f"set {variable} in the environment" in message
    # The refusal must not echo the secret back.
    for secret in ("MTA.abc.def", "zz'", "EAAB", ":pw@", "abcd-efgh"):
        assert secret not in message


def test_secrets_come_from_the_environment_and_hide_in_reprs() -> None:
    secrets = Secrets.from_env({"DISCORD_TOKEN": "tok-123456", "X_API_KEY": "  "})
    assert secrets.get("discord_token") == "tok-123456"
    assert secrets.get("x_api_key") is None
    assert "tok-123456" not in repr(secrets)
    assert secrets.revealed() == ["tok-123456"]


def test_an_unknown_secret_name_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        Secrets.from_env({}).get("discord_tokn")
