// The dashboard's charts (Apache ECharts, vendored under /vendor) drawn from the JSON the
// server put in the page (the same figures as its tables), and sortable tables. Without this file
// the tables and downloads still work.
const data = JSON.parse(document.getElementById("chart-data")?.textContent || "null");
const RED = "#b71c1c";
const BLUE = "#3d6fb6";
const percent = { type: "value", max: 100, axisLabel: { formatter: "{value}%" } };

function draw(id, option) {
  const el = document.getElementById(id);
  if (!el || !window.echarts) return;
  const chart = window.echarts.init(el, null, { renderer: "svg" });
  chart.setOption({ animation: false, textStyle: { fontFamily: "sans-serif" }, grid: { left: 48, right: 16, top: 36, bottom: 60 },
    tooltip: { trigger: "axis", renderMode: "richText" }, ...option });
  window.addEventListener("resize", () => chart.resize());
}

if (data) {
  const a = data.areas;
  draw("chart-areas", {
    legend: { top: 0, data: [`“${a.label}”达标率`, `“${a.village_label}”建成率`] },
    xAxis: { type: "category", data: a.names, axisLabel: { interval: 0, rotate: a.names.length > 8 ? 40 : 0 } },
    yAxis: percent,
    series: [
      { name: `“${a.label}”达标率`, type: "bar", data: a.townships, itemStyle: { color: RED } },
      { name: `“${a.village_label}”建成率`, type: "bar", data: a.villages, itemStyle: { color: BLUE } },
    ],
  });
  const d = data.dimensions;
  draw("chart-dims", {
    title: { text: `分母：已开展测评的 ${d.denominator} 个乡镇（街道）`, left: "center", textStyle: { fontSize: 12, fontWeight: "normal" } },
    xAxis: { type: "category", data: d.names, axisLabel: { interval: 0 } },
    yAxis: percent,
    series: [{ name: "达标率", type: "bar", data: d.rates, itemStyle: { color: RED }, label: { show: true, position: "top", formatter: "{c}%" } }],
  });
  const s = data.series;
  draw("chart-series", {
    legend: { top: 0, data: ["达标率", "建成率"] },
    xAxis: { type: "category", data: s.days.map((x) => x.slice(0, 7)) },
    yAxis: percent,
    series: [
      { name: "达标率", type: "line", data: s.townships, itemStyle: { color: RED } },
      { name: "建成率", type: "line", data: s.villages, itemStyle: { color: BLUE } },
    ],
  });
  const o = data.overdue;
  if (!o.names.length) document.getElementById("chart-overdue").textContent = "没有逾期未达标的单位。";
  else draw("chart-overdue", {
    xAxis: { type: "category", data: o.names, axisLabel: { interval: 0, rotate: o.names.length > 8 ? 40 : 0 } },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ name: "逾期单位数", type: "bar", data: o.counts, itemStyle: { color: "#8a5a00" } }],
  });
}

// Sortable tables: a header's button sorts by its column (again: the other way).
for (const table of document.querySelectorAll("table.sortable")) {
  table.querySelectorAll("thead th").forEach((th, col) => {
    const button = th.querySelector("button");
    if (!button) return;
    button.addEventListener("click", () => {
      const numeric = button.dataset.type === "number";
      const down = th.getAttribute("aria-sort") !== "descending";
      table.querySelectorAll("thead th").forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", down ? "descending" : "ascending");
      const key = (row) => {
        const cell = row.children[col];
        return numeric ? Number(cell.dataset.value ?? cell.textContent) : cell.textContent.trim();
      };
      const rows = [...table.tBodies[0].rows];
      rows.sort((x, y) => (numeric ? key(x) - key(y) : key(x).localeCompare(key(y), "zh-CN")) * (down ? -1 : 1));
      table.tBodies[0].append(...rows);
    });
  });
}
