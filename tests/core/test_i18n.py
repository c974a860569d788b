"""Chinese for the users: every error code has a Simplified Chinese sentence, problems answer in
Chinese when Accept-Language prefers it (or the deployment's default says so), the code never
changes; labels of bands, columns and categories are translated."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

import coopmarket
from coopmarket import app as app_module
from coopmarket.core import i18n
from coopmarket.core.errors import DomainError

SRC = Path(coopmarket.__file__).parent
CODE_ARGUMENT = re.compile(r"""\bcode=["']([a-z][a-z0-9_]*)["']""")
PROBLEM_LITERAL = re.compile(r"""_problem\(\s*[0-9A-Za-z_.]+,\s*["']([a-z][a-z0-9_]*)["']""")


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """A module's ``NAME = "text"`` constants (a code may be passed as one)."""
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _code_arguments_by_name() -> set[str]:
    """The codes passed as ``code=NAME`` (this module's constant) or ``code=module.NAME`` (the
    constant of the module of that name in the package)."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in SRC.rglob("*.py")}
    by_module: dict[str, dict[str, str]] = {}
    for path, tree in trees.items():
        by_module.setdefault(path.stem, {}).update(_string_constants(tree))
    codes: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            for keyword in node.keywords if isinstance(node, ast.Call) else []:
                value = keyword.value
                if keyword.arg != "code":
                    continue
                if isinstance(value, ast.Name) and value.id in _string_constants(tree):
                    codes.add(_string_constants(tree)[value.id])
                elif isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
                    constant = by_module.get(value.value.id, {}).get(value.attr)
                    if constant is not None:
                        codes.add(constant)
    return codes


def all_error_codes() -> set[str]:
    """Every stable code: each error class's default, every ``code="…"`` a refusal passes (as a
    literal or a named constant), and the app's own problems (status defaults, internal and
    database errors)."""
    codes = {cls.default_code for cls in _subclasses(DomainError) | {DomainError}}
    for path in SRC.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        codes |= set(CODE_ARGUMENT.findall(source)) | set(PROBLEM_LITERAL.findall(source))
    codes |= _code_arguments_by_name()
    codes |= set(app_module._STATUS_CODES.values())
    return codes


def test_codes_passed_as_constants_are_found() -> None:
    # orders.duties passes its codes as constants (code=duties.REFUND): the enumeration sees them.
    assert {"related_party_payment", "related_party_receipt", "related_party_refund"} <= all_error_codes()


def test_every_error_code_has_a_chinese_sentence() -> None:
    codes = all_error_codes()
    assert len(codes) > 100  # the enumeration really found them
    missing = sorted(c for c in codes if not i18n.has_translation(i18n.CHINESE, "code", c))
    assert missing == [], f"add these codes to src/coopmarket/locale/zh/LC_MESSAGES/coopmarket.po: {missing}"


def test_every_problem_title_has_a_chinese_title() -> None:
    titles = {cls.title for cls in _subclasses(DomainError)} | {
        app_module._title(status) for status in app_module._STATUS_CODES
    }
    titles |= {app_module._title(500)}
    missing = sorted(t for t in titles if not i18n.has_translation(i18n.CHINESE, "title", t))
    assert missing == []


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("zh-Hans", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.5", "en"),
        ("fr-FR", "en"),
        ("en;q=0.1, zh-TW;q=0.7", "zh"),
        ("zh;q=0, en", "en"),
        (None, "en"),
    ],
)
def test_accept_language_negotiation(header: str | None, language: str) -> None:
    assert i18n.negotiate(header) == language


def test_labels() -> None:
    assert i18n.label("zh", "band", "shell").startswith("空壳村")
    assert i18n.label("zh", "category", "vegetables") == "蔬菜"
    assert i18n.label("zh", "column", "total_fen") == "合计（分）"
    assert i18n.label("en", "column", "total_fen") == "total_fen"


async def test_a_problem_answers_in_chinese_for_zh_cn(client: AsyncTestClient[Any]) -> None:
    url = "/api/v1/cooperatives/01aaaaaaaaaaaaaaaaaaaaaaaa"
    chinese = await client.get(url, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    english = await client.get(url, headers={"Accept-Language": "en"})
    assert chinese.status_code == english.status_code == 404
    assert chinese.json()["code"] == english.json()["code"] == "cooperative_not_found"
    assert (chinese.json()["title"], chinese.json()["detail"]) == ("未找到", "未找到该合作社。")
    assert english.json()["title"] == "Not found"
    # Field-level validation problems too.
    invalid = await client.post("/api/v1/auth/login", json={"phone": 1}, headers={"Accept-Language": "zh-CN"})
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "validation_error"
    assert invalid.json()["detail"] == "请求内容未通过校验。"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"default_language": "zh"}


async def test_the_deployments_default_language_applies_without_a_preference(
    client: AsyncTestClient[Any],
) -> None:
    response = await client.get("/api/v1/orders")
    assert response.status_code == 401
    assert response.json()["title"] == "未登录或登录已失效"
    explicit = await client.get("/api/v1/orders", headers={"Accept-Language": "en"})
    assert explicit.json()["title"] != response.json()["title"]
