"""LaTeX math becomes Unicode a reader understands, or its plainest linear form; never LaTeX.

The table holds every formula of the seed summaries (tests/fixtures/summaries) and the
tricky cases the issue names: grouping that must survive (θₜ₊₁ or θ_(t+1), never θ_t+1),
fractions, matrices, fences, fonts, operator names and garbage.
"""

# The expected values are the Unicode math characters themselves (−, ℝ, ∣), on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publishers.render.math_text import latex_to_unicode

COMMAND = re.compile(r"\\[A-Za-z]")

SEED_FORMULAS = [
    # 1606.04474, learning to learn
    (r"f: \mathbb R^{\text{dim}(\theta)} \rightarrow \mathbb R^+", "f: ℝ^(dim(θ)) → ℝ⁺"),
    (r"\theta", "θ"),
    (
        r"\theta_{t+1} = \theta_t - \alpha_t \nabla_{\theta_t} f(\theta_t)",
        "θₜ₊₁ = θₜ − αₜ ∇_(θₜ) f(θₜ)",
    ),
    (r"-\alpha_t", "−αₜ"),
    (r"\theta_{t+1} = \theta_t + g_t", "θₜ₊₁ = θₜ + gₜ"),
    (r"g_t \in \mathbb R^{\text{dim}(\theta)}", "gₜ ∈ ℝ^(dim(θ))"),
    (r"m_\phi", "m_ϕ"),
    (
        r"(g_t, h_{t+1}) := m_\phi (\nabla_{\theta_t} f(\theta_t), h_t)",
        "(gₜ, hₜ₊₁) := m_ϕ (∇_(θₜ) f(θₜ), hₜ)",
    ),
    (r"\text{dim}(\theta)", "dim(θ)"),
    (
        r"\mathcal L(\phi) := \mathbb E_f[f(\theta^*(f, \phi))] "
        r"\approx \frac1T \sum_{t=1}^T f(\theta_t)",
        "ℒ(ϕ) := 𝔼_f[f(θ*(f, ϕ))] ≈ 1/T ∑ₜ₌₁ᵀ f(θₜ)",
    ),
    (r"\frac{\partial \mathcal L(\phi)}{\partial \phi}", "∂ℒ(ϕ)/∂ϕ"),
    (
        r"\frac{\partial}{\partial \phi} \nabla_{\theta_t}f(\theta_t) \approx 0",
        "∂/∂ϕ ∇_(θₜ)f(θₜ) ≈ 0",
    ),
    (r"\nabla_t := \nabla_{\theta_t}f(\theta_t)", "∇ₜ := ∇_(θₜ)f(θₜ)"),
    # 1606.02960, beam search optimisation
    (r"S_t", "Sₜ"),
    (r"K_{tr} >= K_{te} + 1", "Kₜᵣ >= Kₜₑ + 1"),
    (r"t=T", "t=T"),
    # 1605.08803, real NVP
    (r"f = g^{-1}", "f = g⁻¹"),
    (
        r"p_X(x) = p_Z(z) \left|{\rm det}\left(\frac{\partial g(z)}{\partial z}\right)\right|^{-1}",
        "p_X(x) = p_Z(z) |det(∂g(z)/∂z)|⁻¹",
    ),
    (
        r"p_X(x) = p_Z(f(x)) \left|{\rm det}\left(\frac{\partial f(x)}{\partial x}\right)\right|",
        "p_X(x) = p_Z(f(x)) |det(∂f(x)/∂x)|",
    ),
    (r"z\sim p_Z", "z ∼ p_Z"),
    (
        r"b\odot x + (1-b) \odot (x \odot \exp(l(b\odot x)) + m(b\odot x))",
        "b ⊙ x + (1−b) ⊙ (x ⊙ exp(l(b ⊙ x)) + m(b ⊙ x))",
    ),
    (r"b_i = 1", "bᵢ = 1"),
    (r"x_i * \exp(l(b\odot x)_i) + m(b\odot x)_i", "xᵢ * exp(l(b ⊙ x)ᵢ) + m(b ⊙ x)ᵢ"),
    (r"\exp(\sum_i (1-b_i) l(b\odot x)_i)", "exp(∑ᵢ (1−bᵢ) l(b ⊙ x)ᵢ)"),
    (r"{\rm logit}(\alpha + (1-\alpha)\odot x)", "logit(α + (1−α) ⊙ x)"),
    (r"[0,255]", "[0,255]"),
]

