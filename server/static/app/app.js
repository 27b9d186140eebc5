// 达标填报: the field app. Renders any standard from its definition (no per-standard code),
// keeps every edit in IndexedDB at once, scores offline with the same rules as the server
// (rules.js, kept identical by tests/test_rules_golden.py), and syncs with the protocol of
// docs/sync.md (sync.js) when there is signal.
import * as db from "./db.js";
import { NeedsLogin, Phone, ServerError, SyncError, view } from "./sync.js";
import { score } from "./rules.js";

const STATUS = {
  draft: "填报中", submitted: "待审核", returned: "已退回整改", resubmitted: "整改后重新提交",
  accepted: "已验收", rejected: "未通过验收",
};
const EDITABLE = new Set(["draft", "returned"]);
const ITEM_STATUS = { pass: "达标", fail: "未达标", missing: "未填", na: "不适用" };
const OP_NAMES = { set_answer: "填写", delete_answer: "清除", put_record: "记录", delete_record: "删除记录",
                   submit: "提交审核", comment: "留言", create_assessment: "新建" };
// What one edit may carry: sync/limits.py's Limits, which the server checks on the way in
// (tests/test_security_input.py keeps these the same). Inputs carry them as min/max/maxlength,
// and a value outside them is not saved, so the official learns it at the site.
const LIMITS = { max_text_chars: 4000, max_label_chars: 200, max_count: 1000000, max_number: 1000000000,
                 first_date: "2000-01-01", last_date: "2099-12-31" };
const RANGE = {
  count: `step="1" min="0" max="${LIMITS.max_count}"`, number: `step="any" min="0" max="${LIMITS.max_number}"`,
  percent: 'step="any" min="0" max="100"', date: `min="${LIMITS.first_date}" max="${LIMITS.last_date}"`,
  text: `maxlength="${LIMITS.max_text_chars}"`,
};
const root = document.getElementById("app");
const ui = { syncing: false, message: "", progress: null };
const phone = await new Phone({ onProgress: (p) => { ui.progress = p; drawSyncBar(); } }).init();

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {});
}

const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const today = () => new Date().toISOString().slice(0, 10);
const asOf = (period) => { const end = `${period}-12-31`; return today() < end ? today() : end; };

// -- the sync bar: honest about what is still on the phone -----------------------------------------
async function syncState() {
  const pending = (await db.all("outbox", "state", "pending")).length;
  const rejected = (await phone.rejected()).length;
  const all = await db.all("blobs");
  const blobs = all.filter((b) => !b.uploaded && !b.refused).length;
  const refused = all.filter((b) => b.refused).length;
  return { pending, rejected, blobs, refused, last: await db.meta("last_sync") };
}

async function drawSyncBar() {
  const bar = document.getElementById("syncbar");
  if (!bar) return;
  const s = await syncState();
  const last = s.last ? new Date(s.last).toLocaleString("zh-CN", { hour12: false }) : "从未";
  const progress = ui.progress && ui.progress.received < ui.progress.total
    ? `<span class="progress" id="upload-progress">上传中 ${Math.round(100 * ui.progress.received / ui.progress.total)}%</span>` : "";
  bar.innerHTML = `
    <span class="${navigator.onLine ? "online" : "offline"}" id="net">${navigator.onLine ? "● 在线" : "● 离线"}</span>
    <span id="pending" data-count="${s.pending}">待同步 ${s.pending} 项</span>
    ${s.blobs ? `<span id="pending-files" data-count="${s.blobs}">待上传文件 ${s.blobs} 个</span>` : ""}
    ${s.rejected ? `<a href="#/rejected" id="rejected-link" data-count="${s.rejected}">被退回的修改 ${s.rejected} 项</a>` : ""}
    ${s.refused ? `<span class="offline" id="refused-files" data-count="${s.refused}">服务器拒收的文件 ${s.refused} 个（请重新拍摄或更换）</span>` : ""}
    <span class="muted" id="last-sync">上次同步：${esc(last)}</span>
    ${progress}
    <span class="grow"></span>
    <button id="sync" class="secondary" ${ui.syncing ? "disabled" : ""}>${ui.syncing ? "同步中…" : "立即同步"}</button>
    ${ui.message ? `<div class="muted full-width" id="sync-message">${esc(ui.message)}</div>` : ""}`;
}

