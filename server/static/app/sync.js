// The sync protocol of docs/sync.md, in the browser: the same rules as the Python reference
// client (sync/client.py). Edits go to the outbox at once (IndexedDB), so closing the page
// loses nothing; sync() = upload blobs (resumable) -> push the outbox -> pull until caught up.
import * as db from "./db.js";

// -- hybrid logical clock (sync/hlc.py) ---------------------------------------------------------
const pad = (n, w) => String(n).padStart(w, "0");
const fmt = (wall, counter) => `${pad(wall, 13)}-${pad(counter, 4)}`;
const parse = (stamp) => stamp.split("-").map(Number);

export class Clock {
  constructor(last = "0000000000000-0000") { [this.wall, this.counter] = parse(last); }
  get last() { return fmt(this.wall, this.counter); }
  advance(otherWall = 0, otherCounter = 0) {
    const top = Math.max(Date.now(), this.wall, otherWall);
    let counter;
    if (top === this.wall && top === otherWall) counter = Math.max(this.counter, otherCounter) + 1;
    else if (top === this.wall) counter = this.counter + 1;
    else if (top === otherWall) counter = otherCounter + 1;
    else counter = 0;
    this.wall = counter > 9999 ? top + 1 : top;
    this.counter = counter > 9999 ? 0 : counter;
    return this.last;
  }
  now() { return this.advance(); }
  receive(stamp) { const [w, c] = parse(stamp); return this.advance(w, c); }
}

