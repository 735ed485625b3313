"""The Jinja2 templates of every platform: shipped in the package, overridable by file.

The environment is strict (``StrictUndefined``): a misspelt variable is an error. And
every template is rendered once with a sample digest when the service starts
(:meth:`Templates.check`), so such an error stops the start with the template's name and
line, instead of surfacing at the first scheduled post. A template that fails only on some
data (a misspelt name inside an ``if``) fails when it meets that data, with the same
:class:`TemplateProblem`. HTML and XML templates are autoescaped; plain-text ones are not
(their readers are networks that show text as text).

Everything rendered here is shown somewhere (a post, a page of the archive, a digest
file), so it leaves without bidirectional embeddings, overrides and isolates
(:mod:`publishers.render.bidi`) and without the characters X refuses in a post (U+FEFF,
U+FFFE, U+FFFF: :mod:`publishers.render.unpostable`), whichever template or field brought
them.
"""

from __future__ import annotations

import re
import traceback
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publishers.render import bidi, unpostable
from publishers.render.plain_text import PlainText
from publishers.render.summaries import SummaryItem

if TYPE_CHECKING:  # Jinja is imported with the first template used (Templates.environment)
    import jinja2

TEMPLATE_NAMES = (
    "x/summary.txt.j2",
    "x/single.txt.j2",
    "x/read_on.txt.j2",
    "bluesky/summary.txt.j2",
    "bluesky/single.txt.j2",
    "bluesky/read_on.txt.j2",
    "mastodon/summary.txt.j2",
    "mastodon/single.txt.j2",
    "mastodon/read_on.txt.j2",
    "facebook/summary.txt.j2",
    "facebook/read_on.txt.j2",
    "discord/summary.md.j2",
    "discord/read_on.md.j2",
    # slack
    "slack/summary.md.j2",
    "slack/read_on.md.j2",
    "slack/button.txt.j2",
    # telegram
    "telegram/summary.html.j2",
    "telegram/read_on.html.j2",
    # matrix
    "matrix/summary.txt.j2",
    "matrix/summary.html.j2",
    "matrix/read_on.txt.j2",
    "matrix/read_on.html.j2",
    # email
    "email/subject.txt.j2",
    "email/digest.txt.j2",
    "email/digest.html.j2",
    "email/read_on.txt.j2",
    "email/read_on.html.j2",
    "outbox/summary.md.j2",
    "outbox/_page.html.j2",
    "outbox/digest.html.j2",
    "outbox/posts.html.j2",
)


_NOT_SHOWN = re.compile(
    "[" + bidi.CONTROLS.pattern.strip("[]") + unpostable.UNPOSTABLE.pattern.strip("[]") + "]"
)
"""What :func:`bidi.neutralise` and :func:`unpostable.remove` take out, both single
characters, in one scan of the text instead of two (a page is thousands of characters)."""
NOT_SHOWN_CHARACTERS = tuple(
    chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF, 0xFFFE, 0xFFFF)
)
"""The characters ``_NOT_SHOWN`` matches (a test holds them equal), each looked for first:
in text of Latin-1 alone (most pages) Python answers that at once, without a scan."""


def _shown(text: str) -> str:
    """``text`` without what is never shown; a regex pass only when one is there (the
    pass was an eighth of an archive page's cost)."""
    if any(character in text for character in NOT_SHOWN_CHARACTERS):
        return _NOT_SHOWN.sub("", text)
    return text


class TemplateProblem(Exception):
    """A template cannot be used; the message names the template and the line."""