async function runSync() {
  if (ui.syncing) return;
  ui.syncing = true;
  ui.message = "";
  const button = document.getElementById("sync");
  if (button) { button.disabled = true; button.textContent = "同步中…"; } // at once, before any await
  drawSyncBar();
  try {
    const r = await phone.sync();
    ui.message = `已同步：上传文件 ${r.uploaded} 个，提交修改 ${r.pushed} 项`
      + (r.conflicts ? `（${r.conflicts} 项与他人修改冲突，已按时间先后处理）` : "")
      + (r.rejected ? `，${r.rejected} 项被服务器拒绝` : "") + `，收到更新 ${r.pulled} 项`;
  } catch (err) {
    if (err instanceof NeedsLogin) {
      await phone.logout();
      ui.message = err.message;
    } else if (err instanceof SyncError || err instanceof TypeError) {
      ui.message = `同步未完成，修改都保存在手机上：${err.message}`;
    } else if (err instanceof ServerError) {
      ui.message = `同步出错：${err.message}`;
    } else {
      ui.message = `同步出错：${err}`;
    }
  } finally {
    ui.syncing = false;
    ui.progress = null;
  }
  await render();
}

window.addEventListener("online", () => { drawSyncBar(); phone.endLogins(); runSync(); });
window.addEventListener("offline", drawSyncBar);
window.addEventListener("hashchange", render);
const WRITERS = new Set(["field", "village"]);  // the roles that fill in checklists

// One delegated click handler (the page's CSP allows no inline handlers).
root.addEventListener("click", (e) => {
  if (e.target.id === "sync") runSync();
  if (e.target.id === "back") location.hash = "#/";
  const gap = e.target.closest("a.gap-link");
  if (gap) {
    e.preventDefault();
    document.getElementById(`item-${gap.dataset.item}`)?.scrollIntoView();
  }
});

// -- scoring offline --------------------------------------------------------------------------------
async function standardOf(assessment) {
  const row = await db.get("standards", assessment.standard_ref);
  return row ? row.definition : null;
}

async function sheetFor(assessment, standard, answers, records) {
  const known = new Set(standard.attributes.map((a) => a.key));
  const attributes = Object.fromEntries(Object.entries(assessment.attributes || {}).filter(([k]) => known.has(k)));
  const children = [];
  if (standard.level === "township") {
    const mine = (await db.all("s_assessments"))
      .filter((a) => a.parent_org_id === assessment.org_id && a.period === assessment.period)
      .sort((a, b) => (a.org_id < b.org_id ? -1 : 1));
    for (const child of mine) children.push({ unit: child.org_name, answers: (await view(child.id)).answers });
  }
  const recs = Object.values(records).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { unit: assessment.org_name, attributes, answers, records: recs, children };
}

async function evaluate(assessment) {
  const standard = await standardOf(assessment);
  if (!standard) return { standard: null };
  const v = await view(assessment.id);
  let result = null;
  let error = "";
  try {
    result = score(standard, await sheetFor(assessment, standard, v.answers, v.records), asOf(assessment.period));
  } catch (err) {
    error = String(err && err.message ? err.message : err);
  }
  return { standard, v, result, error };
}

// -- screens -------------------------------------------------------------------------------------
async function render() {
  if (!(await db.meta("refresh_token"))) return drawLogin();
  const [, page, id] = location.hash.split("/");
  if (page === "a" && id) return drawAssessment(decodeURIComponent(id));
  if (page === "rejected") return drawRejected();
  return drawHome();
}

function shell(title, body, back = false) {
  root.innerHTML = `
    <div class="top">
      <header class="bar">${back ? '<button id="back">‹ 返回</button>' : ""}
        <h1>${esc(title)}</h1></header>
      <div class="syncbar" id="syncbar"></div>
    </div>
    <main>${body}</main>`;
  drawSyncBar();
}

