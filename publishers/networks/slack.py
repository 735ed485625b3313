"""Posts to a Slack channel with slack-sdk: a bot token's ``chat.postMessage``, or an
incoming webhook.

* **Bot token** (``SLACK_BOT_TOKEN`` and ``slack_channel``): each part is one
  ``chat.postMessage`` with its ``text`` and ``blocks``; a thread's later parts are
  replies, their ``thread_ts`` the first part's ``ts``. Every message carries the part's
  key in its message metadata (``event_type`` ``shortscience_post``), so after a lost
  answer :meth:`SlackClient.find` reads the channel's history (``conversations.history``,
  or ``conversations.replies`` for a reply) with ``include_all_metadata`` and finds it.
  A message's link (``Posted.url``) is its permalink, built as Slack's own are
  (``{workspace}archives/{channel}/p{ts without the dot}``, a reply with its
  ``thread_ts``), the workspace's address asked once with ``auth.test``.
* **Incoming webhook** (``SLACK_WEBHOOK_URL``): the webhook answers ``ok`` and no
  ``ts``, so nothing can reply to its messages (the renderer lays out a webhook channel
  as one message per summary whatever ``thread`` says; parts that still come as a thread
  are posted one after the other) and nothing can be looked up: ``find`` raises
  ``LookupUnsupported`` and a moderator decides. The URL is a secret.

The text goes out with ``parse`` ``none`` and ``link_names`` false (Slack's defaults, said
out loud) and the blocks' mrkdwn is ``verbatim``: only the markup the renderer wrote is
read, so "@channel" in a summary stays text, as ``<!channel>`` does once escaped.
``unfurl_links`` and ``unfurl_media`` are false: every summary links its paper, and a
preview card of the same arXiv page under each message would be taller than the summary
(the button already leads there).

The SDK retries a failed connection by itself by default; here it never does (no retry
handlers): a connection lost after the request went out may have made the message, and
the delivery worker decides what happens next. urllib, which slack-sdk speaks HTTP with,
wraps every failure to connect or to write the request in ``URLError``; what fails while
waiting for the answer (a timeout, a dropped connection) comes bare, after the request
was sent: ``Transient`` for the first, ``UnknownOutcome`` for the second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from http.client import HTTPException
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.webhook import WebhookClient, WebhookResponse

from publishers.networks.base import (
    LookupUnsupported,
    Network,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.networks.transport import redact, retry_after
from publishers.render.slack_blocks import webhook_only
from publishers.settings import ChannelSettings

log = logging.getLogger(__name__)

EVENT_TYPE = "shortscience_post"
"""The message metadata's ``event_type`` our messages carry, the part's key its payload."""
LOOKUP_MARGIN = timedelta(minutes=10)
"""How far before the first attempt a look-up reads: Slack's clock and ours may differ."""
LOOKUP_PAGES = 5
LOOKUP_PAGE_SIZE = 200
"""A look-up reads at most 1,000 messages (conversations.history recommends pages of at
most 200); more since the first attempt and it gives up: a moderator decides."""
DEFAULT_RATE_WAIT = timedelta(seconds=60)
"""The wait after a 429 that says nothing (Slack's documented answer carries Retry-After)."""

_SDK_LOG = logging.getLogger(f"{__name__}.sdk")
# The SDK logs each webhook request's URL (a secret) at DEBUG and each failure at ERROR;
# every failure is reported through this module's errors instead.
_SDK_LOG.setLevel(logging.CRITICAL)
_NO_RETRIES: list[RetryHandler] = []

