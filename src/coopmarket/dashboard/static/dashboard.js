/* The staff dashboard: sign in with phone and password (POST /api/v1/auth/login), keep the token in
 * this tab's sessionStorage (no cookie, so nothing another site can ride on), read
 * GET /api/v1/dashboard with it and draw the figures with ECharts. Data is put into the page as
 * text only (textContent), never as HTML. */
(function () {
  "use strict";

  var TOKEN_KEY = "coopmarket.dashboard.token";
  var NAME_KEY = "coopmarket.dashboard.name";
  var CATEGORIES = [
    ["operating_income", "经营收入"],
    ["contracting_income", "发包及上交收入"],
    ["investment_income", "投资收益"],
    ["subsidy_income", "补助收入"],
    ["other_income", "其他收入"],
  ];
  var SHELL = "shell";
  var RED = "#c62828";
  var BLUE = "#1565c0";
  var charts = [];

  function $(id) { return document.getElementById(id); }

  function yuan(fen) {
    var sign = fen < 0 ? "-" : "";
    var abs = Math.abs(fen);
    var whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var cents = String(abs % 100).padStart(2, "0");
    return sign + whole + "." + cents;
  }

  function yuanNumber(fen) { return fen / 100; }

  function setState(state) { document.body.dataset.state = state; }

  function showMessage(text) { $("message").textContent = text || ""; }

  function showSignIn(message) {
    disposeCharts();
    $("board").hidden = true;
    $("who").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    setState("signed-out");
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(NAME_KEY);
    showMessage("");
    showSignIn("");
  }

  async function problemText(response, fallback) {
    try {
      var body = await response.json();
      return body.detail || body.title || fallback;
    } catch (e) {
      return fallback;
    }
  }

  async function signIn(event) {
    event.preventDefault();
    var button = event.target.querySelector("button");
    button.disabled = true;
    $("sign-in-error").textContent = "";
    try {
      var response = await fetch("/api/v1/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept-Language": "zh" },
        body: JSON.stringify({ phone: $("phone").value.trim(), password: $("password").value }),
        credentials: "omit",
      });
      if (response.status === 401) {
        $("sign-in-error").textContent = "手机号或密码不正确。";
        return;
      }
      if (response.status === 429) {
        $("sign-in-error").textContent = "尝试次数过多，请稍后再试。";
        return;
      }
      if (!response.ok) {
        $("sign-in-error").textContent = await problemText(response, "登录失败，请稍后再试。");
        return;
      }
      var body = await response.json();
      $("password").value = "";
      sessionStorage.setItem(TOKEN_KEY, body.access_token);
      sessionStorage.setItem(NAME_KEY, body.user.display_name || "");
      await load();
    } catch (e) {
      $("sign-in-error").textContent = "无法连接服务器，请检查网络。";
    } finally {
      button.disabled = false;
    }
  }

  async function load() {
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      showSignIn("");
      return;
    }
    setState("loading");
    var response;
    try {
      response = await fetch("/api/v1/dashboard", {
        headers: { Authorization: "Bearer " + token, "Accept-Language": "zh" },
        credentials: "omit",
      });
    } catch (e) {
      showMessage("无法连接服务器，请检查网络。");
      setState("error");
      return;
    }
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn("登录已过期，请重新登录。");
      return;
    }
    if (response.status === 403 || response.status === 404) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn("看板仅供本辖区工作人员使用。");
      return;
    }
    if (!response.ok) {
      showMessage(await problemText(response, "数据加载失败，请稍后再试。"));
      setState("error");
      return;
    }
    render(await response.json());
  }

  function disposeCharts() {
    charts.forEach(function (chart) { chart.dispose(); });
    charts = [];
  }

  function chart(id, option) {
    var chartInstance = echarts.init($(id), null, { renderer: "canvas" });
    chartInstance.setOption(option);
    charts.push(chartInstance);
    return chartInstance;
  }

  // Tooltips drawn on the canvas: no HTML, so no inline style the page's policy would refuse.
  var TOOLTIP = { trigger: "item", renderMode: "richText" };

  function incomeBars(items, horizontal) {
    var names = items.map(function (item) { return item.region_name; });
    var data = items.map(function (item) {
      return {
        value: yuanNumber(item.total_fen),
        itemStyle: { color: item.band === SHELL ? RED : BLUE },
      };
    });
    var valueAxis = { type: "value", name: "元" };
    var categoryAxis = { type: "category", data: names, inverse: horizontal, axisLabel: { interval: 0 } };
    var option = {
      tooltip: TOOLTIP,
      grid: { left: horizontal ? 140 : 60, right: 30, top: 30, bottom: horizontal ? 30 : 60 },
      xAxis: horizontal ? valueAxis : categoryAxis,
      yAxis: horizontal ? categoryAxis : valueAxis,
      series: [{ type: "bar", name: "集体收入", data: data }],
    };
    if (horizontal && items.length > 20) {
      option.dataZoom = [
        { type: "slider", yAxisIndex: 0, startValue: 0, endValue: 19, right: 0 },
        { type: "inside", yAxisIndex: 0, startValue: 0, endValue: 19 },
      ];
      option.grid.right = 50;
    }
    return option;
  }

  function cell(row, text, numeric) {
    var td = document.createElement("td");
    td.textContent = text;
    if (numeric) td.className = "num";
    row.appendChild(td);
  }

  function fillTable(id, rows, columns, emptyText) {
    var body = $(id).querySelector("tbody");
    body.replaceChildren();
    if (rows.length === 0) {
      var tr = document.createElement("tr");
      var td = document.createElement("td");
      td.colSpan = columns;
      td.className = "empty";
      td.textContent = emptyText;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    rows.forEach(function (values) {
      var tr = document.createElement("tr");
      values.forEach(function (value) { cell(tr, value[0], value[1]); });
      body.appendChild(tr);
    });
  }

  function render(data) {
    disposeCharts();
    $("sign-in").hidden = true;
    $("board").hidden = false;
    $("who").hidden = false;
    $("who-name").textContent = sessionStorage.getItem(NAME_KEY) || "";
    showMessage("");

    var shells = data.villages.filter(function (v) { return v.band === SHELL; }).length;
    $("summary").textContent =
      data.region_name + "：" + data.from + " 至 " + data.to + " 村集体收入合计 " + yuan(data.total_fen) +
      " 元；" + data.villages.length + " 个村中 " + shells + " 个为“空壳村”。";

    var streetsPanel = $("chart-streets").parentElement;
    streetsPanel.hidden = data.streets.length === 0;
    if (data.streets.length > 0) chart("chart-streets", incomeBars(data.streets, false));
    chart("chart-villages", incomeBars(data.villages, true));

    chart("chart-months", {
      tooltip: TOOLTIP,
      legend: { top: 0 },
      grid: { left: 60, right: 20, top: 40, bottom: 30 },
      xAxis: { type: "category", data: data.months.map(function (m) { return m.month; }) },
      yAxis: { type: "value", name: "元" },
      series: CATEGORIES.map(function (category) {
        return {
          type: "bar",
          stack: "income",
          name: category[1],
          data: data.months.map(function (m) { return yuanNumber(m.by_category[category[0]]); }),
        };
      }),
    });

    chart("chart-categories", {
      tooltip: TOOLTIP,
      legend: { bottom: 0 },
      series: [{
        type: "pie",
        radius: ["35%", "65%"],
        name: "收入构成",
        data: CATEGORIES.map(function (category) {
          return { name: category[1], value: yuanNumber(data.by_category[category[0]]) };
        }),
      }],
    });

    var streets = data.campaign.streets;
    chart("chart-campaign", {
      tooltip: TOOLTIP,
      legend: { top: 0 },
      grid: { left: 60, right: 20, top: 40, bottom: 30 },
      xAxis: { type: "category", data: streets.map(function (s) { return s.street.region_name; }) },
      yAxis: { type: "value", name: "元" },
      series: [
        ["arrears_opening_fen", "期初欠款"],
        ["arrears_arisen_fen", "新增欠款"],
        ["arrears_recovered_fen", "清收"],
        ["arrears_written_off_fen", "核销"],
        ["arrears_closing_fen", "期末欠款"],
      ].map(function (field) {
        return {
          type: "bar",
          name: field[1],
          data: streets.map(function (s) { return yuanNumber(s.street[field[0]]); }),
        };
      }),
    });
    fillTable("campaign-table", streets.map(function (s) {
      var f = s.street;
      return [
        [f.region_name, false],
        [yuan(f.arrears_opening_fen), true],
        [yuan(f.arrears_arisen_fen), true],
        [yuan(f.arrears_recovered_fen), true],
        [yuan(f.arrears_written_off_fen), true],
        [yuan(f.arrears_closing_fen), true],
        [String(f.irregular_found), true],
        [String(f.irregular_resolved), true],
        [String(f.idle_assets_put_back), true],
      ];
    }), 9, "本期没有合同清理数据。");

    $("licences-caption").textContent = "即将到期的品牌授权（" + data.licences_expiring_within_days + " 天内）";
    fillTable("licences-table", data.licences_expiring.map(function (l) {
      return [
        [l.cooperative_name, false],
        [l.brand, false],
        [l.number || "—", false],
        [l.valid_to, false],
        [String(l.days_left), true],
      ];
    }), 5, "没有即将到期的授权。");
    fillTable("pending-table", data.cooperatives_pending.map(function (c) {
      return [[c.name, false], [c.village_name || c.village_code, false]];
    }), 2, "没有待审核的合作社。");
    setState("ready");
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });

  document.addEventListener("DOMContentLoaded", function () {
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    load();
  });
})();