function drawLogin() {
  root.innerHTML = `
    <header class="bar"><h1>达标 · 基层应急能力建设填报</h1></header>
    <main><form class="card login" id="login-form">
      <h3>登录</h3>
      <label class="field">用户名<input type="text" id="username" autocomplete="username" required></label>
      <label class="field">密码<input type="password" id="password" autocomplete="current-password" required></label>
      <button id="login" type="submit">登录</button>
      <p class="error" id="login-error">${esc(ui.message)}</p>
      <p class="muted">首次登录需要网络；之后没有信号也能填报，有信号时再同步。</p>
    </form></main>`;
  document.getElementById("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await phone.login(document.getElementById("username").value.trim(), document.getElementById("password").value);
      ui.message = "";
      location.hash = "#/";
      await runSync();
    } catch (err) {
      document.getElementById("login-error").textContent =
        err instanceof ServerError ? (err.problem.detail || err.message)
          : err instanceof TypeError ? `无法连接服务器：${err.message}` : err.message;
    }
  });
}

async function drawHome() {
  const assessments = (await db.all("s_assessments")).sort((a, b) =>
    (a.parent_org_id === null) === (b.parent_org_id === null) ? a.org_id.localeCompare(b.org_id) : a.parent_org_id === null ? -1 : 1);
  const rows = [];
  for (const a of assessments) {
    const { result } = await evaluate(a);
    const missing = result ? result.items.filter((i) => i.mandatory && i.status === "missing").length : "?";
    const local = result ? (result.passed ? '<span class="badge pass">达标</span>' : '<span class="badge fail">未达标</span>') : "";
    rows.push(`<div class="card list" data-assessment="${esc(a.id)}"><a href="#/a/${encodeURIComponent(a.id)}">
      <h3>${esc(a.org_name)} ${local}</h3>
      <div class="status-line">${a.period} 年度 · ${esc(STATUS[a.status] || a.status)} · 得分 ${result ? result.score : "—"}
        · 必备项未填 ${missing}</div>
      <div class="muted">${esc(a.standard_ref)}</div></a></div>`);
  }
  const who = await db.meta("username");
  const readOnly = !WRITERS.has(await phone.role());
  shell("达标填报", `
    <p class="muted">${esc(who || "")} · 共 ${assessments.length} 份评估 <button class="secondary small" id="logout">退出</button></p>
    ${readOnly ? `<div class="card" id="read-only">您的账号用于审核或查看，在手机填报端只能查看，不能修改。
      审核、验收、通报请在电脑上使用<a href="/desk">区县审核台</a>；市州、省级查看请<a href="/login">在电脑上登录</a>。</div>` : ""}
    ${rows.join("") || '<p class="muted">还没有数据：请在有信号时点“立即同步”。</p>'}`);
  document.getElementById("logout").addEventListener("click", async () => {
    const pending = (await syncState()).pending;
    if (pending && !confirm(`还有 ${pending} 项修改未同步，退出后仍保存在手机上。确定退出？`)) return;
    await phone.logout(); // ends the login on the server too (now, or when there is signal again)
    render();
  });
}

async function drawRejected() {
  const rows = await phone.rejected();
  const assessments = Object.fromEntries((await db.all("s_assessments")).map((a) => [a.id, a]));
  shell("被退回的修改", `
    <p class="muted">服务器没有采纳以下修改，原因如下。它们保存在手机上；评估退回整改后可以重新发送。</p>
    ${rows.map((o) => `<div class="card" data-rejected="${esc(o.id)}">
      <h3>${esc(OP_NAMES[o.mutation.op] || o.mutation.op)} ${esc(o.mutation.item_id || (o.mutation.record && o.mutation.record.title) || "")}</h3>
      <div class="muted">${esc((assessments[o.assessment_id] || {}).org_name || o.assessment_id)}</div>
      <div class="reason fail">${esc(o.reason || "")}</div>
      <button class="secondary retry" data-id="${esc(o.id)}">重新发送</button></div>`).join("") || '<p>没有被退回的修改。</p>'}`, true);
  root.querySelectorAll("button.retry").forEach((b) => b.addEventListener("click", async () => {
    await phone.retryRejected([b.dataset.id]);
    render();
  }));
}