_HINTS = {
    "not_authed": "no token was sent; set SLACK_BOT_TOKEN",
    "invalid_auth": "the bot token is not valid; copy the Bot User OAuth Token again",
    "account_inactive": "the bot's token belongs to a deleted user or workspace",
    "token_revoked": "the bot token was revoked; reinstall the app and set the new token",
    "token_expired": "the bot token expired; turn off token rotation or set a fresh token",
    "no_permission": "the token lacks the permission; check the app's scopes",
    "channel_not_found": "slack_channel is not a conversation the bot can see "
    "(a private channel needs the bot invited: /invite @your-app)",
    "not_in_channel": "the bot is not in the channel: type /invite @your-app there",
    "is_archived": "the channel is archived; unarchive it or set another slack_channel",
    "restricted_action": "the workspace does not let this app post in the channel",
    "restricted_action_read_only_channel": "the channel is read-only for the app",
    "restricted_action_thread_only_channel": "the channel takes replies only",
    "restricted_action_non_threadable_channel": "the channel takes no threads; set thread = false",
    "ekm_access_denied": "the workspace's encryption keys refuse access",
    "team_access_not_granted": "the token is not granted access to this workspace",
    "org_login_required": "the workspace is being migrated to an Enterprise Grid org",
    "invalid_blocks": "Slack refused the message's blocks (a template made them too long?)",
    "invalid_blocks_format": "Slack refused the message's blocks",
    "msg_too_long": "the message is too long for Slack",
    "no_text": "the message had no text",
    "invalid_metadata_format": "Slack refused the message metadata",
    "invalid_metadata_schema": "Slack refused the message metadata",
    "metadata_too_large": "Slack refused the message metadata as too large",
}
_TRANSIENT = frozenset({"service_unavailable", "request_timeout", "team_added_to_org"})
_MAYBE_MADE = frozenset({"internal_error", "fatal_error"})
"""Slack's own words for these: "it's possible some aspect of the operation succeeded"."""
_WEBHOOK_HINTS = {
    "invalid_token": "the webhook URL is not valid any more; make a new one",
    "no_service": "the webhook was removed or disabled; make a new one",
    "no_service_id": "the webhook URL is incomplete",
    "no_team": "the webhook's workspace is gone",
    "team_disabled": "the webhook's workspace is disabled",
    "channel_not_found": "the webhook's channel is gone; make a new webhook",
    "channel_is_archived": "the webhook's channel is archived",
    "action_prohibited": "an admin restricted posting in the webhook's channel",
    "posting_to_general_channel_denied": "only admins may post in the webhook's channel",
    "invalid_payload": "Slack refused the message as sent",
    "no_text": "the message had no text",
    "too_many_attachments": "the message has too many attachments",
}


