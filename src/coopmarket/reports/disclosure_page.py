"""The printable public page of a disclosure (HTML, Chinese): pure rendering of a ``DisclosureOut``.

Every value is escaped; amounts are shown in yuan from integer fen (no float arithmetic); the page
loads nothing from elsewhere and has print CSS (A4, no navigation, tables kept whole).
"""

from __future__ import annotations

from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from coopmarket.reports.schemas import DisclosureOut

CATEGORY_NAMES = {
    "operating_income": "经营收入",
    "contracting_income": "发包及上交收入",
    "investment_income": "投资收益",
    "subsidy_income": "补助收入",
    "other_income": "其他收入",
}
ASSET_KIND_NAMES = {
    "farmland": "耕地",
    "woodland": "林地",
    "pond": "坑塘水面",
    "building": "房屋建筑",
    "site": "场地",
    "equipment": "设备",
    "other": "其他",
}
COUNTERPARTY_KIND_NAMES = {"person": "个人", "household": "农户", "company": "企业", "cooperative": "合作社"}

_STYLE = (
    "body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;"
    "max-width:52rem;margin:1.5rem auto;padding:0 1rem;color:#222;line-height:1.6}"
    "h1{font-size:1.5rem;margin-bottom:.25rem}h2{font-size:1.15rem;margin-top:1.5rem}"
    ".meta{color:#555;font-size:.9rem}.hash{font-family:ui-monospace,monospace;word-break:break-all}"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.35rem;"
    "border-bottom:1px solid #ddd;vertical-align:top}td.num,th.num{text-align:right;white-space:nowrap}"
    "tr.total td{font-weight:bold;border-top:2px solid #999}.note{color:#b71c1c}"
    ".message{border-left:3px solid #ddd;padding-left:.75rem;margin:.75rem 0;white-space:pre-wrap}"
    "@media print{@page{size:A4;margin:15mm}body{max-width:none;margin:0;font-size:11pt}"
    "a{color:inherit;text-decoration:none}table,tr,.message{page-break-inside:avoid}"
    ".no-print{display:none}}"
)


def yuan(amount_fen: int) -> str:
    """``123456`` → ``1,234.56``; negative amounts keep their sign."""
    sign = "-" if amount_fen < 0 else ""
    whole, fen = divmod(abs(amount_fen), 100)
    return f"{sign}{whole:,}.{fen:02d}"


def period_label(period: str) -> str:
    """``2026-10`` → ``2026年10月``; ``2026-Q3`` → ``2026年第三季度``."""
    year, _, part = period.partition("-")
    if part.startswith("Q"):
        return f"{year}年第{'一二三四'[int(part[1:]) - 1]}季度"
    return f"{year}年{int(part)}月"


def _money_cell(amount_fen: Any) -> str:
    return f'<td class="num">{escape(yuan(int(amount_fen)))}</td>'


def _income(figures: dict[str, Any]) -> str:
    income = figures.get("income_fen", {})
    rows = "".join(
        f"<tr><td>{escape(name)}</td>{_money_cell(income.get(key, 0))}</tr>" for key, name in CATEGORY_NAMES.items()
    )
    total = f'<tr class="total"><td>合计</td>{_money_cell(figures.get("income_total_fen", 0))}</tr>'
    return f'<table><tr><th>收入类别</th><th class="num">金额（元）</th></tr>{rows}{total}</table>'


def _returns(figures: dict[str, Any]) -> str:
    items = figures.get("cooperative_returns", [])
    if not items:
        return "<p>本期无合作社返还。</p>"
    rows = "".join(
        f"<tr><td>{escape(str(item.get('cooperative_name') or item.get('cooperative_id', '')))}</td>"
        f"{_money_cell(item.get('sales_share_fen', 0))}{_money_cell(item.get('surplus_return_fen', 0))}"
        f"{_money_cell(item.get('total_fen', 0))}</tr>"
        for item in items
    )
    total = (
        f'<tr class="total"><td>合计</td><td></td><td></td>'
        f"{_money_cell(figures.get('cooperative_returns_total_fen', 0))}</tr>"
    )
    return (
        '<table><tr><th>合作社</th><th class="num">销售分成（元）</th><th class="num">盈余返还（元）</th>'
        f'<th class="num">合计（元）</th></tr>{rows}{total}</table>'
    )