function statusBadge(r) {
  return r ? `<span class="badge ${r.status}">${ITEM_STATUS[r.status] || r.status}</span>` : "";
}

function answerControl(item, answer, disabled) {
  const value = answer ? answer.value : null;
  const dis = disabled ? "disabled" : "";
  switch (item.answer) {
    case "yes_no":
      return `<div class="choices">
        <label><input type="radio" name="v-${item.id}" value="true" ${value === true ? "checked" : ""} ${dis}>是</label>
        <label><input type="radio" name="v-${item.id}" value="false" ${value === false ? "checked" : ""} ${dis}>否</label></div>`;
    case "count": case "number": case "percent":
      return `<input type="number" class="value" ${RANGE[item.answer]} value="${value ?? ""}" ${dis}
        placeholder="${esc(item.unit || (item.answer === "percent" ? "%" : ""))}">`;
    case "date":
      return `<input type="date" class="value" ${RANGE.date} value="${esc(value ?? "")}" ${dis}>`;
    case "enum":
      return `<select class="value" ${dis}><option value="">请选择</option>
        ${item.options.map((o) => `<option ${o === value ? "selected" : ""}>${esc(o)}</option>`).join("")}</select>`;
    case "multi_select":
      return `<div class="choices multi">${item.options.map((o) => `<label><input type="checkbox" value="${esc(o)}"
        ${Array.isArray(value) && value.includes(o) ? "checked" : ""} ${dis}>${esc(o)}</label>`).join("")}</div>`;
    case "text":
      return `<textarea class="value" ${RANGE.text} ${dis}>${esc(value ?? "")}</textarea>`;
    case "gps":
      return `<button class="secondary gps" ${dis}>记录当前位置</button>
        <span class="muted">${value ? `${value.lat.toFixed(5)}, ${value.lon.toFixed(5)}` : ""}</span>`;
    case "records":
      return '<div class="muted">按下方“台账记录”中的日期记录判定。</div>';
    case "computed":
      return '<div class="muted">由所辖村（社区）的填报自动计算。</div>';
    default:
      return "";
  }
}

function fieldControls(item, answer, disabled) {
  const fields = (answer && answer.fields) || {};
  return item.fields.map((f) => {
    const v = fields[f.key];
    if (f.type === "yes_no") {
      return `<label class="field"><input type="checkbox" data-field="${f.key}" data-type="yes_no" ${v === true ? "checked" : ""}
        ${disabled ? "disabled" : ""}> ${esc(f.label)}</label>`;
    }
    const type = f.type === "text" ? "text" : "number";
    return `<label class="field">${esc(f.label)}${f.unit ? `（${esc(f.unit)}）` : ""}
      <input type="${type}" data-field="${f.key}" data-type="${f.type}" ${RANGE[f.type] || ""} value="${esc(v ?? "")}"
        ${disabled ? "disabled" : ""}></label>`;
  }).join("");
}

async function evidenceList(list) {
  const out = [];
  for (const a of list) {
    const local = await db.get("blobs", a.sha256);
    if (local && local.media_type.startsWith("image/")) {
      out.push(`<img class="thumb" alt="${esc(a.label)}" src="${URL.createObjectURL(local.data)}" data-sha="${a.sha256}">`);
    } else {
      out.push(`<span class="doc" data-sha="${a.sha256}">${a.kind === "photo" ? "照片" : "文件"} ${esc(a.label || a.sha256.slice(0, 8))}</span>`);
    }
  }
  return out.join("");
}