class SlackClient(Network):
    """One Slack channel: a bot token and the conversation's id, or an incoming webhook."""

    kind = "slack"
    uploads_media = False  # Slack messages here carry no pictures

    def __init__(
        self,
        *,
        bot_token: str | None = None,
        channel_id: str | None = None,
        webhook_url: str | None = None,
        api_base: str | None = None,
        timeout: float = 15.0,
        clock: Callable[[], datetime],
    ) -> None:
        if not webhook_url and not (bot_token and channel_id):
            raise ValueError("a Slack client needs a bot token and its channel, or a webhook")
        self.channel_id = channel_id
        self.timeout = timeout
        self._clock = clock
        self._secrets = tuple(filter(None, (bot_token, webhook_url)))
        self._web: WebClient | None = None
        self._workspace: str | None = None
        """The workspace's URL once known ("" when Slack named none)."""
        self._webhook: WebhookClient | None = None
        if bot_token and channel_id:
            self._web = WebClient(
                token=bot_token,
                base_url=f"{api_base}/api/" if api_base else WebClient.BASE_URL,
                timeout=timeout,  # type: ignore[arg-type]  # urllib takes a float
                logger=_SDK_LOG,
                retry_handlers=_NO_RETRIES,
            )
        else:
            self._webhook = WebhookClient(
                webhook_url or "",
                timeout=timeout,  # type: ignore[arg-type]
                logger=_SDK_LOG,
                retry_handlers=_NO_RETRIES,
            )

    @classmethod
    def from_settings(
        cls, channel: ChannelSettings, *, timeout: float, clock: Callable[[], datetime]
    ) -> SlackClient:
        """The channel's client: its bot token when it has one with ``slack_channel``,
        else its webhook (the same choice the renderer makes, see ``webhook_only``)."""
        found = channel.credentials
        if webhook_only(channel):
            return cls(webhook_url=found["webhook_url"], timeout=timeout, clock=clock)
        return cls(
            bot_token=found.get("bot_token"),
            channel_id=channel.slack_channel,
            api_base=channel.api_base,
            timeout=timeout,
            clock=clock,
        )

    def __repr__(self) -> str:
        way = "webhook" if self._webhook is not None else f"channel={self.channel_id!r}"
        return f"SlackClient({way})"

    @property
    def through_webhook(self) -> bool:
        """Whether messages go through the incoming webhook (no threads, no look-ups)."""
        return self._webhook is not None

    # -- posting ----------------------------------------------------------------------------

    def post(self, post: OutgoingPost) -> Posted:
        """Send one part as one message: in its thread when it is a later part."""
        blocks = list((post.rich or {}).get("blocks") or ()) or None
        if self._webhook is not None:
            return self._post_webhook(self._webhook, post, blocks)
        web = self._bot()
        parent = post.root or post.reply_to
        try:
            response = web.chat_postMessage(
                channel=self.channel_id or "",
                text=post.text,
                blocks=blocks,
                thread_ts=parent.remote_id if parent is not None else None,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"key": post.key}},
                unfurl_links=False,
                unfurl_media=False,
                link_names=False,
                parse="none",
            )
        except SlackApiError as error:
            raise self._api_error(error, "chat.postMessage") from None
        except URLError as error:
            raise Transient(self._safe(f"Slack could not be reached: {error.reason}")) from None
        except SlackClientError as error:
            raise Permanent(self._safe(f"slack-sdk refused the request: {error}")) from None
        except (OSError, HTTPException) as error:  # after the request went out
            raise UnknownOutcome(
                self._safe(
                    f"no answer from Slack after the message was sent ({type(error).__name__}: "
                    f"{error}); it may exist"
                )
            ) from None
        ts = response.get("ts")
        if not isinstance(ts, str) or not ts:
            raise UnknownOutcome("Slack answered ok but named no message (no ts)")
        return self._posted(ts, parent)

    def _post_webhook(
        self, webhook: WebhookClient, post: OutgoingPost, blocks: list[Any] | None
    ) -> Posted:
        try:
            response = webhook.send(
                text=post.text, blocks=blocks, unfurl_links=False, unfurl_media=False
            )
        except URLError as error:
            raise Transient(
                self._safe(f"the Slack webhook could not be reached: {error.reason}")
            ) from None
        except SlackClientError as error:
            raise Permanent(self._safe(f"slack-sdk refused the webhook: {error}")) from None
        except (OSError, HTTPException) as error:  # after the request went out
            raise UnknownOutcome(
                self._safe(
                    f"no answer from the Slack webhook after the message was sent "
                    f"({type(error).__name__}: {error}); it may exist"
                )
            ) from None
        if response.status_code == 200:
            # No ts: the part's key stands for the message (nothing can refer to it).
            return Posted(remote_id=f"webhook:{post.key}")
        raise self._webhook_error(response)

    # -- looking up ---------------------------------------------------------------------------

    def find(self, post: OutgoingPost) -> Posted | None:
        """Our message with this part's key in its metadata, posted since the first attempt
        (less :data:`LOOKUP_MARGIN`), or None; a reply is looked for in its thread.

        Reads at most :data:`LOOKUP_PAGES` pages: beyond them, LookupUnsupported. A
        webhook cannot read anything: LookupUnsupported.
        """
        if self._web is None:
            raise LookupUnsupported(
                "a Slack incoming webhook answers no message id and cannot read the channel; "
                "a moderator should check whether the message is there"
            )
        parent = post.root or post.reply_to
        since = post.not_before - LOOKUP_MARGIN if post.not_before is not None else None
        cursor: str | None = None
        for _ in range(LOOKUP_PAGES):
            page = self._history_page(parent, since, cursor)
            for message in page.get("messages") or ():
                if _key_of(message) == post.key and isinstance(message.get("ts"), str):
                    return self._posted(message["ts"], parent)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or not cursor:
                return None
        raise LookupUnsupported(
            f"more than {LOOKUP_PAGES * LOOKUP_PAGE_SIZE} messages in Slack channel "
            f"{self.channel_id} since the first attempt; a moderator should check the channel"
        )

    def _history_page(
        self, parent: Posted | None, since: datetime | None, cursor: str | None
    ) -> Mapping[str, Any]:
        web = self._bot()
        oldest = f"{since.timestamp():.6f}" if since is not None else None
        method = "conversations.replies" if parent is not None else "conversations.history"
        try:
            if parent is not None:
                response = web.conversations_replies(
                    channel=self.channel_id or "",
                    ts=parent.remote_id,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=LOOKUP_PAGE_SIZE,
                    cursor=cursor,
                )
            else:
                response = web.conversations_history(
                    channel=self.channel_id or "",
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=LOOKUP_PAGE_SIZE,
                    cursor=cursor,
                )
        except SlackApiError as error:
            code = _code(error.response.data)
            if code == "missing_scope":
                needed = _field(error.response.data, "needed") or "channels:history"
                raise LookupUnsupported(
                    f"the Slack bot may not read the channel to look a message up: add the "
                    f"{needed} scope to the app (groups:history for a private channel) and "
                    "reinstall it; until then a moderator checks the channel"
                ) from None
            raise self._api_error(error, method) from None
        except Exception as error:  # a read changes nothing: try again later
            raise Transient(
                self._safe(f"Slack {method} failed ({type(error).__name__}: {error})")
            ) from None
        return response.data if isinstance(response.data, dict) else {}

    def close(self) -> None:
        """Nothing to release: urllib opens a connection per request."""

    def _posted(self, ts: str, parent: Posted | None) -> Posted:
        """Where the message is: its ``ts``, and its link when the workspace is known."""
        workspace = self._workspace_url()
        if workspace is None:
            return Posted(remote_id=ts)
        url = f"{workspace}archives/{self.channel_id}/p{ts.replace('.', '')}"
        if parent is not None:
            url += f"?thread_ts={parent.remote_id}&cid={self.channel_id}"
        return Posted(remote_id=ts, url=url)

    def _workspace_url(self) -> str | None:
        """The workspace's address (``auth.test``'s ``url``), asked once after the first
        message went out, so it never delays or fails a post: without it, no link."""
        if self._workspace is None and self._web is not None:
            try:
                url = self._web.auth_test().get("url")
            except Exception as error:  # a link is a nicety: the message is made
                log.info("Slack auth.test failed (%s); messages get no link", type(error).__name__)
                return None
            self._workspace = url if isinstance(url, str) and url.startswith("http") else ""
            if self._workspace and not self._workspace.endswith("/"):
                self._workspace += "/"
        return self._workspace or None

    def _bot(self) -> WebClient:
        if self._web is None:  # pragma: no cover - callers check the webhook first
            raise Permanent("this Slack channel posts through a webhook, not a bot token")
        return self._web

    # -- errors ---------------------------------------------------------------------------------

    def _api_error(self, error: SlackApiError, method: str) -> PublishError:
        """What an answer of the Web API other than ok means for the worker."""
        response = error.response
        status = response.status_code
        headers = {str(name).lower(): str(value) for name, value in response.headers.items()}
        code = _code(response.data)
        if status == 429 or code == "ratelimited":
            when = retry_after(headers, self._clock()) or self._clock() + DEFAULT_RATE_WAIT
            return RateLimited(f"Slack rate limit on {method}", retry_at=when)
        if status >= 500 or code in _TRANSIENT:
            return Transient(f"Slack {method} failed: HTTP {status} {code or ''}".rstrip())
        if code in _MAYBE_MADE and method == "chat.postMessage":
            return UnknownOutcome(f"Slack answered {code} to {method}: the message may exist")
        if code in _MAYBE_MADE:
            return Transient(f"Slack answered {code} to {method}")
        if status != 200:
            return Permanent(
                f"Slack {method} answered HTTP {status}: check api_base and the bot token"
            )
        if code == "missing_scope":
            needed = _field(response.data, "needed") or "chat:write"
            return Permanent(
                f"Slack refused {method}: the app lacks the {needed} scope; add it under "
                "OAuth & Permissions and reinstall the app"
            )
        hint = _HINTS.get(code or "", "")
        return Permanent(
            self._safe(
                f"Slack refused {method}: {code or 'no error code'}"
                + (f" ({hint})" if hint else "")
            )
        )

    def _webhook_error(self, response: WebhookResponse) -> PublishError:
        status = response.status_code
        body = self._safe(str(response.body or "").strip())[:200]
        if status == 429:
            headers = {str(name).lower(): str(value) for name, value in response.headers.items()}
            when = retry_after(headers, self._clock()) or self._clock() + DEFAULT_RATE_WAIT
            return RateLimited("Slack rate limit on the incoming webhook", retry_at=when)
        if status >= 500:
            return Transient(f"the Slack webhook failed: HTTP {status}")
        hint = _WEBHOOK_HINTS.get(body, "")
        detail = f"{body} ({hint})" if hint else body or "no reason given"
        return Permanent(f"the Slack webhook refused the message: HTTP {status} {detail}")

    def _safe(self, text: str) -> str:
        return redact(text, self._secrets)


def _code(data: object) -> str | None:
    return _field(data, "error")


def _field(data: object, name: str) -> str | None:
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _key_of(message: Mapping[str, Any]) -> str | None:
    """The part's key in a message's metadata, if it is one of ours."""
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    key = payload.get("key") if isinstance(payload, dict) else None
    return key if isinstance(key, str) else None
