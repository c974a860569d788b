"""The dashboard page: a static shell in Chinese; its script signs the staff member in and draws
the figures of ``GET /api/v1/dashboard``. No inline script or style, so the page's Content Security
Policy allows only this server's own files."""

from __future__ import annotations

from html import escape

from coopmarket.dashboard import assets

ECHARTS = "echarts-5.6.0.min.js"

# The page runs only its own files; it talks only to this server; forms are never submitted by
# the browser (the script posts the sign-in as JSON), so a password can never end up in a URL.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def render(brand: str) -> str:
    name = escape(brand)
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{name} · 村集体经济看板</title>
<link rel="stylesheet" href="{assets.url("dashboard.css")}">
<script src="{assets.url(ECHARTS)}" defer></script>
<script src="{assets.url("dashboard.js")}" defer></script>
</head>
<body data-state="loading">
<header>
  <h1>{name} · 村集体经济看板</h1>
  <div id="who" hidden><span id="who-name"></span> <button type="button" id="sign-out">退出登录</button></div>
</header>
<main>
  <section id="sign-in" hidden>
    <h2>工作人员登录</h2>
    <form id="sign-in-form" method="post" autocomplete="on">
      <label>手机号 <input id="phone" name="phone" type="tel" autocomplete="username" required maxlength="20"></label>
      <label>密码 <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="128"></label>
      <button type="submit">登录</button>
      <p id="sign-in-error" class="error" role="alert"></p>
    </form>
  </section>
  <section id="board" hidden>
    <p id="summary" class="summary"></p>
    <div class="grid">
      <figure class="panel"><figcaption>各街道集体收入（近12个月）</figcaption><div class="chart" id="chart-streets"></div></figure>
      <figure class="panel"><figcaption>各村集体收入排名（红色为“空壳村”）</figcaption><div class="chart tall" id="chart-villages"></div></figure>
      <figure class="panel"><figcaption>逐月集体收入</figcaption><div class="chart" id="chart-months"></div></figure>
      <figure class="panel"><figcaption>收入构成</figcaption><div class="chart" id="chart-categories"></div></figure>
      <figure class="panel wide"><figcaption>合同清理专项行动（欠款、不规范合同、闲置资产）</figcaption>
        <div class="chart" id="chart-campaign"></div>
        <table id="campaign-table"><thead><tr><th>街道</th><th>期初欠款（元）</th><th>新增欠款（元）</th><th>清收（元）</th><th>核销（元）</th><th>期末欠款（元）</th><th>发现不规范合同</th><th>已整改</th><th>闲置资产盘活</th></tr></thead><tbody></tbody></table>
      </figure>
      <figure class="panel"><figcaption id="licences-caption">即将到期的品牌授权</figcaption>
        <table id="licences-table"><thead><tr><th>合作社</th><th>品牌</th><th>编号</th><th>到期日</th><th>剩余天数</th></tr></thead><tbody></tbody></table>
      </figure>
      <figure class="panel"><figcaption>待审核的合作社</figcaption>
        <table id="pending-table"><thead><tr><th>合作社</th><th>所在村</th></tr></thead><tbody></tbody></table>
      </figure>
    </div>
  </section>
  <p id="message" class="error" role="alert"></p>
</main>
<footer>图表：Apache ECharts 5.6.0，依 <a href="{assets.url("echarts-LICENSE.txt")}">Apache License 2.0</a> 提供（<a href="{assets.url("echarts-NOTICE.txt")}">NOTICE</a>、<a href="{assets.url("echarts-LICENSE-d3.txt")}">d3 许可</a>）。</footer>
</body>
</html>
"""