class Templates:
    """Loads templates from ``override`` first, then from the package."""

    def __init__(self, override: Path | None = None, *, auto_reload: bool = True) -> None:
        """``auto_reload``: check each template's file for changes at every use, as a
        long-running process must; a full build's worker, which lives for one build, skips
        that (a million pages meant millions of file checks)."""
        if override is not None and not override.is_dir():
            raise TemplateProblem(f"templates_dir {override} is not a folder")
        self.override = override
        self.auto_reload = auto_reload

    @cached_property
    def environment(self) -> jinja2.Environment:
        """Jinja's environment, made when the first template is used: `shortscience run`
        builds its renderer at start-up but may render nothing for hours, and Jinja with
        its compiled templates is about 2 MB of the idle service (issue 21)."""
        import jinja2

        loaders: list[jinja2.BaseLoader] = []
        if self.override is not None:
            loaders.append(jinja2.FileSystemLoader(str(self.override)))
        loaders.append(jinja2.PackageLoader("publishers", "templates"))
        return jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html", "html.j2", "xml", "xml.j2")
            ),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=self.auto_reload,
        )

    def render(self, name: str, **context: Any) -> str:
        """Render a template; any failure is a one-line TemplateProblem naming the line."""
        environment = self.environment
        import jinja2  # loaded by the environment above; here for its exceptions

        try:
            template = environment.get_template(name)
            return _shown(template.render(**context).strip())
        except jinja2.TemplateSyntaxError as error:
            raise TemplateProblem(
                f"{error.filename or name}, line {error.lineno}: {error.message}"
            ) from None
        except jinja2.TemplateNotFound as error:
            missing = f" (it includes {error.name})" if error.name != name else ""
            raise TemplateProblem(f"no template {name}{missing}") from None
        except jinja2.TemplateError as error:
            raise TemplateProblem(f"{_where(error, name)}: {error.message}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as error:
            # An expression of the template failed on this data ({{ summary.title + 1 }});
            # one raised outside any template is a bug of ours and keeps its traceback.
            where = _template_frame(error, name)
            if where is None:
                raise
            raise TemplateProblem(f"{where}: {type(error).__name__}: {error}") from None

    def source(self, name: str) -> str:
        """A template's text as it is loaded (an override's if there is one): what a
        built archive records, so it is built again when a template changes."""
        environment = self.environment
        import jinja2  # loaded by the environment above; here for its exception

        try:
            text, _, _ = environment.loader.get_source(environment, name)  # type: ignore[union-attr]
        except jinja2.TemplateNotFound:
            raise TemplateProblem(f"no template {name}") from None
        return text

    def check(self) -> None:
        """Render every template with a sample, so a broken one fails now, not at 09:00."""
        sample = _sample()
        for name in TEMPLATE_NAMES:
            self.render(name, **sample)


def _template_frame(error: BaseException, name: str) -> str | None:
    """The template file and line an error was raised at (Jinja maps frames to them)."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.endswith((".j2", name)):
            return f"{frame.filename}, line {frame.lineno}"
    return None


def _where(error: BaseException, name: str) -> str:
    return _template_frame(error, name) or name


class _Sample:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class _SampleSummary(SummaryItem):
    """The sample summary with its text forms written out: exactly what the converters make
    of its TL;DR and body (tests/publishers/render/test_template_sample.py checks that they agree),
    so checking the templates at start-up does not load the Markdown and LaTeX converters,
    which only digests need."""

    @cached_property
    def plain(self) -> PlainText:
        return PlainText("The optimizer is learned: gₜ = m(∇f(θₜ), hₜ; ϕ).", ((26, 47),))

    @cached_property
    def title_text(self) -> str:
        return "Learning to learn by gradient descent by gradient descent"

    @cached_property
    def title_discord(self) -> str:
        return "Learning to learn by gradient descent by gradient descent"

    @cached_property
    def title_html(self) -> str:
        return "Learning to learn by gradient descent by gradient descent"

    @cached_property
    def tldr_text(self) -> str:
        return "An LSTM learns the update rule of θₜ₊₁ = θₜ + gₜ."

    @cached_property
    def discord_text(self) -> str:
        return "The optimizer is **learned**: `gₜ = m(∇f(θₜ), hₜ; ϕ)`."

    @cached_property
    def tldr_discord(self) -> str:
        return "An LSTM learns the update rule of `θₜ₊₁ = θₜ + gₜ`."

    @cached_property
    def html(self) -> str:
        return (
            '<p>The optimizer is <strong>learned</strong>: <span class="math inline"><math '
            'xmlns="http://www.w3.org/1998/Math/MathML" display="inline"><mrow><msub><mi>g</mi>'
            '<mi>t</mi></msub><mo>=</mo><mi>m</mi><mo stretchy="false">(</mo><mo>∇</mo><mi>f'
            '</mi><mo stretchy="false">(</mo><msub><mi>θ</mi><mi>t</mi></msub><mo stretchy="false'
            '">)</mo><mo>,</mo><msub><mi>h</mi><mi>t</mi></msub><mi>;</mi><mi>ϕ</mi><mo '
            'stretchy="false">)</mo></mrow></math></span>.</p>\n'
        )

    @cached_property
    def tldr_html(self) -> str:
        return (
            'An LSTM learns the update rule of <span class="math inline"><math xmlns="http://www.'
            'w3.org/1998/Math/MathML" display="inline"><mrow><msub><mi>θ</mi><mrow><mi>t</mi><mo>'
            "+</mo><mn>1</mn></mrow></msub><mo>=</mo><msub><mi>θ</mi><mi>t</mi></msub><mo>+</mo>"
            "<msub><mi>g</mi><mi>t</mi></msub></mrow></math></span>."
        )


def _sample() -> dict[str, Any]:
    """Every variable any shipped template may use, with realistic values."""
    summary = _SampleSummary(
        id=1,
        tldr="An LSTM learns the update rule of $\\theta_{t+1} = \\theta_t + g_t$.",
        body="The optimizer is **learned**: $g_t = m(\\nabla f(\\theta_t), h_t; \\phi)$.",
        author="ada",
        title="Learning to learn by gradient descent by gradient descent",
        authors=("Marcin Andrychowicz", "Misha Denil"),
        arxiv_id="1606.04474",
        link="https://arxiv.org/abs/1606.04474",
        categories=("cs.NE", "cs.LG"),
        approved_at=datetime(2026, 11, 27, tzinfo=UTC),
    )
    return {
        "summary": summary,
        "tldr": summary.tldr_text,
        "link": summary.link,
        "channel": _Sample(name="sample", kind="x"),
        "digest": _Sample(summaries=[summary], count=1, date="2026-11-27"),
        "page": _Sample(
            digest_id=1,
            network="X",
            date="2026-11-27",
            markdown=False,
            parts=2,
            posts=[
                _Sample(
                    number=1,
                    parts=[
                        _Sample(number=1, html="📄 Learning to learn 1/2"),
                        _Sample(
                            number=2,
                            html='<a href="https://arxiv.org/abs/1606.04474">'
                            "https://arxiv.org/abs/1606.04474</a> 2/2",
                        ),
                    ],
                )
            ],
        ),
    }