async function drawAssessment(id) {
  const assessment = await db.get("s_assessments", id);
  if (!assessment) { location.hash = "#/"; return; }
  const { standard, v, result, error } = await evaluate(assessment);
  if (!standard) {
    shell(assessment.org_name, '<p class="error">标准尚未下载，请在有信号时同步。</p>', true);
    return;
  }
  const editable = EDITABLE.has(assessment.status) && !v.submitted && WRITERS.has(await phone.role());
  const byItem = Object.fromEntries((result ? result.items : []).map((r) => [r.id, r]));
  const comments = await db.all("s_comments", "assessment", id);
  const conflicts = await db.all("s_conflicts", "assessment", id);
  const attrs = assessment.attributes || {};
  const applies = (item) => item.when.every((c) => (attrs[c.attr] ?? standard.attributes.find((a) => a.key === c.attr)?.default) === c.equals);

  const gaps = result ? result.items.filter((r) => r.status === "missing" || r.status === "fail") : [];
  const mandatoryGaps = gaps.filter((r) => r.mandatory);
  let body = `
    <div class="card" id="assessment-head">
      <h3>${esc(assessment.org_name)} · ${assessment.period} 年度</h3>
      <div class="status-line">状态：<b id="status">${esc(STATUS[assessment.status] || assessment.status)}</b>
        ${v.submitted ? "（提交审核待同步）" : ""}</div>
      <div class="status-line">按本机填报测算：${result ? `${result.passed ? '<span class="badge pass">达标</span>' : '<span class="badge fail">未达标</span>'} 得分 <b id="score">${result.score}</b>` : `<span class="error">${esc(error)}</span>`}</div>
      <div class="muted">${esc(standard.title)}（${esc(assessment.standard_ref)}）</div>
      ${editable ? "" : '<div class="muted">当前状态不能修改（已提交或已验收）。</div>'}
    </div>`;
  if (result) {
    body += `<div class="summary" id="gaps"><b>尚未完成：必备项 ${mandatoryGaps.length} 项，其他 ${gaps.length - mandatoryGaps.length} 项</b>
      <ul>${gaps.slice(0, 30).map((r) => `<li><a href="#item-${r.id}" class="gap-link" data-item="${r.id}">${r.id}</a>
        ${r.mandatory ? "〔必备〕" : ""} ${esc(r.reason)}</li>`).join("")}</ul></div>`;
  }
  const general = comments.filter((c) => !c.item_id);
  if (general.length) {
    body += `<div class="card" id="review-comments"><h3>审核意见</h3>${general.map((c) => `<div class="comment">${esc(c.body)}
      <div class="muted">${esc(c.author)} · ${esc(c.created_at.slice(0, 10))}</div></div>`).join("")}</div>`;
  }
  for (const dim of standard.dimensions) {
    body += `<h2 class="dim">${esc(dim.name)}</h2>`;
    for (const item of standard.items.filter((i) => i.dimension === dim.code && applies(i))) {
      const answer = v.answers[item.id];
      const r = byItem[item.id];
      const itemComments = comments.filter((c) => c.item_id === item.id);
      const itemConflicts = conflicts.filter((c) => c.field === `answer:${item.id}`);
      const needsEvidence = item.evidence.photos || item.evidence.documents || ["photo", "document"].includes(item.answer);
      body += `<div class="card item ${itemComments.length ? "returned" : ""}" id="item-${item.id}" data-item="${item.id}">
        <div class="muted">${item.id} ${item.mandatory ? "〔必备〕" : "〔评分〕"} ${statusBadge(r)}</div>
        <h3>${esc(item.question)}</h3>
        ${r && r.status !== "pass" ? `<div class="reason ${r.status}">${esc(r.reason)}</div>` : ""}
        ${answer && answer.na ? `<div class="muted">不适用：${esc(answer.reason)}</div>` : answerControl(item, answer, !editable)}
        ${answer && answer.na ? "" : fieldControls(item, answer, !editable)}
        ${needsEvidence || (answer && answer.evidence.length) ? `<div class="evidence">${await evidenceList((answer && answer.evidence) || [])}
          ${editable ? `<label class="filebtn">拍照<input type="file" accept="image/*" capture="environment" class="photo" multiple></label>
          <label class="filebtn">上传文件<input type="file" accept="application/pdf,image/*" class="document"></label>` : ""}
          <span class="muted">${item.evidence.photos ? `需照片 ${item.evidence.photos} 张 ` : ""}${item.evidence.documents ? `需文件 ${item.evidence.documents} 份` : ""}</span></div>` : ""}
        ${item.na_allowed && editable ? `<label class="field"><input type="checkbox" class="na" ${answer && answer.na ? "checked" : ""}> 不适用（需说明理由）</label>` : ""}
        ${itemComments.map((c) => `<div class="comment">审核意见：${esc(c.body)} <span class="muted">— ${esc(c.author)}</span></div>`).join("")}
        ${itemConflicts.map((c) => `<div class="comment">与他人同时修改：保留 ${esc(JSON.stringify(c.winner_value && c.winner_value.value))}，
          另一值 ${esc(JSON.stringify(c.loser_value && c.loser_value.value))} 已存档</div>`).join("")}
      </div>`;
    }
  }
  body += await recordsSection(standard, v.records, editable);
  if (editable) body += '<p><button id="submit">提交审核</button> <span class="muted">提交会在同步时由服务器核对是否齐全。</span></p>';
  shell(assessment.org_name, body, true);
  wireAssessment(id, standard, v, editable);
}