TRICKY = [
    # grouping: Unicode scripts when every character has one, else a visible group
    (r"x_{b1}", "x_(b1)"),
    (r"x^{2n}", "x²ⁿ"),
    (r"e^{x^2}", "e^(x²)"),
    (r"x_{i,j}", "x_(i,j)"),
    (r"\max_{\theta \in \Theta} L", "max_(θ ∈ Θ) L"),
    (r"\lim_{n \to \infty} a_n", "lim_(n → ∞) aₙ"),
    (r"\mathcal{L}_{\text{VAE}}", "ℒ_(VAE)"),
    (r"A^\top", "Aᵀ"),
    (r"90^\circ", "90°"),
    (r"\|\theta\|^2_2", "‖θ‖²₂"),
    # fractions: a/b, compound parts parenthesised, nested ones linear
    (r"\frac{a}{b}", "a/b"),
    (r"\frac{t+1}{T}", "(t+1)/T"),
    (r"\frac{\frac{a}{b}}{\frac{c}{d}}", "(a/b)/(c/d)"),
    (r"e^{\frac{1}{2}}", "e^(1/2)"),
    (r"\tfrac{1}{2}", "1/2"),
    (r"\binom{n}{k}", "(n choose k)"),
    # roots
    (r"\sqrt{x+1}", "√(x+1)"),
    (r"\sqrt{2}", "√2"),
    (r"\sqrt[3]{x}", "∛x"),
    (r"\sqrt[n]{y}", "ⁿ√y"),
    # matrices and cases: linear forms
    (r"\begin{pmatrix} a & b \\ c & d\end{pmatrix}", "[[a, b], [c, d]]"),
    (r"\begin{bmatrix} 1 & 0 \\ 0 & 1 \\ \end{bmatrix}", "[[1, 0], [0, 1]]"),
    (r"\begin{vmatrix} a & b \\ c & d\end{vmatrix}", "|[[a, b], [c, d]]|"),
    (r"\begin{array}{cc} 1 & 2 \\ 3 & 4 \end{array}", "[[1, 2], [3, 4]]"),
    (r"\begin{cases} x & x>0 \\ 0 & \text{otherwise}\end{cases}", "{x, x>0; 0, otherwise}"),
    (r"\begin{aligned} a &= b \\ &= c\end{aligned}", "a = b; = c"),
    # fences, fonts, operator names, spacing
    (r"\left\{ x \right\}", "{x}"),
    (r"\left. x \right|_0", "x |₀"),
    (r"\langle x, y \rangle", "⟨x, y⟩"),
    (r"\|x\| \{a\}", "‖x‖ {a}"),
    (r"a \, b \; c \quad d \! e", "a b c d e"),
    (r"\log x + \log(x)", "log x + log(x)"),
    (r"\operatorname{softmax}(x)", "softmax(x)"),
    (
        r"\mathrm{Attention}(Q, K, V) = \mathrm{softmax}(QK^\top / \sqrt{d_k}) V",
        "Attention(Q, K, V) = softmax(QKᵀ / √dₖ) V",
    ),
    (r"-\sum_{t=1}^{T} \log p_\theta(y_t \mid y_{<t}, x)", "−∑ₜ₌₁ᵀ log p_θ(yₜ ∣ y_(<t), x)"),
    (r"\mathbf{x}^\top \mathbf{W}", "xᵀ W"),
    (r"\boldsymbol\mu", "μ"),
    (r"\mathbb{N}^+", "ℕ⁺"),
    (r"\mathbb{1}", "𝟙"),
    (r"\text{a - b} - c", "a - b − c"),
    (r"\int_0^1 f(x)\,dx", "∫₀¹ f(x) dx"),
    (r"\sum\limits_{i} x_i", "∑ᵢ xᵢ"),
    (r"x \leq y \geq z \neq w", "x ≤ y ≥ z ≠ w"),
    (r"\not= \not\in", "≠ ∉"),
    (r"\hat x \bar{xy} \vec v", "x̂ x̅y̅ v⃗"),
    (r"\hat{\theta}_{MLE}", "θ̂_(MLE)"),
    (r"\dot{x} = Ax", "ẋ = Ax"),
    (r"f'(x)", "f′(x)"),
    (r"50\%", "50%"),
    # no command survives: unknown ones become their names, lone backslashes go
    (r"\foo{bar} \unknowncmd x", "foo bar unknowncmd x"),
    (r"\backslash n", "⧵ n"),
    (r"\cite{foo}", "foo"),
    ("a\\", "a"),
    ("\\", ""),
    # garbage does not raise
    (r"\frac{", ""),
    (r"\frac{a}", "a"),
    (r"x^", "x"),
    ("$", ""),
    (r"}{", ""),
    (r"\left(", "("),
    (r"{{{{x}}}}", "x"),
    (r"\begin{foo} x", "x"),
]