export class SyncError extends Error {}
export class NeedsLogin extends SyncError {}
export class ServerError extends Error {
  constructor(status, problem) {
    super(`${status} ${problem.title || ""}: ${problem.detail || ""}`);
    this.status = status;
    this.problem = problem;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const FIELD_OPS = new Set(["set_answer", "delete_answer", "put_record", "delete_record"]);

export function fieldOf(m) {
  if (m.op === "set_answer" || m.op === "delete_answer") return `answer:${m.item_id}`;
  if (m.op === "put_record") return `record:${m.record.id}`;
  if (m.op === "delete_record") return `record:${m.record_id}`;
  return null;
}

async function sha256(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function gzip(text) {
  if (typeof CompressionStream === "undefined") return null;
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export class Phone {
  constructor({ attempts = 6, baseDelay = 500, onProgress = () => {} } = {}) {
    this.attempts = attempts;
    this.baseDelay = baseDelay;
    this.onProgress = onProgress;
    this.clock = null;
    this.deviceId = null;
    this.config = null;
  }

  async init() {
    this.deviceId = await db.meta("device_id");
    if (!this.deviceId) {
      this.deviceId = `web-${crypto.randomUUID().slice(0, 12)}`;
      await db.setMeta({ device_id: this.deviceId });
    }
    this.clock = new Clock((await db.meta("hlc")) || undefined);
    return this;
  }

  // -- HTTP with retries, backoff and token refresh ---------------------------------------------
  async request(method, path, { json, body, headers = {}, auth = true, refresh = true } = {}) {
    const hdrs = { ...headers };
    if (json !== undefined) {
      body = JSON.stringify(json);
      hdrs["Content-Type"] = "application/json";
    }
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      if (auth) hdrs.Authorization = `Bearer ${(await db.meta("access_token")) || ""}`;
      let response;
      try {
        response = await fetch(path, { method, headers: hdrs, body });
      } catch (err) {
        await this.wait(attempt, err);
        continue;
      }
      if (response.status === 401 && auth && refresh && !refreshed) {
        await this.refresh();
        refreshed = true;
        continue;
      }
      if (response.status === 429 || response.status >= 500) {
        await this.wait(attempt, new SyncError(`服务器繁忙（${response.status}）`));
        continue;
      }
      if (!response.ok) {
        let problem = {};
        try { problem = await response.json(); } catch { /* not JSON */ }
        throw new ServerError(response.status, problem);
      }
      return response;
    }
  }

  async wait(attempt, err) {
    if (attempt + 1 >= this.attempts) throw new SyncError(`同步未完成，稍后再试：${err.message}`);
    const cap = Math.min(30000, this.baseDelay * 2 ** attempt);
    await sleep(Math.random() * cap);
  }

  async login(username, password) {
    const previous = await db.meta("username");
    const pending = (await db.all("outbox", "state", "pending")).length;
    if (previous && previous !== username && pending) {
      throw new Error(`本机还有 ${previous} 的 ${pending} 项修改未同步，请先由 ${previous} 登录并同步`);
    }
    await this.endLogins(); // a logout made without signal reaches the server first
    const r = await this.request("POST", "/auth/login", { json: { username, password }, auth: false });
    const pair = await r.json();
    await db.setMeta({ access_token: pair.access_token, refresh_token: pair.refresh_token, username,
                       refresh_retry_key: null, role: roleOf(pair.access_token) });
  }

  async role() {
    return (await db.meta("role")) || roleOf((await db.meta("access_token")) || "");
  }

  /** Forget the tokens on the phone and end the login on the server (POST /auth/logout revokes
   * the refresh token's whole family, and with it its access tokens). Without signal the refresh
   * token is kept aside, out of use, and the server is told at the next chance (`endLogins`): a
   * copied refresh token must not stay valid for its 45 days. */
  async logout() {
    const token = await db.meta("refresh_token");
    const ended = (await db.meta("logged_out")) || [];
    await db.setMeta({ access_token: null, refresh_token: null, refresh_retry_key: null,
                       logged_out: token ? [...ended, token] : ended });
    await this.endLogins();
  }

  /** Tell the server about every login ended on this phone that it has not heard of yet. */
  async endLogins() {
    const ended = (await db.meta("logged_out")) || [];
    const left = [];
    for (const token of ended) {
      try {
        const r = await fetch("/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" },
                                                body: JSON.stringify({ refresh_token: token }) });
        if (r.status >= 500 || r.status === 429) left.push(token); // try again later; 204 or 4xx: done
      } catch {
        left.push(token); // no signal
      }
    }
    await db.setMeta({ logged_out: left.length ? left : null });
  }

  async refresh() {
    const token = await db.meta("refresh_token");
    if (!token) throw new NeedsLogin("请重新登录");
    let key = await db.meta("refresh_retry_key");
    if (!key) { // kept before sending: a retry after a lost answer uses the same key
      key = crypto.randomUUID() + crypto.randomUUID();
      await db.setMeta({ refresh_retry_key: key });
    }
    try {
      const r = await this.request("POST", "/auth/refresh", { json: { refresh_token: token, retry_key: key },
                                                              auth: false, refresh: false });
      const pair = await r.json();
      await db.setMeta({ access_token: pair.access_token, refresh_token: pair.refresh_token, refresh_retry_key: null });
    } catch (err) {
      if (err instanceof ServerError) throw new NeedsLogin("登录已过期，请重新登录（未同步的修改都还在）");
      throw err;
    }
  }

  async getConfig() {
    if (!this.config) this.config = await (await this.request("GET", "/sync/config")).json();
    return this.config;
  }

  // -- local edits --------------------------------------------------------------------------------
  async pendingFor(assessmentId) {
    const pending = await db.all("outbox", "state", "pending");
    return pending.filter((o) => !assessmentId || o.assessment_id === assessmentId);
  }

  async base(assessmentId, field) {
    const pending = (await this.pendingFor(assessmentId)).filter((o) => o.field === field);
    if (pending.length) return `${pending[pending.length - 1].mutation.hlc}@${this.deviceId}`;
    const [kind, key] = [field.slice(0, field.indexOf(":")), field.slice(field.indexOf(":") + 1)];
    const row = await db.get(kind === "answer" ? "s_answers" : "s_records", [assessmentId, key]);
    return row ? row.version || null : null;
  }

  async enqueue(op, assessmentId, fields) {
    const mutation = { op, id: crypto.randomUUID(), hlc: this.clock.now(), assessment_id: assessmentId, ...fields };
    const field = fieldOf(mutation);
    if (FIELD_OPS.has(op)) mutation.base = await this.base(assessmentId, field);
    await db.write(["outbox", "meta"], (s) => {
      s.outbox.add({ id: mutation.id, assessment_id: assessmentId, field, mutation, state: "pending" });
      s.meta.put(this.clock.last, "hlc");
    });
    return mutation.id;
  }

  setAnswer(aid, itemId, answer) { return this.enqueue("set_answer", aid, { item_id: itemId, answer }); }
  deleteAnswer(aid, itemId) { return this.enqueue("delete_answer", aid, { item_id: itemId }); }
  putRecord(aid, record) { return this.enqueue("put_record", aid, { record }); }
  deleteRecord(aid, recordId) { return this.enqueue("delete_record", aid, { record_id: recordId }); }
  submit(aid) { return this.enqueue("submit", aid, {}); }

  async attach(blob, kind, label = "") {
    const limit = (this.config && this.config.max_blob_bytes) || 20 * 1024 * 1024;
    if (blob.size > limit) throw new Error(`文件超过 ${Math.floor(limit / 1048576)} MB，请压缩或分拆后再附`);
    if (!["image/jpeg", "image/png", "image/webp", "application/pdf"].includes(blob.type)) {
      throw new Error("仅支持 JPEG、PNG、WebP 图片或 PDF 文件");
    }
    const sha = await sha256(blob);
    const existing = await db.get("blobs", sha);
    if (!existing) {
      await db.write(["blobs"], (s) => s.blobs.put({ sha256: sha, data: blob, media_type: blob.type, size: blob.size,
                                                     uploaded: false, received: 0 }));
    }
    return { sha256: sha, kind, label };
  }

  async retryRejected(ids) {
    const rejected = await this.rejected();
    for (const o of rejected) {
      if (ids && !ids.includes(o.id)) continue;
      const { op, id: _id, hlc: _hlc, assessment_id: aid, base: _base, ...rest } = o.mutation;
      const newId = await this.enqueue(op, aid, rest);
      await db.write(["outbox"], async (s) => {
        const row = await db.result(s.outbox.index("id").get(o.id));
        row.retried_as = newId;
        s.outbox.put(row);
      });
    }
  }

  async rejected() {
    const doneRows = await db.all("outbox", "state", "done");
    return doneRows.filter((o) => o.status === "rejected" && !o.retried_as);
  }

  // -- sync ---------------------------------------------------------------------------------------
  async sync() {
    const report = { uploaded: 0, pushed: 0, applied: 0, conflicts: 0, rejected: 0, pulled: 0 };
    await this.uploadBlobs(report);
    await this.push(report);
    await this.pull(report);
    await db.setMeta({ last_sync: new Date().toISOString() });
    return report;
  }

  async uploadBlobs(report) {
    const waiting = (await db.all("blobs")).filter((b) => !b.uploaded && !b.refused);
    if (!waiting.length) return;
    const config = await this.getConfig();
    const missing = new Map();
    for (let i = 0; i < waiting.length; i += 1000) { // the server answers for 1,000 at a time
      const query = { sha256: waiting.slice(i, i + 1000).map((b) => b.sha256) };
      const r = await this.request("POST", "/sync/blobs/missing", { json: query });
      for (const m of (await r.json()).missing) missing.set(m.sha256, m.received);
    }
    for (const blob of waiting) {
      if (missing.has(blob.sha256)) {
        try {
          await this.upload(blob, missing.get(blob.sha256), config.chunk_bytes);
        } catch (err) {
          if (!(err instanceof ServerError) || ![413, 415, 422].includes(err.status)) throw err;
          // The server will never take this file: set it aside with the reason, sync the rest.
          await db.write(["blobs"], (s) => s.blobs.put({ ...blob, refused: err.problem.detail || err.message }));
          report.refused = (report.refused || 0) + 1;
          continue;
        }
        report.uploaded += 1;
      }
      await db.write(["blobs"], (s) => s.blobs.put({ ...blob, uploaded: true, received: blob.size }));
    }
  }

  async upload(blob, offset, chunk) {
    const total = blob.data.size;
    let restarted = false;
    while (offset < total) {
      this.onProgress({ sha256: blob.sha256, received: offset, total });
      const piece = blob.data.slice(offset, offset + chunk);
      let state;
      try {
        const r = await this.request("PUT", `/sync/uploads/${blob.sha256}?offset=${offset}&total=${total}`,
                                     { body: piece, headers: { "Content-Type": "application/octet-stream" } });
        state = await r.json();
      } catch (err) {
        if (err instanceof ServerError && err.problem.type === "urn:dabiao:problem:upload-offset") {
          offset = err.problem.received; // an earlier chunk did arrive: continue after it
          continue;
        }
        if (err instanceof ServerError && err.status === 422 && err.problem.field === "sha256" && !restarted) {
          offset = 0; restarted = true; // the partial upload was corrupt: once more from zero
          continue;
        }
        throw err;
      }
      if (state.complete) break;
      offset = state.received;
      await db.write(["blobs"], (s) => s.blobs.put({ ...blob, received: offset }));
    }
    this.onProgress({ sha256: blob.sha256, received: total, total });
  }

  async push(report) {
    const config = await this.getConfig();
    for (;;) {
      const pending = (await db.all("outbox", "state", "pending")).slice(0, config.max_batch);
      if (!pending.length) return;
      const text = JSON.stringify({ device: this.deviceId, mutations: pending.map((o) => o.mutation) });
      const zipped = await gzip(text);
      const headers = { "Content-Type": "application/json", Accept: "application/json" };
      if (zipped) headers["Content-Encoding"] = "gzip";
      const r = await this.request("POST", "/sync/push", { body: zipped || text, headers });
      const response = await r.json();
      this.clock.receive(response.server_hlc);
      const answeredAt = new Date().toISOString();
      await db.write(["outbox", "meta"], async (s) => {
        for (const res of response.results) {
          const row = await db.result(s.outbox.index("id").get(res.id));
          if (!row || row.state !== "pending") continue;
          const status = res.status === "duplicate" ? res.original : res.status;
          s.outbox.put({ ...row, state: "done", status, outcome: res.outcome || null, problem: res.problem || null,
                         reason: res.reason || null, answered_at: answeredAt });
          report.pushed += 1;
          if (status === "applied") report.applied += 1;
          if (status === "conflict") report.conflicts += 1;
          if (status === "rejected") report.rejected += 1;
        }
        s.meta.put(this.clock.last, "hlc");
      });
    }
  }

  async pull(report) {
    for (;;) {
      const cursor = await db.meta("cursor");
      const query = new URLSearchParams(cursor ? { cursor } : {});
      const page = await (await this.request("GET", `/sync/pull?${query}`)).json();
      this.clock.receive(page.server_hlc);
      for (const c of page.changes) if (c.version) this.clock.receive(c.version.split("@")[0]);
      await db.write([...db.MIRROR, "meta"], (s) => {
        if (page.reset) for (const name of db.MIRROR) s[name].clear();
        for (const c of page.changes) applyChange(s, c);
        s.meta.put(page.cursor, "cursor");
        s.meta.put(this.clock.last, "hlc");
      });
      report.pulled += page.changes.length;
      if (!page.more) {
        await this.fetchStandards(page.standards);
        return;
      }
    }
  }

  async fetchStandards(refs) {
    for (const s of refs) {
      const have = await db.get("standards", s.ref);
      if (have && have.content_hash === s.content_hash) continue;
      const definition = await (await this.request("GET", `/standards/${encodeURIComponent(s.ref)}`)).json();
      await db.write(["standards"], (st) => st.standards.put({ ref: s.ref, content_hash: s.content_hash, definition }));
    }
  }
}

function applyChange(s, c) {
  switch (c.type) {
    case "assessment": s.s_assessments.put(c); break;
    case "answer": s.s_answers.put(c); break;
    case "record": s.s_records.put(c); break;
    case "comment": s.s_comments.put(c); break;
    case "conflict": s.s_conflicts.put(c); break;
    default: break; // spot checks and future kinds: not shown on the phone yet
  }
}

// -- what the official sees: the mirror with pending edits laid over it ---------------------------
export async function view(assessmentId) {
  const answers = {};
  for (const row of await db.all("s_answers", "assessment", assessmentId)) {
    if (row.answer) answers[row.item_id] = row.answer;
  }
  const records = {};
  for (const row of await db.all("s_records", "assessment", assessmentId)) {
    if (row.record) records[row.record_id] = row.record;
  }
  let submitted = false;
  for (const o of await db.all("outbox", "state", "pending")) {
    if (o.assessment_id !== assessmentId) continue;
    const m = o.mutation;
    if (m.op === "set_answer") answers[m.item_id] = m.answer;
    else if (m.op === "delete_answer") delete answers[m.item_id];
    else if (m.op === "put_record") records[m.record.id] = m.record;
    else if (m.op === "delete_record") delete records[m.record_id];
    else if (m.op === "submit") submitted = true;
  }
  return { answers, records, submitted };
}

// The role named in an access token (only to choose what the app shows: the server decides).
function roleOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0)))).role || "";
  } catch {
    return "";
  }
}