async function recordsSection(standard, records, editable) {
  let html = '<h2 class="dim" id="records">台账记录（会议、演练、培训）</h2>';
  for (const kind of standard.record_kinds) {
    const mine = Object.values(records).filter((r) => r.kind === kind.key).sort((a, b) => (a.date < b.date ? 1 : -1));
    html += `<div class="card" data-kind="${kind.key}"><h3>${esc(kind.name)} <span class="muted">${mine.length} 条</span></h3>
      <ul class="records">${mine.map((r) => `<li data-record="${esc(r.id)}">${esc(r.date)} ${esc(r.title)}
        ${Object.entries(r.fields).map(([k, v]) => `· ${esc((kind.fields.find((f) => f.key === k) || { label: k }).label)}：${esc(v)}`).join(" ")}
        ${r.attachments.length ? `· 附件 ${r.attachments.length}` : ""}
        ${editable ? `<button class="secondary small del-record" data-id="${esc(r.id)}">删除</button>` : ""}</li>`).join("")}</ul>
      ${editable ? `<details><summary>添加记录</summary><form class="add-record" data-kind="${kind.key}">
        <label class="field">日期<input type="date" name="date" ${RANGE.date} required></label>
        <label class="field">标题<input type="text" name="title" maxlength="${LIMITS.max_label_chars}" required></label>
        ${kind.fields.map((f) => `<label class="field">${esc(f.label)}<input type="${f.type === "text" ? "text" : "number"}"
          name="f-${f.key}" ${f.type === "text" ? `maxlength="${LIMITS.max_label_chars}"` : RANGE[f.type] || ""}></label>`).join("")}
        <label class="filebtn">照片<input type="file" accept="image/*" capture="environment" name="photo" multiple></label>
        <label class="filebtn">文件<input type="file" accept="application/pdf,image/*" name="document"></label>
        <button type="submit">保存记录</button></form></details>` : ""}</div>`;
  }
  return html;
}

async function downscale(file, max = 1600, quality = 0.82) {
  if (!file.type.startsWith("image/")) return file;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, max / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
    return blob || file;
  } catch {
    return file; // not decodable here: keep the original, the server checks it
  }
}

async function attachFiles(files, kind) {
  const out = [];
  for (const file of files) {
    const blob = kind === "photo" ? await downscale(file) : file;
    try {
      out.push(await phone.attach(blob, kind, (file.name || "").slice(0, LIMITS.max_label_chars)));
    } catch (err) {
      alert(`${file.name}：${err.message}`); // too large or not an image/PDF: nothing is kept
    }
  }
  return out;
}

/** Whether an input's value is within its min/max/maxlength (LIMITS); if not, say so and keep it unsaved. */
function valid(el) {
  if (el.checkValidity()) return true;
  alert(el.validationMessage || "超出允许范围");
  return false;
}