@pytest.mark.parametrize(("tex", "expected"), SEED_FORMULAS + TRICKY)
def test_formulas_read_as_unicode(tex: str, expected: str) -> None:
    assert latex_to_unicode(tex) == expected


@pytest.mark.parametrize(
    ("tex", "wrong"),
    [(r"\theta_{t+1}", "θ_t+1"), (r"\left( x \right)", "≤ft"), (r"\log x", "łog")],
)
def test_the_failures_the_issue_measured_do_not_happen(tex: str, wrong: str) -> None:
    """unicodeit alone turns \\left into ≤ft and \\log into łog; latex2text flattens groups."""
    assert wrong not in latex_to_unicode(tex)


@pytest.mark.parametrize(
    ("tex", "expected"),
    [
        # LaTeX sets \bmod as a binary operator "a mod n", \pmod{n} as "(mod n)" after a
        # space, \pod{n} as "(n)", \mod n as "mod n" after a space.
        (r"a \bmod n", "a mod n"),
        (r"a\bmod b", "a mod b"),
        (r"(x + y) \bmod 2^k", "(x + y) mod 2ᵏ"),
        (r"\gcd(a, b) \bmod 2", "gcd(a, b) mod 2"),
        (r"a \equiv b \pmod{n}", "a ≡ b (mod n)"),
        (r"a \equiv b \pmod n", "a ≡ b (mod n)"),
        (r"a \equiv b \pmod{n^2}", "a ≡ b (mod n²)"),
        (r"x \equiv 1 \pmod{p - 1}", "x ≡ 1 (mod p − 1)"),
        (r"x \equiv y \pod{m}", "x ≡ y (m)"),
        (r"a \equiv b \mod n", "a ≡ b mod n"),
    ],
)
def test_modular_arithmetic_reads_as_latex_prints_it(tex: str, expected: str) -> None:
    assert latex_to_unicode(tex) == expected


SUBSCRIPTABLE = "0123456789+=()aehijklmnoprstuvx"


@given(st.text(alphabet=SUBSCRIPTABLE + "bcdfgqwyz", min_size=2, max_size=6))
@settings(max_examples=200)
def test_a_subscript_group_keeps_its_grouping(group: str) -> None:
    """Either every character became a subscript, or the group is visibly parenthesised."""
    result = latex_to_unicode(f"x_{{{group}}}")
    scripted = all(char in SUBSCRIPTABLE for char in group)
    if scripted:
        assert "_" not in result
        assert len(result) == 1 + len(group)
    else:
        assert result.startswith("x_(") and result.endswith(")")


LATEXISH = st.lists(
    st.sampled_from(
        [
            "\\frac",
            "\\frac12",
            "\\sqrt",
            "\\alpha",
            "\\theta",
            "\\mathbb",
            "\\mathcal",
            "\\text",
            "\\rm",
            "\\left",
            "\\right",
            "\\|",
            "\\{",
            "\\}",
            "\\log",
            "\\sum",
            "\\begin{pmatrix}",
            "\\end{pmatrix}",
            "\\begin{cases}",
            "\\end{cases}",
            "\\begin{aligned}",
            "\\end{aligned}",
            "&",
            "\\\\",
            "\\,",
            "\\quad",
            "\\foo",
            "\\hat",
            "\\not",
            "\\operatorname",
            "\\unknown",
            "\\",
            "{",
            "}",
            "_",
            "^",
            "(",
            ")",
            "[",
            "]",
            "|",
            "$",
            "%",
            "x",
            "y",
            "1",
            "2",
            "+",
            "-",
            "=",
            " ",
            "'",
            "\\'",
            "\\verb",
            "\\newcommand",
            "\\label",
            "\\begin",
            "\\end",
            "\\x",
            "~",
            "#",
        ]
    ),
    max_size=30,
).map("".join)


@given(LATEXISH)
@settings(max_examples=400)
def test_no_command_survives_generated_latex(tex: str) -> None:
    assert not COMMAND.search(latex_to_unicode(tex))


@given(st.text(max_size=80))
@settings(max_examples=300)
def test_garbage_never_raises_and_never_shows_a_backslash(tex: str) -> None:
    assert "\\" not in latex_to_unicode(tex)
