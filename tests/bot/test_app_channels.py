"""The wiring reads each channel's credentials from the environment and says what is missing.

Slack takes either of two ways in, and email needs a password only with a login, so for
them "missing" is not "every variable of the kind".
"""

from __future__ import annotations

from pathlib import Path

from bot.app import channel_settings
from bot.config import load_config
from publishers.networks.factory import Clients
from publishers.settings import ChannelSettings

SLACK = "[[channels]]\nname='lab'\nkind='slack'\n"
EMAIL = (
    "[[channels]]\nname='news'\nkind='email'\nemail_to=['readers@example.org']\n"
    "email_from='digest@example.org'\nsmtp_host='smtp.example.org'\n"
)


def wired(tmp_path: Path, body: str, environ: dict[str, str]) -> ChannelSettings:
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    [channel] = channel_settings(load_config(path, environ=environ))
    return channel


def route(channel: ChannelSettings, tmp_path: Path) -> str:
    return Clients(fallback_dir=tmp_path / "outbox").route(channel)


def test_a_slack_webhook_alone_is_enough(tmp_path: Path) -> None:
    channel = wired(
        tmp_path, SLACK, {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x"}
    )
    assert channel.missing == ()
    assert route(channel, tmp_path) == "network"


def test_a_slack_bot_token_needs_the_channel_it_posts_in(tmp_path: Path) -> None:
    alone = wired(tmp_path, SLACK, {"SLACK_BOT_TOKEN": "xoxb-1"})
    assert alone.missing == ("SLACK_BOT_TOKEN (with slack_channel) or SLACK_WEBHOOK_URL",)
    assert route(alone, tmp_path) == "folder"
    placed = wired(tmp_path, SLACK + "slack_channel='C0123456789'\n", {"SLACK_BOT_TOKEN": "xoxb-1"})
    assert placed.missing == ()
    assert placed.credentials == {"bot_token": "xoxb-1"}
    assert route(placed, tmp_path) == "network"


def test_a_slack_channel_with_neither_writes_to_the_folder_and_names_both(tmp_path: Path) -> None:
    channel = wired(tmp_path, SLACK, {})
    assert channel.missing == ("SLACK_BOT_TOKEN (with slack_channel) or SLACK_WEBHOOK_URL",)
    assert route(channel, tmp_path) == "folder"


def test_email_without_a_login_needs_no_password(tmp_path: Path) -> None:
    channel = wired(tmp_path, EMAIL, {})
    assert channel.missing == () and channel.credentials == {}
    assert route(channel, tmp_path) == "network"


def test_email_with_a_login_needs_its_password(tmp_path: Path) -> None:
    body = EMAIL + "smtp_username='digest@example.org'\n"
    assert wired(tmp_path, body, {}).missing == ("SMTP_PASSWORD",)
    channel = wired(tmp_path, body, {"SMTP_PASSWORD": "pw"})
    assert channel.missing == () and channel.credentials == {"password": "pw"}


def test_telegram_and_matrix_need_their_tokens(tmp_path: Path) -> None:
    telegram = "[[channels]]\nname='tg'\nkind='telegram'\ntelegram_chat='@shortscience'\n"
    assert wired(tmp_path, telegram, {}).missing == ("TELEGRAM_BOT_TOKEN",)
    matrix = (
        "[[channels]]\nname='mx'\nkind='matrix'\nmatrix_room='!abc:matrix.org'\n"
        "api_base='https://matrix.org'\n"
    )
    channel = wired(tmp_path, matrix, {"MATRIX_ACCESS_TOKEN": "syt_1"})
    assert channel.missing == () and channel.credentials == {"access_token": "syt_1"}