function wireAssessment(id, standard, v, editable) {
  if (!editable) return;
  const items = Object.fromEntries(standard.items.map((i) => [i.id, i]));
  const save = async (itemId, change) => {
    const current = v.answers[itemId] || { value: null, na: false, reason: "", fields: {}, evidence: [] };
    const answer = { value: current.value ?? null, na: current.na || false, reason: current.reason || "",
                     fields: { ...(current.fields || {}) }, evidence: [...(current.evidence || [])] };
    await change(answer);
    await phone.setAnswer(id, itemId, answer);
    await drawAssessment(id);
    document.getElementById(`item-${itemId}`)?.scrollIntoView({ block: "center" });
  };
  root.querySelectorAll(".item").forEach((card) => {
    const itemId = card.dataset.item;
    const item = items[itemId];
    card.querySelectorAll('input[type=radio]').forEach((el) => el.addEventListener("change", () =>
      save(itemId, (a) => { a.value = el.value === "true"; })));
    card.querySelectorAll(".choices.multi input").forEach((el) => el.addEventListener("change", () =>
      save(itemId, (a) => { a.value = [...card.querySelectorAll(".choices.multi input:checked")].map((x) => x.value); })));
    const value = card.querySelector(".value");
    if (value) value.addEventListener("change", () => valid(value) && save(itemId, (a) => {
      const raw = value.value;
      if (raw === "") a.value = null;
      else if (item.answer === "count") a.value = parseInt(raw, 10);
      else if (item.answer === "number" || item.answer === "percent") a.value = parseFloat(raw);
      else a.value = raw;
    }));
    card.querySelectorAll("[data-field]").forEach((el) => el.addEventListener("change", () => valid(el) && save(itemId, (a) => {
      const t = el.dataset.type;
      if (t === "yes_no") a.fields[el.dataset.field] = el.checked;
      else if (el.value === "") delete a.fields[el.dataset.field];
      else a.fields[el.dataset.field] = t === "text" ? el.value : (t === "count" ? parseInt(el.value, 10) : parseFloat(el.value));
    })));
    card.querySelector(".gps")?.addEventListener("click", () => navigator.geolocation.getCurrentPosition(
      (pos) => save(itemId, (a) => { a.value = { lat: pos.coords.latitude, lon: pos.coords.longitude }; }),
      () => alert("无法获取位置")));
    card.querySelector("input.photo")?.addEventListener("change", (e) => save(itemId, async (a) => {
      a.evidence.push(...await attachFiles([...e.target.files], "photo"));
    }));
    card.querySelector("input.document")?.addEventListener("change", (e) => save(itemId, async (a) => {
      a.evidence.push(...await attachFiles([...e.target.files], "document"));
    }));
    card.querySelector("input.na")?.addEventListener("change", (e) => {
      if (e.target.checked) {
        const reason = prompt("请说明不适用的理由");
        if (!reason) { e.target.checked = false; return; }
        if (reason.length > LIMITS.max_text_chars) { alert(`理由不超过 ${LIMITS.max_text_chars} 字`); e.target.checked = false; return; }
        save(itemId, (a) => { a.na = true; a.reason = reason; a.value = null; });
      } else {
        save(itemId, (a) => { a.na = false; a.reason = ""; });
      }
    });
  });
  root.querySelectorAll("form.add-record").forEach((form) => form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const kind = standard.record_kinds.find((k) => k.key === form.dataset.kind);
    const data = new FormData(form);
    const fields = {};
    for (const f of kind.fields) {
      const raw = data.get(`f-${f.key}`);
      if (raw) fields[f.key] = String(raw);
    }
    const attachments = [
      ...await attachFiles(form.querySelector('[name=photo]').files, "photo"),
      ...await attachFiles(form.querySelector('[name=document]').files, "document"),
    ];
    await phone.putRecord(id, { id: crypto.randomUUID(), kind: kind.key, date: data.get("date"), title: data.get("title"),
                                fields, attachments });
    await drawAssessment(id);
    document.querySelector(`[data-kind="${kind.key}"]`)?.scrollIntoView();
  }));
  root.querySelectorAll(".del-record").forEach((b) => b.addEventListener("click", async () => {
    if (!confirm("删除这条记录？")) return;
    await phone.deleteRecord(id, b.dataset.id);
    await drawAssessment(id);
  }));
  document.getElementById("submit")?.addEventListener("click", async () => {
    await phone.submit(id);
    await drawAssessment(id);
  });
}

await render();
if (navigator.onLine) phone.endLogins(); // logouts made without signal
if (navigator.onLine && (await db.meta("refresh_token"))) runSync();