def _contracts(figures: dict[str, Any]) -> str:
    contracts = figures.get("contracts", {})
    lines = contracts.get("lines", [])
    if not lines:
        return "<p>本期无在执行的合同。</p>"
    rows = "".join(
        f"<tr><td>{escape(str(line.get('asset_name', '')))}"
        f"（{escape(ASSET_KIND_NAMES.get(str(line.get('asset_kind')), str(line.get('asset_kind', ''))))}）</td>"
        f"<td>{escape(str(line.get('counterparty_name', '')))}"
        f"（{escape(COUNTERPARTY_KIND_NAMES.get(str(line.get('counterparty_kind')), ''))}）</td>"
        f"<td>{escape(str(line.get('starts_on', '')))} 至 {escape(str(line.get('ends_on', '')))}</td>"
        f"{_money_cell(line.get('annual_rent_fen', 0))}{_money_cell(line.get('paid_to_date_fen', 0))}"
        f"{_money_cell(line.get('arrears_fen', 0))}</tr>"
        for line in lines
    )
    total = (
        '<tr class="total"><td>合计</td><td></td><td></td><td></td>'
        f"{_money_cell(contracts.get('paid_to_date_fen', 0))}{_money_cell(contracts.get('arrears_fen', 0))}</tr>"
    )
    return (
        '<table><tr><th>资产</th><th>承包方</th><th>期限</th><th class="num">年租金（元）</th>'
        f'<th class="num">已收（元）</th><th class="num">欠款（元）</th></tr>{rows}{total}</table>'
    )


def _messages(disclosure: DisclosureOut) -> str:
    if not disclosure.messages:
        return "<p>暂无留言。</p>"
    return "".join(
        f'<div class="message"><strong>{escape(m.author_name)}</strong> '
        f'<span class="meta">{escape(m.created_at.date().isoformat())}</span><br>{escape(m.text)}</div>'
        for m in disclosure.messages
    )


def render(disclosure: DisclosureOut, timezone: str) -> str:
    """The whole page for one disclosure; the publication time in ``timezone`` (local)."""
    published = disclosure.published_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
    figures = disclosure.figures
    village = str(figures.get("village_name") or disclosure.village_code)
    period = period_label(disclosure.period)
    title = f"{village}{period}财务公开"
    notes = ""
    if disclosure.corrects:
        notes += f'<p class="note">本公开更正了此前的公开（编号 {escape(disclosure.corrects)}）。</p>'
    if disclosure.corrected_by:
        notes += (
            f'<p class="note">本公开已被更正，请以更正后的公开为准（编号 {escape(disclosure.corrected_by)}）。</p>'
        )
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<div class="meta">村代码 {escape(disclosure.village_code)} · 公开期间 '
        f"{disclosure.period_from.isoformat()} 至 {disclosure.period_to.isoformat()} · 发布时间 "
        f"{escape(published)}</div>"
        f"{notes}"
        "<h2>一、村集体收入</h2>"
        f"{_income(figures)}"
        "<h2>二、合作社返还</h2>"
        f"{_returns(figures)}"
        "<h2>三、合同及欠款情况</h2>"
        f"{_contracts(figures)}"
        "<h2>四、群众留言</h2>"
        f"{_messages(disclosure)}"
        f'<p class="meta">内容哈希（SHA-256）<span class="hash">{escape(disclosure.content_hash)}</span>。'
        "本公开发布后不再更改；如需更正，另行发布更正公开。</p>"
        "</body></html>"
    )
