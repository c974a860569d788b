"""The public trace page (HTML, Chinese) a label's QR code opens: pure rendering of a ``TraceOut``.

Every value is escaped; the page loads nothing from elsewhere (no scripts, fonts or images), so it
works on a phone with a weak signal and prints on one sheet.
"""

from __future__ import annotations

from html import escape

from coopmarket.products.schemas import CertificationOut, TraceOut

KIND_NAMES = {
    "green_food": "绿色食品",
    "organic": "有机产品",
    "geographical_indication": "农产品地理标志",
    "compliance_certificate": "承诺达标合格证",
}
CATEGORY_NAMES = {
    "fruit": "水果",
    "vegetables": "蔬菜",
    "grain_oil": "粮油",
    "tea": "茶叶",
    "livestock_poultry": "畜禽产品",
    "eggs": "禽蛋",
    "aquatic": "水产品",
    "processed": "加工食品",
    "handicraft": "手工艺品",
}

_STYLE = (
    "body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;"
    "max-width:40rem;margin:1.5rem auto;padding:0 1rem;color:#222;line-height:1.6}"
    "h1{font-size:1.5rem;margin-bottom:.25rem}.code{font-family:ui-monospace,monospace;color:#555}"
    "table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{text-align:left;padding:.4rem;"
    "border-bottom:1px solid #ddd;vertical-align:top}th{width:7rem;color:#555;font-weight:normal}"
    ".badge{display:inline-block;background:#b71c1c;color:#fff;border-radius:.25rem;padding:0 .5rem}"
    ".expired{color:#b71c1c}"
)


def _certification_row(cert: CertificationOut) -> str:
    state = "有效" if cert.is_valid else '<span class="expired">已过期或未生效</span>'
    return (
        f"<tr><th>{escape(KIND_NAMES.get(cert.kind, cert.kind))}</th>"
        f"<td>编号 {escape(cert.number)}<br>发证 {escape(cert.issuer)}<br>"
        f"有效期 {cert.valid_from.isoformat()} 至 {cert.valid_to.isoformat()}（今日{state}）</td></tr>"
    )


def render(trace: TraceOut) -> str:
    """The whole page for one trace code."""
    product = trace.product
    village = trace.village.name if trace.village else ""
    coop = trace.cooperative
    coop_village = f"（{escape(coop.village.name)}）" if coop.village else ""
    badge = f' <span class="badge">{escape(trace.brand)}</span>' if trace.is_branded and trace.brand else ""
    certificates = "".join(_certification_row(c) for c in trace.certifications) or (
        "<tr><td colspan=2>该批次生产日期无有效证书记录</td></tr>"
    )
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(product.name)} 追溯信息</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(product.name)}{badge}</h1>"
        f'<div class="code">追溯码 {escape(trace.trace_code)}</div>'
        f"{'<p class=expired>该产品已下架（合作社暂停经营）</p>' if trace.withdrawn else ''}"
        "<table>"
        f"<tr><th>品类</th><td>{escape(CATEGORY_NAMES.get(product.category, product.category))}</td></tr>"
        f"<tr><th>产地</th><td>{escape(village)}</td></tr>"
        f"<tr><th>合作社</th><td>{escape(coop.name)}{coop_village}</td></tr>"
        f"<tr><th>批次日期</th><td>{trace.batch.produced_on.isoformat()}</td></tr>"
        f"<tr><th>批次数量</th><td>{trace.batch.quantity} {escape(trace.batch.unit)}</td></tr>"
        "</table><h2>证书（批次生产日有效）</h2><table>"
        f"{certificates}</table></body></html>"
    )
